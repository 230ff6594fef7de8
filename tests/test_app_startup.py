"""Startup and the first image: the encoder compiled and the examples encoded before anyone asks, and a waiting
upload told its place in the encoder's queue."""

import os
import runpy
import shutil
import threading
from pathlib import Path

import pytest
from helpers import random_image
from PIL import Image

from sam_demo.app.ui import example_images
from sam_demo.core import predictor as predictor_module
from sam_demo.core.embedding_cache import EmbeddingCache, image_key
from sam_demo.core.image_io import load_image

ROOT = Path(__file__).resolve().parents[1]
TRACKER = '#canvas [data-testid="status-tracker"]'


def test_the_app_starts_with_the_encoder_compiled_and_the_examples_encoded(predictor, tiny_model, monkeypatch):
    # The shared predictor, emptied, stands in for the one app.py builds: compiling another would cost seconds.
    monkeypatch.setattr(predictor, "cache", EmbeddingCache(8))
    monkeypatch.setattr(predictor, "encoder_runs", 0)
    jobs, start_job = [], predictor.encode_in_background
    monkeypatch.setattr(predictor, "encode_in_background", lambda images: jobs.append(start_job(images)) or jobs[-1])
    monkeypatch.setattr(predictor_module, "load_sam", lambda name, mixed_precision=None: tiny_model)
    monkeypatch.setattr(predictor_module, "SamPredictor", lambda *args, **kwargs: predictor)
    monkeypatch.setenv("SAM_MODEL_ID", "tiny random SAM (tests)")
    runpy.run_path(str(ROOT / "app.py"), run_name="app")  # as a Space imports it: the page is built, not served
    keys = [image_key(load_image(path)) for path in example_images()]
    # Before serving: the first example encoded (the encoder's compilation), and only that one.
    assert predictor.encoder_runs == 1 and keys[0] in predictor.cache
    (job,) = jobs
    job.join(timeout=120)
    assert all(key in predictor.cache for key in keys) and predictor.encoder_runs == len(keys)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not os.environ.get("CI"):  # CI installs both: there, a missing browser stack must fail, not skip
        pytest.importorskip("playwright")
        if chromium is None:
            pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield launched
        launched.close()


def test_an_upload_waiting_for_the_encoder_shows_its_place_in_the_queue(
    browser, served_app, predictor, monkeypatch, tmp_path
):
    # The first tab's image stays in the encoder until the second tab's upload shows that it waits.
    release, real = threading.Event(), predictor._encode_pixels
    monkeypatch.setattr(predictor, "_encode_pixels", lambda pixels: release.wait(60) and real(pixels))
    pages, files = [], []
    for seed in (90, 91):
        files.append(tmp_path / f"upload_{seed}.png")
        Image.fromarray(random_image(120, 160, seed=seed)).save(files[-1])
        pages.append(browser.new_page())
        pages[-1].goto(served_app)
        pages[-1].wait_for_selector("#canvas", timeout=60_000)
    try:
        pages[0].locator("input[type=file]").first.set_input_files(str(files[0]))
        pages[0].wait_for_selector(f"{TRACKER} >> text=Computing the image embedding", timeout=30_000)
        pages[1].locator("input[type=file]").first.set_input_files(str(files[1]))
        pages[1].wait_for_selector(f"{TRACKER} >> text=/queue: 1\\/1/", timeout=30_000)
    finally:
        release.set()
    for page in pages:
        page.wait_for_selector("#canvas img", timeout=60_000)
        page.close()
