"""Shared fixtures: a tiny random SAM saved to disk and loaded back through the real loading code."""

import os

# Tests never reach the Hugging Face Hub: fail fast instead of waiting on the network.
os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import chromium_or_skip, free_port  # noqa: E402

from sam_demo.core.model import load_sam, save_sam  # noqa: E402
from sam_demo.core.predictor import SamPredictor  # noqa: E402
from sam_demo.data.layouts import find_examples  # noqa: E402
from sam_demo.data.loading import load_examples  # noqa: E402
from sam_demo.devtools.phantom_datasets import write_phantom_dataset  # noqa: E402
from sam_demo.devtools.random_models import tiny_sam  # noqa: E402


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


@pytest.fixture(scope="session")
def phantom_dataset(tmp_path_factory):
    """Phantom datasets on disk, one per (count, layout, seed), written once per test session.

    Call it: `phantom_dataset(10, "busi", seed=2)` returns the folder (read-only for tests: copy before changing).
    """
    made: dict[tuple, Path] = {}

    def make(count: int, layout: str = "images-labels", seed: int = 0) -> Path:
        key = (count, layout, seed)
        if key not in made:
            made[key] = write_phantom_dataset(tmp_path_factory.mktemp(f"phantoms-{layout}"), count, layout, seed)
        return made[key]

    return make


@pytest.fixture(scope="session")
def load_phantoms(phantom_dataset):
    """The loaded image/mask pairs of `phantom_dataset(count, layout, seed)`, as training and evaluation read them."""

    def load(count: int, layout: str = "images-labels", seed: int = 0) -> list:
        return list(load_examples(find_examples(phantom_dataset(count, layout, seed))).examples)

    return load


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, launched once per test module."""
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def served_app(predictor):
    """The app's page served on a free local port, on the tiny model."""
    from sam_demo.app.ui import build_demo, configure_queue, launch

    demo = configure_queue(build_demo(predictor, "tiny random SAM (tests)"))
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url.rstrip("/")
    demo.close()
