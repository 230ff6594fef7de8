"""Safe archive extraction: .tar.gz, .tgz, .tar and .zip files unpacked once into a cache, under a content hash.

Every member is checked before anything is written: links, devices, absolute names, "..", archives larger than a
size cap, with more members than any image dataset has, or that expand far more than images compress (a "zip
bomb": 1 MB that unpacks to 1 GB) are refused with `ArchiveError`, whose message names the archive, the member and
the problem. The sizes checked are the ones the archive declares; tarfile and zipfile never produce more.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PureWindowsPath
from typing import IO, NamedTuple

# Far above any breast-ultrasound dataset (BUSI is about 200 MB), far below what fills a disk by surprise.
MAX_EXTRACTED_BYTES = 20 * 10**9
# BUSI has about 1,600 files; a million small members would exhaust inodes and time before any size cap.
MAX_MEMBERS = 100_000
# Images are already compressed (PNG, JPEG): archives of them expand 1-2x, of raw BMP or TIFF perhaps 10x.
MAX_EXPANSION_RATIO = 100
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


class ArchiveError(ValueError):
    """An archive that cannot be extracted or is refused; the message names the archive and the problem."""


def extracted(archive: Path, cache_dir: Path, max_extracted_bytes: int = MAX_EXTRACTED_BYTES) -> Path:
    """The folder under `cache_dir` holding `archive`'s files, extracted now unless an earlier call did.

    The folder is named after the archive and a hash of its content; it only ever appears complete.
    """
    stem = archive.name[: -len(next(s for s in ARCHIVE_SUFFIXES if archive.name.lower().endswith(s)))]
    target = cache_dir / f"{stem}-{_content_hash(archive)[:12]}"
    # Only a finished extraction is ever renamed to `target`, so an existing one is complete.
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=cache_dir))
    try:
        _extract(archive, partial, max_extracted_bytes)
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
            if len(members) > MAX_MEMBERS:
                raise ArchiveError(
                    f"Refusing to extract {archive}: it has {len(members):,} members, more than the "
                    f"{MAX_MEMBERS:,} any image dataset needs."
                )
            destinations = []
            total = 0
            # Never below 1 MB: a tiny archive may hold a few well-compressing masks.
            max_bytes = min(max_bytes, MAX_EXPANSION_RATIO * max(archive.stat().st_size, 10**6))
            for member in members:  # all checks first: a refused archive writes nothing
                if member.kind not in ("file", "folder"):
                    raise ArchiveError(f"Refusing to extract {archive}: member {member.name!r} is a {member.kind}.")
                total += member.size
                if total > max_bytes:
                    raise ArchiveError(
                        f"Refusing to extract {archive}: at member {member.name!r} its files add up to more than "
                        f"{max_bytes:,} bytes uncompressed (the cap is {MAX_EXPANSION_RATIO} times the archive's "
                        "size, and at most --max-dataset-gb)."
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
        raise ArchiveError(f"Cannot extract {archive}: {error}") from error


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
        raise ArchiveError(f"Refusing to extract {archive}: member {name!r} is an absolute path.")
    parts = [part for part in re.split(r"[/\\]", name) if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"Refusing to extract {archive}: member {name!r} points outside the archive ('..').")
    return folder.joinpath(*parts) if parts else None
