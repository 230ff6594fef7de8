"""Dataset layouts: how a folder of image/mask pairs is recognised and its images paired with their masks.

`find_examples` looks for a folder in one of the layouts of `LAYOUTS` and returns its pairs as a `Dataset`:

* "images-labels" (the notebook's dataset): ``images/<name>.png`` with ``labels/<name>.png`` (or
  ``labels/<name>_mask.png``), paired by name, never by sorted order;
* "busi" (BUSI as distributed): ``Dataset_BUSI_with_GT/<class>/<class> (N).png`` with ``<class> (N)_mask.png``
  and, for a second lesion, ``<class> (N)_mask_1.png``.

A layout is one `LayoutRule` in `LAYOUTS` (and its name in `Layout`). Every problem raises `DatasetError`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ._wording import plural, some
from .errors import DatasetError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
# Archives usually wrap the dataset in one or two folders; deeper than this is not meant as one dataset.
SEARCH_DEPTH = 3

Layout = Literal["images-labels", "busi"]


@dataclass(frozen=True)
class Example:
    """One image and its mask files; `name` is unique within the dataset and stable across runs."""

    name: str
    image_path: Path
    mask_paths: tuple[Path, ...]
    label: str | None  # the class ("benign", ...) where the layout records it


@dataclass(frozen=True)
class Dataset:
    """The pairs found under `root`, and what was ignored there."""

    root: Path
    layout: Layout
    examples: tuple[Example, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class LayoutRule:
    """One layout: its name, what it looks like, how to recognise a folder in it and how to pair its files."""

    name: Layout
    description: str  # for error messages: what a folder in this layout holds
    recognises: Callable[[list[Path]], bool]  # given a folder's subfolders, whether the folder is in this layout
    pair: Callable[[Path], tuple[list[Example], list[Path]]]  # a folder's examples, and the non-image files ignored


def find_examples(root: Path) -> Dataset:
    """The image/mask pairs under `root`, in the first layout found within `SEARCH_DEPTH` folder levels.

    Non-image files are ignored and listed in `Dataset.warnings`; unpaired images or masks raise DatasetError.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Dataset {root} is not a folder.")
    found: list[tuple[Path, LayoutRule]] = []
    level = [root]
    for _ in range(SEARCH_DEPTH + 1):
        found = [(folder, layout) for folder in level if (layout := _layout_of(folder))]
        if found:
            break
        level = [sub for folder in level for sub in _subfolders(folder)]
    if not found:
        raise DatasetError(f"No dataset found in {root}. {_layouts_help()} Found: {_describe_contents(root)}.")
    if len(found) > 1:
        raise DatasetError(
            f"{root} holds several datasets ({', '.join(str(folder) for folder, _ in found)}); pass one of them."
        )
    folder, layout = found[0]
    examples, ignored = layout.pair(folder)
    if not examples:
        raise DatasetError(f"No images found in the {layout.name} dataset {folder}. {_layouts_help()}")
    warnings = ()
    if ignored:
        warnings = (f"Ignored {len(ignored)} non-image file(s) in {folder}: {_relative(folder, ignored)}",)
    return Dataset(folder, layout.name, tuple(sorted(examples, key=lambda example: example.name)), warnings)


def _layouts_help() -> str:
    """One sentence naming every accepted layout and what it looks like."""
    return f"Accepted layouts: {'; '.join(f'{rule.name!r}, {rule.description}' for rule in LAYOUTS)}."


def _layout_of(folder: Path) -> LayoutRule | None:
    subfolders = _subfolders(folder)
    return next((rule for rule in LAYOUTS if rule.recognises(subfolders)), None)


def _subfolders(folder: Path) -> list[Path]:
    # Hidden folders and macOS's __MACOSX resource-fork copies are never data.
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith((".", "__MACOSX")))


