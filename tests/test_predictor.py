"""SamPredictor on a tiny random SAM loaded from disk: shapes, equivalence with transformers, cache, retracing."""

import contextlib
import logging
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from helpers import random_image
from PIL import Image

from sam_demo.core.embedding_cache import EmbeddingCache
from sam_demo.core.image_io import ImageError
from sam_demo.core.predictor import EncoderLock, SamPredictor
from sam_demo.core.transforms import resized_size


def reference_masks(model, processor, image, points=None, labels=None, box=None, multimask_output=True):
    """The plain transformers route: processor -> TFSamModel -> post_process_masks."""
    kwargs = {}
    if points is not None:
        kwargs["input_points"] = [[list(map(float, p)) for p in points]]
        kwargs["input_labels"] = [list(labels)]
    if box is not None:
        kwargs["input_boxes"] = [[list(map(float, box))]]
    inputs = processor(images=image, return_tensors="tf", **kwargs)
    if points is not None:
        # The processor nests points one level less than the model expects for a single prompt set.
        inputs["input_points"] = tf.reshape(inputs["input_points"], (1, 1, -1, 2))
        inputs["input_labels"] = tf.reshape(inputs["input_labels"], (1, 1, -1))
    outputs = model(
        inputs["pixel_values"],
        input_points=inputs.get("input_points"),
        input_labels=inputs.get("input_labels"),
        input_boxes=inputs.get("input_boxes"),
        multimask_output=multimask_output,
    )
    masks = processor.image_processor.post_process_masks(
        outputs.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"], return_tensors="tf"
    )[0][0].numpy()
    return masks, outputs.iou_scores[0, 0].numpy()


@pytest.mark.parametrize(
    "prompt",
    [
        dict(points=[(120, 80)], labels=[1]),
        dict(points=[(120, 80), (30, 200), (250, 40)], labels=[1, 0, 1], multimask_output=False),
        dict(box=(40, 30, 260, 190)),
        dict(points=[(120, 80), (10, 10)], labels=[1, 0], box=(40, 30, 260, 190), multimask_output=False),
    ],
    ids=["point", "points+negative", "box", "box+points"],
)
def test_matches_transformers_reference(tiny_model, predictor, prompt):
    model, processor = tiny_model
    image = random_image(220, 300, seed=1)
    predictor.set_image(image)
    prediction = predictor.predict(**prompt)
    expected_masks, expected_scores = reference_masks(model, processor, image, **prompt)
    assert prediction.masks.shape == expected_masks.shape
    np.testing.assert_allclose(prediction.iou_scores, expected_scores, atol=1e-4)
    # Bilinear upscaling of nearly equal logits may flip a pixel sitting exactly on the threshold.
    assert (prediction.masks != expected_masks).mean() < 1e-4


def test_loaded_checkpoint_equals_the_saved_model(predictor):
    from sam_demo.devtools.random_models import tiny_sam

    fresh = SamPredictor(*tiny_sam(seed=0))
    image = random_image(100, 140, seed=2)
    fresh.set_image(image)
    predictor.set_image(image)
    a = fresh.predict(points=[(70, 50)], labels=[1])
    b = predictor.predict(points=[(70, 50)], labels=[1])
    np.testing.assert_allclose(a.iou_scores, b.iou_scores, atol=1e-6)
    np.testing.assert_allclose(a.low_res_logits, b.low_res_logits, atol=1e-5)


def pil_image(mode: str, size=(150, 90)) -> Image.Image:
    gradient = np.linspace(0, 1, size[0] * size[1]).reshape(size[1], size[0])
    if mode == "I;16":
        return Image.fromarray((gradient * 65535).astype(np.uint16))
    if mode == "1":
        return Image.fromarray(gradient > 0.5).convert("1")
    base = Image.fromarray((gradient * 255).astype(np.uint8))
    if mode == "P":
        return base.convert("RGB").convert("P")
    return base.convert(mode)


