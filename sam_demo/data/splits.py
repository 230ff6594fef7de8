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
) -> dict[str, list[str]]:
    """Split example names into "train", "validation" and "test", stratified by label (None: unknown class).

    The same names and seed give the same split, whatever their order. Each class is split on its own; a
    class gets at least one training example, then one for each other split with a non-zero fraction while
    training keeps one.
    """
    fractions = _checked_fractions(fractions)
    groups: dict[str | None, list[str]] = defaultdict(list)
    seen = set()
    for name, label in sorted(names_with_labels, key=lambda pair: pair[0]):
        if name in seen:
            raise ValueError(f"Example {name!r} appears twice in the names to split.")
        seen.add(name)
        groups[label].append(name)
    if not seen:
        raise DatasetError("No examples to split.")
    rng = np.random.default_rng(seed)
    split: dict[str, list[str]] = {key: [] for key in SPLITS}
    for label in sorted(groups, key=lambda label: (label is not None, label or "")):
        names = groups[label]
        order = rng.permutation(len(names))
        start = 0
        for key, count in zip(SPLITS, _split_counts(len(names), fractions)):
            split[key] += [names[i] for i in order[start : start + count]]
            start += count
    return {key: sorted(names) for key, names in split.items()}


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


def write_split(split: Mapping[str, Sequence[str]], path: Path, *, seed: int, fractions: Sequence[float]) -> None:
    """Save `split` as JSON, with the seed, fractions and counts that produced it."""
    data = {
        "seed": seed,
        "fractions": dict(zip(SPLITS, _checked_fractions(fractions))),
        "counts": {key: len(split[key]) for key in SPLITS},
        **{key: list(split[key]) for key in SPLITS},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a run killed mid-write must not leave half a split for --resume to read.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


def read_split(path: Path, names: Iterable[str]) -> dict[str, list[str]]:
    """The split saved at `path`, checked against the dataset's example `names`."""
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