def _image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other entries) directly in `folder`; hidden files (.DS_Store, macOS ._x.png) are others."""
    images, others = [], []
    for path in sorted(folder.iterdir()):
        is_image = path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
        (images if is_image else others).append(path)
    return images, others


def _describe_contents(root: Path) -> str:
    entries = sorted(root.iterdir())
    images = sum(
        1 for depth in range(1, SEARCH_DEPTH + 2) for path in root.glob("/".join(["*"] * depth)) if _is_image(path)
    )
    listing = some([path.name + ("/" if path.is_dir() else "") for path in entries], limit=10) or "nothing"
    return f"{plural(images, 'image file')} within {SEARCH_DEPTH + 1} levels; at the top: {listing}"


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _raise_unpaired(folder: Path, unlabelled: list[Path], orphans: list[Path], rule: str) -> None:
    problems = []
    if unlabelled:
        problems.append(f"{plural(len(unlabelled), 'image')} without a mask: {_relative(folder, unlabelled)}")
    if orphans:
        problems.append(f"{plural(len(orphans), 'mask')} without an image: {_relative(folder, orphans)}")
    if problems:
        raise DatasetError(f"Unpaired files in {folder}: {'; '.join(problems)}. {rule}")


def _relative(folder: Path, paths: list[Path]) -> str:
    return some([str(path.relative_to(folder)) for path in paths], limit=10)


# ------------------------------------------------------------------------------------------ images-labels


def _is_images_labels(subfolders: list[Path]) -> bool:
    return {"images", "labels"} <= {sub.name for sub in subfolders}


def _images_labels(folder: Path) -> tuple[list[Example], list[Path]]:
    images, ignored = _image_files(folder / "images")
    labels, ignored_labels = _image_files(folder / "labels")
    by_stem: dict[str, Path] = {}
    for image in images:
        if image.stem in by_stem:
            raise DatasetError(f"{image} and {by_stem[image.stem].name} have the same name; rename one of them.")
        by_stem[image.stem] = image
    label_of: dict[str, Path] = {}
    orphans = []
    for label in labels:
        stem = label.stem if label.stem in by_stem else label.stem.removesuffix("_mask")
        if stem not in by_stem:
            orphans.append(label)
        elif stem in label_of:
            raise DatasetError(f"{by_stem[stem]} has two labels: {label_of[stem].name} and {label.name}.")
        else:
            label_of[stem] = label
    unlabelled = [image for stem, image in by_stem.items() if stem not in label_of]
    _raise_unpaired(
        folder, unlabelled, orphans, "Labels are paired with images by name: labels/x.png or labels/x_mask.png."
    )
    examples = [Example(stem, image, (label_of[stem],), None) for stem, image in by_stem.items()]
    return examples, ignored + ignored_labels


# ------------------------------------------------------------------------------------------------- busi

_BUSI_MASK = re.compile(r"(?P<image>.+)_mask(?:_(?P<index>\d+))?")


def _is_busi(subfolders: list[Path]) -> bool:
    return any(_BUSI_MASK.fullmatch(path.stem) for sub in subfolders for path in _image_files(sub)[0])


def _busi(folder: Path) -> tuple[list[Example], list[Path]]:
    examples, ignored, unlabelled, orphans = [], [], [], []
    for class_folder in _subfolders(folder):
        label = class_folder.name
        files, others = _image_files(class_folder)
        ignored += others
        images: dict[str, Path] = {}
        masks: dict[str, list[tuple[int, Path]]] = defaultdict(list)
        for path in files:
            if match := _BUSI_MASK.fullmatch(path.stem):
                masks[match["image"]].append((int(match["index"] or 0), path))
            elif path.stem in images:
                raise DatasetError(f"{path} and {images[path.stem].name} have the same name; rename one of them.")
            else:
                images[path.stem] = path
        unlabelled += [image for stem, image in images.items() if stem not in masks]
        orphans += [path for stem, paths in masks.items() if stem not in images for _, path in paths]
        examples += [
            Example(f"{label}/{stem}", image, tuple(path for _, path in sorted(masks[stem])), label)
            for stem, image in images.items()
            if stem in masks
        ]
    _raise_unpaired(folder, unlabelled, orphans, "BUSI masks lie beside their image: x.png, x_mask.png, x_mask_1.png.")
    return examples, ignored


# ----------------------------------------------------------------------------------------------- registry

# Tried in this order on each folder; the first that recognises it wins.
LAYOUTS: tuple[LayoutRule, ...] = (
    LayoutRule(
        name="images-labels",
        description="an images/ folder beside a labels/ folder whose masks are named like their images "
        "(<name>.png or <name>_mask.png)",
        recognises=_is_images_labels,
        pair=_images_labels,
    ),
    LayoutRule(
        name="busi",
        description="BUSI's Dataset_BUSI_with_GT/<class>/<name>.png with masks <name>_mask.png "
        "(and <name>_mask_1.png, ...)",
        recognises=_is_busi,
        pair=_busi,
    ),
)
