"""Startup and the first image: the encoder compiled and the examples encoded before anyone asks, and a waiting
upload told its place in the encoder's queue."""

import runpy
import threading
from pathlib import Path

import pytest
from helpers import free_port, random_image
from PIL import Image

from sam_demo.app.queue_limits import expect_encoder_time
from sam_demo.app.ui import build_demo, configure_queue, example_images, launch
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
    monkeypatch.setattr(predictor, "encoder_s", None)
    monkeypatch.setattr(
        predictor, "encode_in_background", lambda images, on_done: jobs.append(start_job(images, on_done)) or jobs[-1]
    )
    monkeypatch.setattr(predictor_module, "load_sam", lambda name, mixed_precision=None: tiny_model)
    monkeypatch.setattr(predictor_module, "SamPredictor", lambda *args, **kwargs: predictor)
    monkeypatch.setenv("SAM_MODEL_ID", "tiny random SAM (tests)")
    app = runpy.run_path(str(ROOT / "app.py"), run_name="app")  # as a Space imports it: built, not served
    keys = [image_key(load_image(path)) for path in example_images()]
    # Before serving: the first example encoded (the encoder's compilation), and only that one.
    assert predictor.encoder_runs == 1 and keys[0] in predictor.cache
    (job,) = jobs
    job.join(timeout=120)
    assert all(key in predictor.cache for key in keys) and predictor.encoder_runs == len(keys)
    # Then the queue expects the background runs' time for an upload, until it has timed one itself.
    times = app["demo"]._queue.process_time_per_fn
    uploads = [times[fn].avg_time for fn in app["demo"].fns.values() if fn.api_name == "load_image" and fn in times]
    assert uploads == [predictor.encoder_s] and predictor.encoder_s > 0


def test_the_queue_estimates_the_encoder_from_its_measured_time_until_it_has_timed_it(predictor):
    demo = configure_queue(build_demo(predictor, "tiny random SAM (tests)"))
    expect_encoder_time(demo, 7.5)
    expect_encoder_time(demo, 9.0)  # a function with a time (the first estimate, or Gradio's own) keeps it
    times = demo._queue.process_time_per_fn
    assert {fn.api_name: times[fn].avg_time for fn in demo.fns.values() if fn in times} == {
        "load_image": 7.5,
        "segment": 7.5,
    }


@pytest.fixture
def estimating_app(predictor):
    """The page served as app.py serves it once the examples are encoded: the queue expects 30 s per encoder run."""
    demo = configure_queue(build_demo(predictor, "tiny random SAM (tests)"))
    expect_encoder_time(demo, 30.0)
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url.rstrip("/")
    demo.close()


def test_an_upload_waiting_for_the_encoder_shows_its_place_in_the_queue_and_a_time(
    browser, estimating_app, predictor, monkeypatch, tmp_path
):
    # The first tab's image stays in the encoder until the second tab's upload shows that it waits.
    release, real = threading.Event(), predictor._encode_pixels
    monkeypatch.setattr(predictor, "_encode_pixels", lambda pixels: release.wait(60) and real(pixels))
    pages, files = [], []
    for seed in (90, 91):
        files.append(tmp_path / f"upload_{seed}.png")
        Image.fromarray(random_image(120, 160, seed=seed)).save(files[-1])
        pages.append(browser.new_page())
        pages[-1].goto(estimating_app)
        pages[-1].wait_for_selector("#canvas", timeout=60_000)
    try:
        pages[0].locator("input[type=file]").first.set_input_files(str(files[0]))
        pages[0].wait_for_selector(f"{TRACKER} >> text=Computing the image embedding", timeout=30_000)
        pages[1].locator("input[type=file]").first.set_input_files(str(files[1]))
        pages[1].wait_for_selector(f"{TRACKER} >> text=/queue: 1\\/1/", timeout=30_000)
        # and how long, as Gradio shows it: seconds waited / seconds expected
        waiting = f"() => /queue: 1\\/1 \\|\\s*[0-9.]+\\/[0-9.]+s/.test(document.querySelector('{TRACKER}').innerText)"
        pages[1].wait_for_function(waiting, timeout=10_000)
    finally:
        release.set()
    for page in pages:
        page.wait_for_selector("#canvas img", timeout=60_000)
        page.close()
