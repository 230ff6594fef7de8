"""Where a dataset comes from: `resolve_dataset` turns the notebook's Hub archive, a local archive or a folder
into the folder to read (archives are extracted once into a cache by `archives`); `open_dataset` also finds its
image/mask pairs, and removes an extraction that holds none.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from huggingface_hub import hf_hub_download

from .archives import ARCHIVE_SUFFIXES, MAX_EXTRACTED_BYTES, ArchiveError, extracted
from .errors import DatasetError
from .layouts import Dataset, find_examples

DEFAULT_REPO_ID = "sayakpaul/sample-datasets"
DEFAULT_FILENAME = "breast-cancer-dataset.tar.gz"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "sam_demo" / "datasets"


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


def _extracted(archive: Path, cache_dir: Path, max_extracted_bytes: int) -> Path:
    try:
        return extracted(archive, cache_dir, max_extracted_bytes)
    except ArchiveError as error:  # the same message, as the dataset layer's error
        raise DatasetError(str(error)) from error


def open_dataset(
    spec: str | os.PathLike | None,
    *,
    cache_dir: Path | None = None,
    max_extracted_bytes: int = MAX_EXTRACTED_BYTES,
) -> Dataset:
    """The image/mask pairs of `spec` (see `resolve_dataset`). An archive whose extraction holds no dataset is
    removed from the cache again, so a wrong archive does not keep its size on disk."""
    cache_dir = DEFAULT_CACHE_DIR if cache_dir is None else Path(cache_dir)
    root = resolve_dataset(spec, cache_dir=cache_dir, max_extracted_bytes=max_extracted_bytes)
    try:
        return find_examples(root)
    except DatasetError as error:
        if cache_dir.resolve() in root.resolve().parents:  # our own extraction, not the user's folder
            shutil.rmtree(root, ignore_errors=True)
            raise DatasetError(f"{error} (The extracted files were removed from {cache_dir}.)") from error
        raise
