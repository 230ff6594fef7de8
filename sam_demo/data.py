"""The dataset layer for fine-tuning: finding, validating, loading and splitting image/mask pairs.

A dataset is named by `resolve_dataset` (the notebook's Hub archive, a local archive or a folder), its pairs are
found by `find_examples` in one of two layouts, read by `load_example(s)` and split by `split_examples`:

* "images-labels" (the notebook's dataset): ``images/<name>.png`` with ``labels/<name>.png`` (or
  ``labels/<name>_mask.png``), paired by name, never by sorted order;
* "busi" (BUSI as distributed): ``Dataset_BUSI_with_GT/<class>/<class> (N).png`` with ``<class> (N)_mask.png``
  and, for a second lesion, ``<class> (N)_mask_1.png``.

Every problem raises `DatasetError`, whose message names the file and says what was wrong.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import IO, Literal, NamedTuple

import numpy as np
from huggingface_hub import hf_hub_download
from PIL import Image

from .image_io import ImageError, load_image
from .masks import load_mask
from .phantom import KINDS, make_phantom

DEFAULT_REPO_ID = "sayakpaul/sample-datasets"
DEFAULT_FILENAME = "breast-cancer-dataset.tar.gz"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "sam_demo" / "datasets"
# Far above any breast-ultrasound dataset (BUSI is about 200 MB), far below what fills a disk by surprise.
MAX_EXTRACTED_BYTES = 20 * 10**9
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
# Archives usually wrap the dataset in one or two folders; deeper than this is not meant as one dataset.
SEARCH_DEPTH = 3
SPLITS = ("train", "validation", "test")

Layout = Literal["images-labels", "busi"]

_BUSI_MASK = re.compile(r"(?P<image>.+)_mask(?:_(?P<index>\d+))?")
_LAYOUTS_HELP = (
    "Accepted layouts: 'images-labels', an images/ folder beside a labels/ folder whose masks are named like "
    "their images (<name>.png or <name>_mask.png); 'busi', BUSI's Dataset_BUSI_with_GT/<class>/<name>.png with "
    "masks <name>_mask.png (and <name>_mask_1.png, ...)."
)


class DatasetError(ValueError):
    """A dataset that cannot be used as given; the message names the file and the problem."""


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


# eq=False: the fields hold numpy arrays, which have no single truth value to compare or hash by.
@dataclass(frozen=True, eq=False)
class LoadedExample:
    """An example's pixels: HxWx3 uint8 image, HxW bool mask (its mask files ORed)."""

    example: Example
    image: np.ndarray
    mask: np.ndarray
    skipped_masks: tuple[str, ...]  # one message per mask file left out for its size


@dataclass(frozen=True, eq=False)
class LoadReport:
    """The examples usable for prompted training (non-empty mask) and what was left out, by name."""

    examples: tuple[LoadedExample, ...]
    left_out: Mapping[str, str]  # example name -> reason
    skipped_masks: tuple[str, ...]

    def summary(self) -> str:
        """One line for a log: how many pairs, which were left out and why, which masks were skipped."""
        parts = [f"{len(self.examples) + len(self.left_out)} pairs, {len(self.examples)} usable"]
        if self.left_out:
            by_reason: dict[str, list[str]] = defaultdict(list)
            for name, reason in self.left_out.items():
                by_reason[reason].append(name)
            reasons = "; ".join(f"{reason} ({_some(names)})" for reason, names in by_reason.items())
            parts.append(f"{len(self.left_out)} left out: {reasons}")
        if self.skipped_masks:
            parts.append(f"{_plural(len(self.skipped_masks), 'mask')} skipped: {'; '.join(self.skipped_masks)}")
        return "; ".join(parts)


# ------------------------------------------------------------------------------------------ where the data is


