"""Result files the page shows and offers for download: one folder per distinct result, only the most recently
used kept.

The files are written where Gradio serves them from (its cache folder), so it neither copies nor re-encodes them:
Gradio's own encoding of an image output takes a slow PNG path (about 100 ms for a 480x600 overlay, against about
20 ms at compression level 1, for files of nearly the same size), and it rewrites a file whose content another
response may still be sending (two users, same example, same click). Here a file is written once, under the hash
of its content, and never changed.

Many sessions write at once, so everything that decides which folders exist happens under one lock, in an order
kept in memory (not read back from file times, which two threads can see differently): a folder handed out, new or
reused, becomes the most recent and is the last to be pruned. Files are written in a private staging folder and
moved into place in one rename, so nobody is ever handed a half-written file. Gradio's cache sweep deletes files
by age: a reused folder is touched, and one the sweep emptied is written again. The folder is the process's own
and is deleted at exit: it holds users' images and masks.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from gradio.utils import get_upload_folder
from PIL import Image

MAX_DOWNLOADS = 256  # result folders kept; a long-running Space must not fill its disk
PNG_COMPRESSION = 1  # zlib level: 5x faster than PIL's default (6) on overlays, files about 10 % larger
# Images only looked at (the canvas, the candidates) go as JPEG: a tenth of the PNG's encoding time and less than
# half its size, so the browser has it sooner. Full chroma keeps the thin outlines and markers in their colours
# (4:2:0 visibly washed them out); quality 90 is 26 % smaller than 95 on a canvas of speckle and outlines (331 KB
# against 449 KB), with no visible difference at 3x zoom. Downloads stay exact PNGs.
JPEG_OPTIONS = {"quality": 90, "subsampling": 0}


class Downloads:
    """Write PNG files for a result and return their paths; safe to call from many threads at once."""

    def __init__(self, folder: Path | None = None, capacity: int = MAX_DOWNLOADS):
        if folder is None:
            cache = Path(get_upload_folder())  # Gradio's cache: files there are served as they are
            cache.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="sam-demo-downloads-", dir=cache))
            atexit.register(self.remove)  # our own temporary folder: nobody else will delete it
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.capacity = capacity
        self._recent: OrderedDict[str, None] = OrderedDict()  # result folders, least recently used first
        self._lock = threading.Lock()

    def write(self, files: dict[str, np.ndarray | Image.Image]) -> dict[str, str]:
        """Save each array (or PIL image, e.g. a palette image) under its file name (PNG, or JPEG for a .jpg name),
        in the folder of this exact result; return the paths."""
        digest = _digest(files)
        paths = {name: str(self.folder / digest / name) for name in files}
        with self._lock:
            # The same result again (same click, or the same in another session), unless swept meanwhile.
            if digest in self._recent and self._touch(paths.values()):
                self._recent.move_to_end(digest)
                return paths
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.folder))
        try:
            for name, content in files.items():
                options = JPEG_OPTIONS if name.endswith(".jpg") else {"compress_level": PNG_COMPRESSION}
                image = content if isinstance(content, Image.Image) else Image.fromarray(content)
                image.save(staging / name, **options)
            with self._lock:
                if digest not in self._recent or not self._touch(paths.values()):  # else written meanwhile
                    shutil.rmtree(self.folder / digest, ignore_errors=True)  # what the sweep left of it
                    staging.rename(self.folder / digest)
                    self._recent[digest] = None
                self._recent.move_to_end(digest)
                while len(self._recent) > self.capacity:
                    oldest, _ = self._recent.popitem(last=False)
                    shutil.rmtree(self.folder / oldest, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already if it was moved into place
        return paths

    @staticmethod
    def _touch(paths) -> bool:
        """Mark the files as just used (Gradio's sweep goes by their change time); False if one is gone."""
        try:
            for path in paths:
                os.utime(path)
        except FileNotFoundError:
            return False
        return True

    def remove(self) -> None:
        """Delete the folder and every file in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


def png_bytes(image: Image.Image) -> bytes:
    """`image` as a PNG file's bytes, compressed as the files written here."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESSION)
    return buffer.getvalue()


def _digest(files: dict[str, np.ndarray | Image.Image]) -> str:
    digest = hashlib.sha1()
    for name, content in sorted(files.items()):
        if isinstance(content, Image.Image):  # its pixels, and the palette and transparency they index
            digest.update(f"{name}:{content.mode}:{content.size}:{content.info.get('transparency')!r};".encode())
            digest.update(bytes(content.getpalette() or []))
            digest.update(content.tobytes())
        else:
            digest.update(f"{name}:{content.shape}:{content.dtype};".encode())
            digest.update(np.ascontiguousarray(content).data)
    return digest.hexdigest()[:16]
