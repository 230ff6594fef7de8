"""Helpers shared by test modules (fixtures live in conftest.py)."""

import os
import shutil
import socket
import struct
import zlib

import numpy as np
import pytest

# How far, on average, the canvas the page is sent (a JPEG at quality 90, full chroma) may be from the drawn pixels:
# about 6 levels on the tiny model's speckled outlines, against 50 and more for a different picture.
JPEG_TOLERANCE = 8


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_declaring_size(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds no pixels: what a decompression bomb looks like before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chromium_or_skip() -> str | None:
    """Debian's Chromium, for the tests that use the page as a user would. Outside CI a missing browser stack skips
    them; CI installs both (.ci/run), so there it must fail, not skip."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not os.environ.get("CI"):
        pytest.importorskip("playwright")
        if chromium is None:
            pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
    return chromium