def resolve_dataset(
    spec: str | os.PathLike | None,
    *,
    cache_dir: Path | None = None,
    token: str | bool | None = None,
    max_extracted_bytes: int = MAX_EXTRACTED_BYTES,
) -> Path:
    """The folder to read for `spec`: None or "default" (the notebook's Hub archive), an archive, or a folder.

    Archives (.tar.gz, .tgz, .tar, .zip) are checked, then extracted once into `cache_dir` (default
    ~/.cache/sam_demo/datasets) under their name and a hash of their content; later calls reuse that folder.
    """
    cache_dir = DEFAULT_CACHE_DIR if cache_dir is None else Path(cache_dir)
    if spec is None or spec == "default":
        try:
            archive = hf_hub_download(
                repo_id=DEFAULT_REPO_ID, filename=DEFAULT_FILENAME, repo_type="dataset", token=token
            )
        except OSError as error:  # every hub and network failure (offline, unreachable, refused) is an OSError
            raise DatasetError(
                f"Cannot download the default dataset ({DEFAULT_FILENAME} from the Hugging Face Hub dataset repo "
                f"{DEFAULT_REPO_ID}): {str(error).rstrip('.')}. Without the Hub, pass --dataset with a local "
                f"folder or a {'/'.join(ARCHIVE_SUFFIXES)} archive."
            ) from error
        return _extracted(Path(archive), cache_dir, max_extracted_bytes)
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if not path.exists():
        raise DatasetError(f"Dataset {path}: no such file or folder.")
    if not path.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise DatasetError(f"Dataset {path} is neither a folder nor a {'/'.join(ARCHIVE_SUFFIXES)} archive.")
    return _extracted(path, cache_dir, max_extracted_bytes)


