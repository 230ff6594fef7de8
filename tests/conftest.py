"""Shared fixtures: a tiny random SAM saved to disk and loaded back through the real loading code."""

import os

# Tests never reach the Hugging Face Hub: fail fast instead of waiting on the network.
os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sam_demo.model import load_sam, save_sam, tiny_sam  # noqa: E402
from sam_demo.predictor import SamPredictor  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny SAM saved as `train.py` saves a fine-tuned one (PyTorch-layout safetensors, configs)."""
    folder = tmp_path_factory.mktemp("tiny-sam")
    save_sam(*tiny_sam(seed=0), folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    return load_sam(tiny_checkpoint)


@pytest.fixture(scope="session")
def predictor(tiny_model) -> SamPredictor:
    model, processor = tiny_model
    shared = SamPredictor(model, processor, cache_size=4)
    shared.warm_up()
    return shared


@pytest.fixture
def busi_dir() -> Path:
    """The BUSI sample (Dataset_BUSI_with_GT layout) named by BUSI_SAMPLE_DIR; tests using it skip without it."""
    value = os.environ.get("BUSI_SAMPLE_DIR")
    if not value:
        pytest.skip("BUSI_SAMPLE_DIR is not set")
    folder = Path(value)
    if (folder / "Dataset_BUSI_with_GT").is_dir():
        folder = folder / "Dataset_BUSI_with_GT"
    assert folder.is_dir(), f"BUSI_SAMPLE_DIR={value} is not a folder"
    return folder


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_declaring_size(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds no pixels: what a decompression bomb looks like before decoding."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))


@pytest.fixture(scope="session")
def served_app(predictor):
    """The app's page served on a free local port, on the tiny model."""
    from sam_demo.ui import build_demo, configure_queue

    demo = configure_queue(build_demo(predictor, "tiny random SAM (tests)"))
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    yield url.rstrip("/")
    demo.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
