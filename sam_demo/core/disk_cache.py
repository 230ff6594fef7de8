"""Image embeddings on disk, shared by processes and kept across restarts.

The in-memory `EmbeddingCache` dies with its process: a restarted Space, or a second replica behind the same
storage, would run the vision encoder again (seconds to a minute per image on a CPU). This store keeps each
embedding in one file, `<image key>-<encoder namespace>.npz`, in a folder of bounded size.

* The namespace (`encoder_namespace`) hashes the vision encoder's weights, the precision it runs in and the
  preprocessing settings, so a different or fine-tuned encoder never reads another's embeddings.
* Writers write a temporary file in the same folder and rename it over the final name (`os.replace`, atomic on
  one file system): readers see a whole file or none, and two processes writing the same key leave one whole file.
* A file that cannot be read back (torn by a crash, damaged, of another shape) is a miss and is removed.
* Beyond `max_bytes`, the least recently used files go first (a hit renews a file's modification time).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the store itself is numpy and files: processes that only read or write it skip TensorFlow
    from transformers import SamProcessor, TFSamModel

logger = logging.getLogger(__name__)

SUFFIX = ".npz"
TEMP_SUFFIX = ".tmp"
# Only files named as this store names them are counted and evicted: the folder may hold a user's own files.
_OWN_FILE = re.compile(r"[0-9a-f]+-[0-9a-f]+\.npz")
_OWN_TEMP_FILE = re.compile(r"\.[0-9a-f]+-.*\.tmp")
# A temporary file this old belongs to a writer that died (a write takes milliseconds): it may be removed.
STALE_TEMP_SECONDS = 3600
# The preprocessing settings that change the pixels the encoder sees, hence its embedding.
_PREPROCESSING_KEYS = (
    "do_resize",
    "size",
    "resample",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
    "do_pad",
    "pad_size",
    "do_convert_rgb",
)


def encoder_namespace(model: TFSamModel, processor: SamProcessor) -> str:
    """What an embedding depends on besides the image: encoder weights, its compute dtype, preprocessing."""
    from .model import vision_encoder_fingerprint

    settings = processor.image_processor.to_dict()
    preprocessing = json.dumps({key: settings.get(key) for key in _PREPROCESSING_KEYS}, sort_keys=True, default=str)
    digest = hashlib.blake2b(digest_size=16)
    for part in (vision_encoder_fingerprint(model), model.vision_encoder.compute_dtype, preprocessing):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredEmbedding:
    embedding: np.ndarray  # (1, C, 64, 64) float32
    resized_size: tuple[int, int]  # (height, width) inside the model input


class DiskEmbeddingStore:
    """Embeddings of one encoder (`namespace`) in `directory`, which may hold other encoders' files too.

    `max_bytes` bounds all embedding files in the folder, whichever encoder wrote them. Thread- and
    process-safe; failures to read or write are logged and never raised (the encoder runs instead).
    """

    def __init__(self, directory: str | os.PathLike, namespace: str, max_bytes: int):
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}.")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self.max_bytes = max_bytes
        self._evicting = threading.Lock()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}-{self.namespace}{SUFFIX}"

    def load(self, key: str, original_size: tuple[int, int]) -> StoredEmbedding | None:
        """The stored embedding of the image with content hash `key` and (height, width) `original_size`."""
        path = self.path(key)
        try:
            file = open(path, "rb")
        except FileNotFoundError:
            return None
        except OSError as error:  # the folder, not the file, is at fault: leave the file alone
            logger.warning("Embedding cache: cannot read %s: %s", path.name, error)
            return None
        try:
            with file, np.load(file, allow_pickle=False) as stored:
                embedding, resized, original = (stored[name] for name in ("embedding", "resized_size", "original_size"))
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            self._discard(path, f"unreadable ({type(error).__name__}: {error})")
            return None
        if (
            embedding.dtype != np.float32
            or embedding.ndim != 4
            or resized.shape != (2,)
            or tuple(original.tolist()) != tuple(original_size)
        ):
            self._discard(path, "not an embedding of this image")
            return None
        _touch(path)  # recently used: evicted last
        return StoredEmbedding(embedding, (int(resized[0]), int(resized[1])))

    def save(
        self, key: str, embedding: np.ndarray, resized_size: tuple[int, int], original_size: tuple[int, int]
    ) -> None:
        """Store an embedding atomically, then evict the least recently used files beyond `max_bytes`."""
        try:
            handle, temp_name = tempfile.mkstemp(dir=self.directory, prefix=f".{key}-", suffix=TEMP_SUFFIX)
            try:
                with os.fdopen(handle, "wb") as file:
                    np.savez(
                        file,
                        embedding=np.asarray(embedding, np.float32),
                        resized_size=np.asarray(resized_size, np.int64),
                        original_size=np.asarray(original_size, np.int64),
                    )
                os.replace(temp_name, self.path(key))
                _touch(self.path(key))
            except BaseException:
                _remove(temp_name)
                raise
        except OSError as error:  # a full or read-only disk costs the cache, never the request
            logger.warning("Embedding cache: cannot write %s: %s", self.path(key).name, error)
            return
        self.evict()

    def evict(self) -> None:
        """Remove the least recently used embedding files until they fit in `max_bytes`; drop stale temp files."""
        with self._evicting:
            files, total = [], 0
            now = time.time()
            try:
                entries = list(os.scandir(self.directory))
            except OSError as error:
                logger.warning("Embedding cache: cannot list %s: %s", self.directory, error)
                return
            for entry in entries:
                try:
                    status = entry.stat()
                except FileNotFoundError:  # removed by another process meanwhile
                    continue
                if _OWN_FILE.fullmatch(entry.name):
                    files.append((status.st_mtime_ns, status.st_size, entry.path))
                    total += status.st_size
                elif _OWN_TEMP_FILE.fullmatch(entry.name) and now - status.st_mtime > STALE_TEMP_SECONDS:
                    _remove(entry.path)
            for _, size, path in sorted(files):
                if total <= self.max_bytes:
                    break
                _remove(path)
                total -= size

    def _discard(self, path: Path, reason: str) -> None:
        logger.warning("Embedding cache: removed %s, %s", path.name, reason)
        _remove(path)


def _touch(path: Path) -> None:
    # The kernel stamps writes with a coarse clock (a few ms): a file written and another used right after could
    # get equal times and be evicted in the wrong order. Python's clock has nanoseconds.
    now = time.time_ns()
    try:
        os.utime(path, ns=(now, now))
    except OSError:
        pass  # evicted by another process meanwhile: the embedding in hand is still whole


def _remove(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:  # another process removed it first
        pass
    except OSError as error:
        logger.warning("Embedding cache: cannot remove %s: %s", Path(path).name, error)