@pytest.mark.parametrize(
    "image",
    [
        random_image(128, 128),
        random_image(90, 150),
        random_image(150, 90)[..., 0],
        (np.random.default_rng(3).random((90, 150)) * 65535).astype(np.uint16),
        np.dstack([random_image(90, 150), np.full((90, 150), 255, np.uint8)]),
        *[pil_image(mode) for mode in ("1", "L", "I;16", "P", "RGB", "RGBA")],
    ],
    ids=[
        "square",
        "wide",
        "tall-gray",
        "uint16",
        "rgba-array",
        "pil-1",
        "pil-L",
        "pil-I16",
        "pil-P",
        "pil-RGB",
        "pil-RGBA",
    ],
)
def test_masks_come_back_at_the_original_size(predictor, image):
    height, width = (image.height, image.width) if isinstance(image, Image.Image) else image.shape[:2]
    encoded = predictor.set_image(image)
    assert encoded.original_size == (height, width)
    for prompt, count in [
        (dict(points=[(width // 2, height // 2)], labels=[1]), 3),
        (dict(points=[(1, 1)], labels=[0], box=(2, 3, width - 1, height - 2), multimask_output=False), 1),
    ]:
        prediction = predictor.predict(**prompt)
        assert prediction.masks.shape == (count, height, width)
        assert prediction.masks.dtype == bool
        assert prediction.iou_scores.shape == (count,)
        assert prediction.low_res_logits.shape == (count, 256, 256)
        assert prediction.best.shape == (height, width)
        assert np.array_equal(prediction.best, prediction.masks[np.argmax(prediction.iou_scores)])


@pytest.mark.parametrize(
    "shape",
    [(1, 60), (3, 60), (60, 1), (60, 3), (1, 1), (3, 3), (1, 3), (3, 1), (1, 1024)],
    ids=lambda s: "x".join(map(str, s)),
)
def test_thin_images_work_end_to_end(predictor, shape):
    height, width = shape
    encoded = predictor.set_image(random_image(height, width, seed=5))
    assert encoded.original_size == shape
    assert encoded.resized_size == resized_size(shape)  # not transposed: rows were once taken for channels
    for prompt, count in [
        (dict(points=[(width / 2, height / 2)], labels=[1]), 3),
        (dict(box=(0, 0, width, height), multimask_output=False), 1),
    ]:
        prediction = predictor.predict(**prompt)
        assert prediction.masks.shape == (count, height, width)
        assert np.isfinite(prediction.iou_scores).all()


@pytest.mark.parametrize("shape", [(1, 1025), (2, 5000), (4000, 3)])
def test_too_thin_images_are_explained(predictor, shape):
    with pytest.raises(ImageError, match="too thin"):
        predictor.set_image(np.zeros(shape, np.uint8))


def test_mask_input_changes_the_answer(predictor):
    predictor.set_image(random_image(200, 160, seed=4))
    first = predictor.predict(points=[(80, 100)], labels=[1])
    refined = predictor.predict(
        points=[(80, 100), (20, 20)], labels=[1, 0], mask_input=first.low_res_logits[first.best_index]
    )
    without = predictor.predict(points=[(80, 100), (20, 20)], labels=[1, 0])
    assert refined.masks.shape == (3, 200, 160)
    assert not np.allclose(refined.low_res_logits, without.low_res_logits)


def test_same_image_is_encoded_once(tiny_model):
    predictor = SamPredictor(*tiny_model, cache_size=2)
    a, b, c = (random_image(64, 80, seed=s) for s in (10, 11, 12))
    predictor.set_image(a)
    predictor.set_image(a.copy())  # equal content, different object
    predictor.set_image(Image.fromarray(a))
    assert predictor.encoder_runs == 1
    predictor.set_image(b)
    predictor.set_image(a)  # switching back costs nothing
    assert predictor.encoder_runs == 2
    predictor.set_image(c)  # evicts b, the least recently used
    predictor.set_image(a)
    assert predictor.encoder_runs == 3
    predictor.set_image(b)
    assert predictor.encoder_runs == 4
    assert len(predictor.cache) == 2


def test_concurrent_requests_for_one_image_run_the_encoder_once(tiny_model):
    predictor = SamPredictor(*tiny_model)
    image = random_image(96, 96, seed=20)
    barrier = threading.Barrier(4)
    results = []

    def worker():
        barrier.wait()
        results.append(predictor.encode(image))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert predictor.encoder_runs == 1
    assert all(result is results[0] for result in results)


def test_failed_encoding_is_not_cached():
    cache = EmbeddingCache(2)
    calls = []

    def failing():
        calls.append(1)
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", failing)
    assert cache.get_or_compute("k", lambda: "value") == "value"
    assert "k" in cache and len(calls) == 1


def test_decoder_does_not_retrace_between_clicks(predictor):
    traces = predictor.decoder_traces
    assert traces == 1  # traced once, by warm_up
    for seed, (height, width) in enumerate([(100, 130), (240, 90)]):
        predictor.set_image(random_image(height, width, seed=30 + seed))
        for count in range(1, 6):
            points = [(width * k // 7, height * k // 7) for k in range(1, count + 1)]
            labels = [k % 2 for k in range(count)]
            prediction = predictor.predict(points=points, labels=labels, multimask_output=count % 2 == 0)
            predictor.predict(box=(5, 5, width - 5, height - 5))
            predictor.predict(
                points=points, labels=labels, box=(5, 5, width - 5, height - 5), mask_input=prediction.low_res_logits[0]
            )
    assert predictor.decoder_traces == traces


@pytest.mark.parametrize(
    "prompt, message",
    [
        (dict(), "no prompt"),
        (dict(points=[(10, 10)]), "labels"),
        (dict(points=[(10, 10)], labels=[1, 0]), "one label per point"),
        (dict(points=[(10, 10)], labels=[2]), "not 0 (background) or 1"),
        (dict(points=[(200, 10)], labels=[1]), "outside"),
        (dict(points=[(-1, 10)], labels=[1]), "outside"),
        (dict(points=[(10, float("nan"))], labels=[1]), "NaN"),
        (dict(points=[(1, 2, 3)], labels=[1]), "(x, y) pairs"),
        (dict(box=(50, 10, 50, 40)), "x0 < x1"),
        (dict(box=(10, 40, 50, 20)), "y0 < y1"),
        (dict(box=(10, 10, 500, 40)), "outside"),
        (dict(box=(10, 10, 40)), "(x0, y0, x1, y1)"),
        (dict(points=[(10, 10)], labels=[1], mask_input=np.zeros((64, 64))), "256x256"),
    ],
)
def test_bad_prompts_are_explained(predictor, prompt, message):
    predictor.set_image(random_image(100, 150, seed=40))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        predictor.predict(**prompt)


def test_predict_before_set_image(tiny_model):
    with pytest.raises(ValueError, match="set_image"):
        SamPredictor(*tiny_model).predict(points=[(1, 1)], labels=[1])


@pytest.fixture
def fresh(predictor, monkeypatch):
    """The shared predictor (its encoder already compiled) with an empty cache of 4 and no encoder runs counted."""
    monkeypatch.setattr(predictor, "cache", EmbeddingCache(4))
    monkeypatch.setattr(predictor, "encoder_runs", 0)
    return predictor


def test_warm_up_runs_the_encoder_once_on_the_given_image(fresh):
    image = random_image(70, 90, seed=50)
    fresh.warm_up(image)
    assert fresh.encoder_runs == 1 and fresh.decoder_traces == 1
    fresh.encode(image)  # the warm-up's run was this image's embedding: not computed again
    fresh.warm_up()
    assert fresh.encoder_runs == 1
    fresh.encoder_runs = 0
    fresh.warm_up()  # nothing to encode: the encoder runs all the same, so the first upload finds it compiled
    assert fresh.encoder_runs == 1 and len(fresh.cache) == 1


def test_the_encoder_time_is_measured_from_the_runs_after_the_first(fresh, monkeypatch):
    monkeypatch.setattr(fresh, "encoder_s", None)
    slowed_encoder(fresh, monkeypatch, 0.3)
    fresh.encode(random_image(60, 80, seed=51))  # the first run, which compiles in a new predictor: not counted
    assert fresh.encoder_s is None
    done = []
    fresh.encode_in_background([random_image(60, 80, seed=52)], on_done=lambda: done.append(fresh.encoder_s)).join()
    assert len(done) == 1 and 0.3 <= done[0] < 5


def slowed_encoder(predictor: SamPredictor, monkeypatch, seconds: float, first_until=None) -> SimpleNamespace:
    """Make each encoder run take `seconds` more (the first also until `first_until()`); records the names of the
    threads in the order their runs began and the most runs that were going on at once."""
    real, runs, active = predictor._encode_pixels, SimpleNamespace(order=[], most_at_once=0), []

    def slow(pixels):
        active.append(1)
        runs.most_at_once = max(runs.most_at_once, len(active))
        runs.order.append(threading.current_thread().name)
        time.sleep(seconds)
        if first_until is not None and len(runs.order) == 1:
            wait_until(first_until)
        active.pop()
        return real(pixels)

    monkeypatch.setattr(predictor, "_encode_pixels", slow)
    return runs


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_background_encoding_gives_way_to_requests_and_never_runs_two_at_once(fresh, monkeypatch):
    predictor = fresh
    # The first background run lasts until the user's request waits for the encoder.
    runs = slowed_encoder(predictor, monkeypatch, 0.2, first_until=lambda: predictor.encoder_lock._waiting == 1)
    examples = [random_image(60, 80, seed=seed) for seed in (60, 61, 62)]
    job = predictor.encode_in_background(examples)
    assert job.daemon
    wait_until(lambda: runs.order)  # the first background image is in the encoder
    assert predictor.encoder_busy
    user = threading.Thread(target=predictor.encode, args=(random_image(60, 80, seed=63),), name="user")
    same = threading.Thread(target=predictor.encode, args=(examples[0].copy(),), name="same")
    user.start()
    same.start()  # the image the background job is encoding: waits for that run instead of starting another
    for thread in (user, same, job):
        thread.join()
    # The user's image waited behind the one background run already going, not behind the other two.
    assert runs.order == ["encode-in-background", "user", "encode-in-background", "encode-in-background"]
    assert runs.most_at_once == 1
    assert predictor.encoder_runs == 4 and not predictor.encoder_busy  # none of the five requests encoded twice
    for example in examples:
        predictor.encode(example)
    assert predictor.encoder_runs == 4


def test_a_waiting_request_goes_before_a_background_run_that_waited_longer():
    lock, order = EncoderLock(), []

    def run(name: str, background: bool) -> None:
        with lock.background() if background else contextlib.nullcontext():
            with lock:
                order.append(name)

    with lock:
        waiting = threading.Thread(target=run, args=("background", True))
        waiting.start()
        time.sleep(0.1)  # the background run is waiting first
        request = threading.Thread(target=run, args=("request", False))
        request.start()
        wait_until(lambda: lock._waiting == 1)
        assert lock.busy
    for thread in (waiting, request):
        thread.join()
    assert order == ["request", "background"] and not lock.busy


def test_background_encoding_logs_a_failure_in_one_line_and_goes_on(fresh, tmp_path, caplog):
    predictor = fresh
    images = [random_image(50, 50, seed=70), tmp_path / "missing.png", random_image(50, 50, seed=71)]
    with caplog.at_level(logging.INFO, logger="sam_demo"):
        predictor.encode_in_background(images).join()
    failures = [r for r in caplog.records if r.name.startswith("sam_demo") and r.levelno == logging.WARNING]
    assert len(failures) == 1 and "missing.png" in failures[0].getMessage() and not failures[0].exc_info
    assert predictor.encoder_runs == 2 and len(predictor.cache) == 2
    assert "Encoded 2 of 3 images in the background" in caplog.text


def test_background_encoding_never_evicts_from_a_full_cache(fresh, monkeypatch):
    monkeypatch.setattr(fresh, "cache", EmbeddingCache(1))
    user = fresh.encode(random_image(40, 40, seed=80))
    fresh.encode_in_background([random_image(40, 40, seed=81)]).join()
    assert fresh.encoder_runs == 1 and user.key in fresh.cache
