"""Splitting example names into train, validation and test, stratified by class; saving and reading a split."""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ._wording import plural, some
from .errors import DatasetError

SPLITS = ("train", "validation", "test")


def split_examples(
    names_with_labels: Iterable[tuple[str, str | None]],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    groups: Iterable[Iterable[str]] = (),
) -> dict[str, list[str]]:
    """Split example names into "train", "validation" and "test", stratified by label (None: unknown class).

    `groups` are names that must land in one split (near-duplicate frames of one lesion); every other name is a
    group of its own. Whole groups are split: a group counts in the class most of its members have (on a tie, the
    class that sorts first, None before any), and each class is split on its own. A class gets at least one
    training group, then one group for each other split with a non-zero fraction while training keeps one; the
    rest fill the splits in the seeded order up to their share of the class's images. The same names, groups and
    seed give the same split, whatever their order; without groups, the split of earlier versions.
    """
    fractions = _checked_fractions(fractions)
    labels: dict[str, str | None] = {}
    for name, label in names_with_labels:
        if name in labels:
            raise ValueError(f"Example {name!r} appears twice in the names to split.")
        labels[name] = label
    if not labels:
        raise DatasetError("No examples to split.")
    by_class: dict[str | None, list[list[str]]] = defaultdict(list)
    for members in _whole_groups(labels, groups):
        by_class[_majority_label(labels[name] for name in members)].append(members)
    rng = np.random.default_rng(seed)
    split: dict[str, list[str]] = {key: [] for key in SPLITS}
    for label in sorted(by_class, key=_class_order):
        units = by_class[label]
        order = [units[i] for i in rng.permutation(len(units))]
        targets = _split_counts(sum(len(members) for members in units), fractions)
        for key, assigned in zip(SPLITS, _fill(order, targets, fractions)):
            split[key] += [name for members in assigned for name in members]
    return {key: sorted(names) for key, names in split.items()}


def _class_order(label: str | None) -> tuple[bool, str]:
    return label is not None, label or ""


def _whole_groups(labels: Mapping[str, str | None], groups: Iterable[Iterable[str]]) -> list[list[str]]:
    """Every name in exactly one group, each group sorted, the groups sorted: an order independent of the input's."""
    grouped: set[str] = set()
    units = []
    for members in groups:
        members = sorted(set(members))
        for name in members:
            if name not in labels:
                raise ValueError(f"Group member {name!r} is not among the names to split.")
            if name in grouped:
                raise ValueError(f"Example {name!r} is in two groups.")
            grouped.add(name)
        units.append(members)
    units += [[name] for name in labels if name not in grouped]
    return sorted(members for members in units if members)


def _majority_label(labels: Iterable[str | None]) -> str | None:
    counts = Counter(labels)
    return min(counts, key=lambda label: (-counts[label], _class_order(label)))


def _fill(order: list[list[str]], targets: list[int], fractions: tuple[float, float, float]) -> list[list[list[str]]]:
    """`order`'s groups handed to the splits in turn, each split taking groups until it holds its target of images
    (a group larger than what is left of a target overshoots it rather than being broken up)."""
    assigned: list[list[list[str]]] = [[], [], []]
    sizes = [0, 0, 0]
    for members in order:
        # There is always a split below its target while groups remain: the targets add up to the images.
        index = next(i for i in range(3) if sizes[i] < targets[i])
        assigned[index].append(members)
        sizes[index] += len(members)
    for index in (1, 2):  # evaluate on every class that has groups to spare, as _split_counts does for examples
        if fractions[index] > 0 and not assigned[index] and len(assigned[0]) > 1:
            smallest = min(range(len(assigned[0])), key=lambda i: (len(assigned[0][i]), -i))
            assigned[index].append(assigned[0].pop(smallest))
    return assigned


def _checked_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(value) for value in fractions)
    if (
        len(values) != 3
        or not all(math.isfinite(value) and value >= 0 for value in values)
        or not math.isclose(sum(values), 1.0, abs_tol=1e-6)
        or values[0] == 0
    ):
        raise ValueError(
            f"fractions must be three non-negative numbers (train, validation, test) that sum to 1, with train "
            f"above 0; got {tuple(fractions)}."
        )
    return values


def _split_counts(count: int, fractions: tuple[float, float, float]) -> list[int]:
    exact = [count * fraction for fraction in fractions]
    counts = [math.floor(value) for value in exact]
    # Hand what rounding down left over to the largest remainders (train first on ties), so counts sum up.
    for index in sorted(range(3), key=lambda i: counts[i] - exact[i])[: count - sum(counts)]:
        counts[index] += 1
    if counts[0] == 0:  # a class nobody trains on cannot be learnt
        donor = 1 if counts[1] >= counts[2] else 2
        counts[donor] -= 1
        counts[0] += 1
    for index in (1, 2):  # evaluate on every class that has examples to spare
        if fractions[index] > 0 and counts[index] == 0 and counts[0] > 1:
            counts[0] -= 1
            counts[index] += 1
    return counts


def write_split(
    split: Mapping[str, Sequence[str]],
    path: Path,
    *,
    seed: int,
    fractions: Sequence[float],
    groups: Sequence[Sequence[str]] = (),
) -> None:
    """Save `split` as JSON, with the seed, fractions, counts and near-duplicate `groups` that produced it."""
    data = {
        "seed": seed,
        "fractions": dict(zip(SPLITS, _checked_fractions(fractions))),
        "counts": {key: len(split[key]) for key in SPLITS},
        **{key: list(split[key]) for key in SPLITS},
        "groups": [list(members) for members in groups],
    }
    _write_atomically(Path(path), json.dumps(data, indent=2) + "\n")


def copy_split(source: Path, destination: Path) -> None:
    """Save the split file `source` as `destination`, as it is (seed, fractions and groups included)."""
    try:
        text = Path(source).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"Cannot read the split {source}: {error}") from error
    _write_atomically(Path(destination), text)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a run killed mid-write must not leave half a split for --resume to read.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def read_split(path: Path, names: Iterable[str]) -> dict[str, list[str]]:
    """The split saved at `path`, checked against the dataset's example `names`.

    Its "groups" (near-duplicates kept together) are not read back: they only explain the split, and files written
    before near-duplicates were grouped have none.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"Cannot read the split {path}: {error}") from error
    split = {}
    for key in SPLITS:
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise DatasetError(f"{path} is not a split file: {key!r} is missing or not a list of names.")
        split[key] = value
    listed = Counter(name for key in SPLITS for name in split[key])
    repeated = sorted(name for name, times in listed.items() if times > 1)
    if repeated:
        raise DatasetError(f"{path} lists examples in more than one place: {some(repeated)}.")
    missing = sorted(set(listed) - set(names))
    if missing:
        raise DatasetError(
            f"{path} names {plural(len(missing), 'example')} not in the dataset: {some(missing)}. "
            "Was it written for another dataset?"
        )
    return split