def _extracted(archive: Path, cache_dir: Path, max_bytes: int) -> Path:
    stem = archive.name[: -len(next(s for s in ARCHIVE_SUFFIXES if archive.name.lower().endswith(s)))]
    target = cache_dir / f"{stem}-{_content_hash(archive)[:12]}"
    # Only a finished extraction is ever renamed to `target`, so an existing one is complete.
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=cache_dir))
    try:
        _extract(archive, partial, max_bytes)
        try:
            partial.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(partial)  # another process finished the same extraction first
    except BaseException:  # interrupted or refused: leave nothing that looks like a dataset
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(functools.partial(file.read, 1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Member(NamedTuple):
    name: str
    kind: str  # "file", "folder", or what else it is (never extracted)
    size: int
    open: Callable[[], IO[bytes]]


def _extract(archive: Path, folder: Path, max_bytes: int) -> None:
    """Write the files and folders of `archive` under `folder`, after checking every member."""
    try:
        with _members(archive) as members:
            destinations = []
            total = 0
            for member in members:  # all checks first: a refused archive writes nothing
                if member.kind not in ("file", "folder"):
                    raise DatasetError(f"Refusing to extract {archive}: member {member.name!r} is a {member.kind}.")
                total += member.size
                if total > max_bytes:
                    raise DatasetError(
                        f"Refusing to extract {archive}: at member {member.name!r} its files add up to more than "
                        f"{max_bytes:,} bytes uncompressed (max_extracted_bytes)."
                    )
                destinations.append(_destination(archive, member.name, folder))
            for member, destination in zip(members, destinations):
                if destination is None:
                    continue
                if member.kind == "folder":
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with member.open() as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
    except (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile, RuntimeError) as error:
        # RuntimeError: zipfile's answer to an encrypted member.
        raise DatasetError(f"Cannot extract {archive}: {error}") from error


@contextlib.contextmanager
def _members(archive: Path) -> Iterator[list[_Member]]:
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zip_file:
            yield [
                _Member(info.filename, _zip_kind(info), info.file_size, functools.partial(zip_file.open, info))
                for info in zip_file.infolist()
            ]
    else:
        with tarfile.open(archive) as tar:  # detects gzip or plain tar by content
            yield [
                _Member(member.name, _tar_kind(member), member.size, functools.partial(tar.extractfile, member))
                for member in tar.getmembers()
            ]


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.isfile():
        return "file"
    if member.isdir():
        return "folder"
    if member.issym():
        return "symbolic link"
    return "hard link" if member.islnk() else "device or other special file"


def _zip_kind(info: zipfile.ZipInfo) -> str:
    if info.is_dir():
        return "folder"
    # The Unix file type where the archiver recorded one; 0 when it did not (Windows tools, Python's writestr).
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if stat.S_ISLNK(file_type):
        return "symbolic link"
    return "file" if file_type in (0, stat.S_IFREG) else "device or other special file"


def _destination(archive: Path, name: str, folder: Path) -> Path | None:
    # With no absolute names, no ".." and no links ever written, every destination stays inside `folder`.
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        raise DatasetError(f"Refusing to extract {archive}: member {name!r} is an absolute path.")
    parts = [part for part in re.split(r"[/\\]", name) if part not in ("", ".")]
    if ".." in parts:
        raise DatasetError(f"Refusing to extract {archive}: member {name!r} points outside the archive ('..').")
    return folder.joinpath(*parts) if parts else None


# ---------------------------------------------------------------------------------------- finding the pairs


def find_examples(root: Path) -> Dataset:
    """The image/mask pairs under `root`, in the first layout found within `SEARCH_DEPTH` folder levels.

    Non-image files are ignored and listed in `Dataset.warnings`; unpaired images or masks raise DatasetError.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Dataset {root} is not a folder.")
    found: list[tuple[Path, Layout]] = []
    level = [root]
    for _ in range(SEARCH_DEPTH + 1):
        found = [(folder, layout) for folder in level if (layout := _layout_of(folder))]
        if found:
            break
        level = [sub for folder in level for sub in _subfolders(folder)]
    if not found:
        raise DatasetError(f"No dataset found in {root}. {_LAYOUTS_HELP} Found: {_describe_contents(root)}.")
    if len(found) > 1:
        raise DatasetError(
            f"{root} holds several datasets ({', '.join(str(folder) for folder, _ in found)}); pass one of them."
        )
    folder, layout = found[0]
    examples, ignored = _images_labels(folder) if layout == "images-labels" else _busi(folder)
    if not examples:
        raise DatasetError(f"No images found in the {layout} dataset {folder}. {_LAYOUTS_HELP}")
    warnings = ()
    if ignored:
        warnings = (f"Ignored {len(ignored)} non-image file(s) in {folder}: {_relative(folder, ignored)}",)
    return Dataset(folder, layout, tuple(sorted(examples, key=lambda example: example.name)), warnings)


def _layout_of(folder: Path) -> Layout | None:
    subfolders = _subfolders(folder)
    if {"images", "labels"} <= {sub.name for sub in subfolders}:
        return "images-labels"
    if any(_BUSI_MASK.fullmatch(path.stem) for sub in subfolders for path in _image_files(sub)[0]):
        return "busi"
    return None


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
    listing = _some([path.name + ("/" if path.is_dir() else "") for path in entries], limit=10) or "nothing"
    return f"{_plural(images, 'image file')} within {SEARCH_DEPTH + 1} levels; at the top: {listing}"


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


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


def _raise_unpaired(folder: Path, unlabelled: list[Path], orphans: list[Path], rule: str) -> None:
    problems = []
    if unlabelled:
        problems.append(f"{_plural(len(unlabelled), 'image')} without a mask: {_relative(folder, unlabelled)}")
    if orphans:
        problems.append(f"{_plural(len(orphans), 'mask')} without an image: {_relative(folder, orphans)}")
    if problems:
        raise DatasetError(f"Unpaired files in {folder}: {'; '.join(problems)}. {rule}")


# ------------------------------------------------------------------------------------------------- loading


def load_example(example: Example) -> LoadedExample:
    """Read an example's image and masks; masks of another size than the image are skipped and reported.

    A skipped mask is never resized onto the image: a mask of the wrong size is a broken annotation.
    """
    image = _read(load_image, example.image_path)
    height, width = image.shape[:2]
    mask = np.zeros((height, width), bool)
    skipped = []
    for path in example.mask_paths:
        part = _read(load_mask, path)
        if part.shape != mask.shape:
            skipped.append(f"{path.name} is {part.shape[1]}x{part.shape[0]}, image {width}x{height}")
            continue
        mask |= part
    return LoadedExample(example, image, mask, tuple(skipped))


def _read(reader: Callable[[Path], np.ndarray], path: Path) -> np.ndarray:
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
            raise DatasetError(f"Not in the dataset {dataset.root}: {_some(sorted(unknown))}.")
        examples = tuple(example for example in examples if example.name in wanted)
    usable, left_out, skipped = [], {}, []
    for example in examples:
        loaded = load_example(example)
        skipped += loaded.skipped_masks
        if loaded.mask.any():
            usable.append(loaded)
        elif len(loaded.skipped_masks) == len(example.mask_paths):
            left_out[example.name] = "no mask of the image's size"
        else:
            left_out[example.name] = "empty mask"
    return LoadReport(tuple(usable), left_out, tuple(skipped))


# ------------------------------------------------------------------------------------------------ splitting


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
        raise DatasetError(f"{path} lists examples in more than one place: {_some(repeated)}.")
    missing = sorted(set(listed) - set(names))
    if missing:
        raise DatasetError(
            f"{path} names {_plural(len(missing), 'example')} not in the dataset: {_some(missing)}. "
            "Was it written for another dataset?"
        )
    return split


# --------------------------------------------------------------------------------------- phantom datasets


def write_phantom_dataset(
    folder: Path,
    count: int,
    layout: Layout = "images-labels",
    seed: int = 0,
    size: tuple[int, int] = (256, 320),
) -> Path:
    """Write `count` phantom image/mask pairs (seeds seed, seed+1, ...) in `layout` under `folder`; return it.

    "images-labels": images/phantom_000.png with labels/phantom_000.png. "busi": Dataset_BUSI_with_GT/benign or
    malignant/<kind> (N).png with <kind> (N)_mask.png; the mask of "benign (1)" is split into _mask and _mask_1
    halves, and two "normal" images with all-zero masks are added (their pixels are phantoms too, lesion and
    all: only their empty masks matter). Masks are 0/255 grayscale PNGs; `size` is (height, width).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}.")
    if layout not in ("images-labels", "busi"):
        raise ValueError(f"Unknown layout {layout!r}: choose 'images-labels' or 'busi'.")
    folder = Path(folder)
    files: dict[Path, np.ndarray] = {}
    numbers: dict[str, int] = defaultdict(int)
    for k in range(count):
        kind = KINDS[k % len(KINDS)]
        image, mask = make_phantom(seed + k, size, kind)
        if layout == "images-labels":
            files[folder / "images" / f"phantom_{k:03d}.png"] = image
            files[folder / "labels" / f"phantom_{k:03d}.png"] = mask
            continue
        numbers[kind] += 1
        stem = folder / "Dataset_BUSI_with_GT" / kind / f"{kind} ({numbers[kind]})"
        files[stem.with_name(stem.name + ".png")] = image
        if kind == "benign" and numbers[kind] == 1:  # a lesion annotated in two parts, as BUSI has some
            columns = np.flatnonzero(mask.any(axis=0))
            left = mask.copy()
            left[:, (columns[0] + columns[-1] + 1) // 2 :] = False
            files[stem.with_name(stem.name + "_mask_1.png")] = mask & ~left
            mask = left
        files[stem.with_name(stem.name + "_mask.png")] = mask
    if layout == "busi":
        for n in (1, 2):
            stem = folder / "Dataset_BUSI_with_GT" / "normal" / f"normal ({n})"
            files[stem.with_name(stem.name + ".png")] = make_phantom(seed + count + n, size)[0]
            files[stem.with_name(stem.name + "_mask.png")] = np.zeros(size, bool)
    for path, array in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array.astype(np.uint8) * 255 if array.dtype == bool else array).save(path)
    return folder


# ------------------------------------------------------------------------------------------------- wording


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _some(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _relative(folder: Path, paths: list[Path]) -> str:
    return _some([str(path.relative_to(folder)) for path in paths], limit=10)
