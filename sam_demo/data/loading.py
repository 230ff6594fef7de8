"""Reading a dataset's pairs: each image with its masks ORed into one, masks of another size skipped and reported.

`load_examples` keeps the examples usable for prompted training and says, in a `LoadReport`, what it left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..core.image_io import ImageError, load_image
from ..core.masks import read_mask
from ._wording import plural, some
from .errors import DatasetError
from .layouts import Dataset, Example

T = TypeVar("T")


# eq=False: the fields hold numpy arrays, which have no single truth value to compare or hash by.
@dataclass(frozen=True, eq=False)
class LoadedExample:
    """An example's pixels: HxWx3 uint8 image, HxW bool mask (its mask files ORed)."""

    example: Example
    image: np.ndarray
    mask: np.ndarray
    skipped_masks: tuple[str, ...]  # one message per mask file left out (its size, or all foreground)
    unclean_masks: tuple[str, ...] = ()  # mask files with more than two grey levels (read at half their maximum)


@dataclass(frozen=True, eq=False)
class LoadReport:
    """The examples usable for prompted training (non-empty mask) and what was left out, by name."""

    examples: tuple[LoadedExample, ...]
    left_out: Mapping[str, str]  # example name -> reason
    skipped_masks: tuple[str, ...]
    unclean_masks: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for a log: how many pairs, which were left out and why, which masks were skipped."""
        parts = [f"{len(self.examples) + len(self.left_out)} pairs, {len(self.examples)} usable"]
        if self.left_out:
            by_reason: dict[str, list[str]] = defaultdict(list)
            for name, reason in self.left_out.items():
                by_reason[reason].append(name)
            reasons = "; ".join(f"{reason} ({some(names)})" for reason, names in by_reason.items())
            parts.append(f"{len(self.left_out)} left out: {reasons}")
        if self.skipped_masks:
            parts.append(f"{plural(len(self.skipped_masks), 'mask')} skipped: {'; '.join(self.skipped_masks)}")
        return "; ".join(parts)

    @property
    def warnings(self) -> list[str]:
        """What the user should check in their data, beyond what was left out."""
        if not self.unclean_masks:
            return []
        return [
            f"{plural(len(self.unclean_masks), 'mask')} with more than two grey levels (noise, anti-aliasing or "
            f"JPEG), read as foreground above half their maximum: {some(list(self.unclean_masks))}"
        ]


def load_example(example: Example) -> LoadedExample:
    """Read an example's image and masks; masks of another size than the image, or that cover all of it, are
    skipped and reported.

    A skipped mask is never resized onto the image: a mask of the wrong size is a broken annotation, and one that
    is foreground everywhere (an inverted or blank-white export) outlines no lesion.
    """
    image = _read(load_image, example.image_path)
    height, width = image.shape[:2]
    mask = np.zeros((height, width), bool)
    skipped, unclean = [], []
    for path in example.mask_paths:
        reading = _read(read_mask, path)
        part = reading.mask
        if part.shape != mask.shape:
            skipped.append(f"{path.name} is {part.shape[1]}x{part.shape[0]}, image {width}x{height}")
            continue
        if part.all():
            skipped.append(f"{path.name} is foreground everywhere")
            continue
        if reading.levels > 2:
            unclean.append(path.name)
        mask |= part
    return LoadedExample(example, image, mask, tuple(skipped), tuple(unclean))


def _read(reader: Callable[[Path], T], path: Path) -> T:
    try:
        return reader(path)
    except ImageError as error:  # its message already names the file
        raise DatasetError(str(error)) from error


def load_examples(dataset: Dataset, names: Iterable[str] | None = None) -> LoadReport:
    """Load `dataset` (or only the examples `names`), keeping those with a lesion in their mask.

    Examples with an empty mask are left out, since no box or point prompt exists for them (BUSI's "normal"
    class); so are those whose every mask was skipped for its size.
    """
    examples = dataset.examples
    if names is not None:
        wanted = set(names)
        unknown = wanted - {example.name for example in examples}
        if unknown:
            raise DatasetError(f"Not in the dataset {dataset.root}: {some(sorted(unknown))}.")
        examples = tuple(example for example in examples if example.name in wanted)
    usable, left_out, skipped, unclean = [], {}, [], []
    for example in examples:
        loaded = load_example(example)
        skipped += loaded.skipped_masks
        unclean += loaded.unclean_masks
        if loaded.mask.any():
            usable.append(loaded)
        elif len(loaded.skipped_masks) == len(example.mask_paths):
            left_out[example.name] = "no usable mask"
        else:
            left_out[example.name] = "empty mask"
    return LoadReport(tuple(usable), left_out, tuple(skipped), tuple(unclean))
