"""The app's handlers, called directly (as Gradio calls them) on a tiny model loaded from disk."""

import dataclasses
import io
import logging
import subprocess
import sys
import threading
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from helpers import png_declaring_size, random_image
from PIL import Image

from sam_demo.app import session as sessions
from sam_demo.app import ui
from sam_demo.app.downloads import Downloads
from sam_demo.app.session import Session
from sam_demo.app.ui import SegmentationApp, example_images, model_banner
from sam_demo.app.uploads import MAX_UPLOAD_MB
from sam_demo.core.predictor import Prediction
from sam_demo.core.transforms import resized_size

EXAMPLE = example_images()[1]  # a portrait (taller than wide) phantom
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(predictor, tmp_path):
    return SegmentationApp(predictor, Downloads(tmp_path / "downloads"))


def select(x, y):
    return gr.SelectData(None, {"index": [x, y], "value": None})


def outputs(result):
    keys = ["session", "canvas", "candidates", "summary", "mask_file", "overlay_file"]
    return dict(zip(keys, result))


def loaded(app, path=EXAMPLE):
    return outputs(app.upload(path, progress=lambda *a, **k: None))


def test_upload_shows_the_image_and_encodes_it_once(app, predictor):
    runs = predictor.encoder_runs
    first = loaded(app)
    image = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    assert np.array_equal(first["canvas"], image)  # no prompt yet: the plain image
    assert "Click on the tumour" in first["summary"]
    loaded(app)
    assert predictor.encoder_runs <= runs + 1


def test_point_click_gives_overlay_scores_and_downloads(app, predictor):
    state = loaded(app)["session"]
    height, width = state.image.shape[:2]
    result = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200)))
    state = result["session"]
    assert state.points == ((120.0, 200.0),) and state.labels == (1,)
    # One click: three candidates, the best one shown, each captioned with its predicted IoU.
    assert len(result["candidates"]) == 3
    assert state.shown == int(np.argmax(state.prediction.iou_scores))
    scores = np.clip(state.prediction.iou_scores, 0, 1)  # as people read them (the raw ones can stray outside)
    assert f"IoU {scores[0]:.2f}" in result["candidates"][0][1]
    assert f"Predicted IoU: {scores[state.shown]:.2f}" in result["summary"]
    # The shown mask is exactly what SamPredictor returns for the same prompt.
    predictor.set_image(state.image)
    expected = predictor.predict(points=[(120, 200)], labels=[1]).best
    assert np.array_equal(state.shown_mask, expected)
    mask_png = np.asarray(Image.open(result["mask_file"]))
    assert mask_png.shape == (height, width) and set(np.unique(mask_png)) <= {0, 255}
    assert np.array_equal(mask_png == 255, expected)
    assert np.array_equal(np.asarray(Image.open(result["overlay_file"])), result["canvas"])
    area = int(expected.sum())
    assert f"{area:,} px" in result["summary"]


def test_later_clicks_refine_the_shown_mask(app, predictor):
    state = loaded(app)["session"]
    state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200)))["session"]
    first = state.prediction
    state = outputs(app.click(state, sessions.NEGATIVE, sessions.AUTO, True, select(30, 40)))["session"]
    assert state.labels == (1, 0) and len(state.prediction.masks) == 1  # Auto: one mask for two points
    predictor.set_image(state.image)
    expected = predictor.predict(
        points=[(120, 200), (30, 40)],
        labels=[1, 0],
        mask_input=first.low_res_logits[first.best_index],
        multimask_output=False,
    )
    np.testing.assert_allclose(state.prediction.low_res_logits, expected.low_res_logits, atol=1e-5)


def test_with_mask_feedback_off_a_click_segments_from_the_clicks_alone(app, predictor):
    state = loaded(app)["session"]
    state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, False, select(120, 200)))["session"]
    state = outputs(app.click(state, sessions.NEGATIVE, sessions.AUTO, False, select(30, 40)))["session"]
    predictor.set_image(state.image)
    expected = predictor.predict(points=[(120, 200), (30, 40)], labels=[1, 0], multimask_output=False)
    np.testing.assert_allclose(state.prediction.low_res_logits, expected.low_res_logits, atol=1e-5)


def test_box_by_two_clicks_then_undo_and_clear(app):
    state = loaded(app)["session"]
    half = outputs(app.click(state, sessions.BOX, sessions.AUTO, True, select(50, 60)))
    assert half["session"].corner == (50.0, 60.0) and half["session"].prediction is None
    assert "other corner" in half["summary"]
    assert not np.array_equal(half["canvas"], state.image)  # the first corner is drawn
    boxed = outputs(app.click(half["session"], sessions.BOX, sessions.AUTO, True, select(300, 20)))
    assert boxed["session"].box == (50.0, 20.0, 301.0, 61.0)
    assert len(boxed["session"].prediction.masks) == 1
    with_point = outputs(app.click(boxed["session"], sessions.POSITIVE, sessions.AUTO, True, select(100, 40)))
    assert with_point["session"].box is not None and with_point["session"].points
    undone = outputs(app.undo(with_point["session"]))["session"]
    assert undone.points == () and undone.box == boxed["session"].box
    assert np.array_equal(undone.shown_mask, boxed["session"].shown_mask)
    undone = outputs(app.undo(undone))["session"]
    assert undone.box is None and undone.corner == (50.0, 60.0)
    cleared = outputs(app.clear(with_point["session"]))
    assert cleared["session"].prediction is None and not cleared["session"].has_prompt
    assert cleared["session"].image is not None


def test_candidate_choice_and_candidate_mode(app):
    state = loaded(app)["session"]
    state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200)))["session"]
    other = (state.shown + 1) % 3
    chosen = outputs(app.choose_candidate(state, gr.SelectData(None, {"index": other, "value": None})))
    assert chosen["session"].shown == other
    assert "(shown)" in chosen["candidates"][other][1]
    single = outputs(app.change_candidates(state, sessions.ALWAYS_ONE, True))["session"]
    assert len(single.prediction.masks) == 1


def test_ground_truth_scores_the_shown_mask(app, tmp_path):
    state = loaded(app, example_images()[0])["session"]
    state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(240, 180)))["session"]
    mask_path = example_images()[0].replace(".png", "_mask.png")
    scored = outputs(app.ground_truth(state, mask_path))
    assert "Dice" in scored["summary"]
    wrong_size = tmp_path / "small_mask.png"
    Image.new("L", (10, 10)).save(wrong_size)
    with pytest.warns(UserWarning, match="10x10"):
        kept = outputs(app.ground_truth(state, str(wrong_size)))
    assert kept["session"].ground_truth is None


@pytest.mark.parametrize("kind", ["not-an-image", "corrupt-png", "empty", "20000x20000"])
def test_bad_uploads_give_a_short_error(app, tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "not-an-image":
        path = tmp_path / "notes.txt"
        path.write_text("hello")
    elif kind == "corrupt-png":
        buffer = io.BytesIO()
        Image.new("L", (64, 64), 128).save(buffer, format="PNG")
        path.write_bytes(buffer.getvalue()[:70])
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(png_declaring_size(20000, 20000))
    with pytest.raises(gr.Error) as raised:
        app.upload(str(path), progress=lambda *a, **k: None)
    message = str(raised.value)
    assert path.name in message and len(message) < 300


def test_bad_clicks_warn_and_keep_the_session(app):
    with pytest.warns(UserWarning, match="Upload an image"):
        result = outputs(app.click(Session(), sessions.POSITIVE, sessions.AUTO, True, select(5, 5)))
    assert result["session"].image is None
    state = loaded(app)["session"]
    with pytest.warns(UserWarning, match="outside"):
        result = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(5000, 5)))
    assert result["session"] is state
    half = outputs(app.click(state, sessions.BOX, sessions.AUTO, True, select(40, 40)))["session"]
    with pytest.warns(UserWarning, match="no area"):
        result = outputs(app.click(half, sessions.BOX, sessions.AUTO, True, select(40, 90)))
    assert result["session"].corner == (40.0, 40.0) and result["session"].box is None


def test_banner_says_when_weights_are_not_fine_tuned():
    assert "not fine-tuned" in model_banner("facebook/sam-vit-large")
    assert "not fine-tuned" not in model_banner("someone/sam-busi")


def test_clicks_do_not_hash_the_image_again(app, monkeypatch):
    import sam_demo.core.predictor

    state = loaded(app)["session"]
    hashed = []
    real = sam_demo.core.predictor.image_key
    monkeypatch.setattr(sam_demo.core.predictor, "image_key", lambda image: hashed.append(1) or real(image))
    for x in (120, 130, 140):
        state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(x, 200)))["session"]
    assert hashed == [] and state.prediction is not None


def test_downloads_are_bounded_and_shared_by_identical_results(predictor, tmp_path):
    app = SegmentationApp(predictor, Downloads(tmp_path, capacity=3))
    state = loaded(app)["session"]
    files = []
    for x in (100, 110, 120, 130, 140):
        result = outputs(app.click(sessions.clear(state), sessions.POSITIVE, sessions.AUTO, True, select(x, 200)))
        files.append(result["mask_file"])
    again = outputs(app.click(sessions.clear(state), sessions.POSITIVE, sessions.AUTO, True, select(140, 200)))
    assert again["mask_file"] == files[-1]  # the same result is not written twice
    assert len(list(tmp_path.iterdir())) <= 3
    assert Path(files[-1]).is_file()


def reachable_nbytes(root) -> int:
    """Bytes of the numpy arrays reachable from `root` through dataclass fields and tuples, each buffer once."""
    seen, buffers, total, pending = set(), set(), 0, [root]
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):  # a view holds its whole base array
                base = base.base
            if id(base) not in buffers:
                buffers.add(id(base))
                total += base.nbytes
        elif dataclasses.is_dataclass(obj):
            pending.extend(getattr(obj, field.name) for field in dataclasses.fields(obj))
        elif isinstance(obj, (tuple, list)):
            pending.extend(obj)
    return total


def test_fifty_clicks_on_a_12_mp_image_stay_within_the_session_budget(app, predictor):
    height, width = 3000, 4000
    encoded = predictor.encode(random_image(height, width))
    state = sessions.new_image(encoded.image, "big", encoded.key)
    rng = np.random.default_rng(0)
    for step in range(50):
        x, y = float(rng.integers(width)), float(rng.integers(height))
        mode = sessions.NEGATIVE if step % 3 == 2 else sessions.POSITIVE
        state = app.prompt(state, x, y, mode, sessions.AUTO, True)
    assert len(state.history) == sessions.MAX_UNDO
    assert reachable_nbytes(state) <= sessions.memory_budget(height, width)


def test_undo_restores_exactly_what_was_shown(app):
    state = loaded(app)["session"]
    shown = []
    for x, y, mode in [(120, 200, sessions.POSITIVE), (30, 40, sessions.NEGATIVE), (200, 300, sessions.POSITIVE)]:
        result = outputs(app.click(state, mode, sessions.AUTO, True, select(x, y)))
        state = result["session"]
        if not shown:  # show another candidate than the best, so the next click refines that one
            other = gr.SelectData(None, {"index": (state.shown + 1) % 3, "value": None})
            result = outputs(app.choose_candidate(state, other))
            state = result["session"]
        shown.append((state, result["canvas"]))
    for earlier, canvas in reversed(shown[:-1]):
        result = outputs(app.undo(state))
        state = result["session"]
        assert state.points == earlier.points and state.shown == earlier.shown
        np.testing.assert_array_equal(state.prediction.masks, earlier.prediction.masks)
        np.testing.assert_array_equal(state.prediction.low_res_logits, earlier.prediction.low_res_logits)
        np.testing.assert_array_equal(state.prediction.iou_scores, earlier.prediction.iou_scores)
        np.testing.assert_array_equal(result["canvas"], canvas)


def test_sessions_expire_and_the_cache_is_swept_often(predictor):
    demo = ui.build_demo(predictor, "tiny")
    [state] = [block for block in demo.blocks.values() if isinstance(block, gr.State)]
    assert state.time_to_live == ui.SESSION_IDLE_S <= 3600
    assert demo.delete_cache[0] < 3600  # Gradio's cache is swept more often than hourly


def test_a_click_without_an_image_says_sessions_expire(app):
    with pytest.warns(UserWarning, match=f"forgotten after {ui.SESSION_IDLE_S // 60} minutes"):
        outputs(app.click(Session(), sessions.POSITIVE, sessions.AUTO, True, select(5, 5)))


def test_predicted_iou_is_shown_within_0_and_1(app):
    state = loaded(app)["session"]
    height, width = state.image.shape[:2]
    masks = np.zeros((3, height, width), bool)
    masks[:, :10, :10] = True
    scores = np.array([1.15, -0.2, 0.5], np.float32)
    state = sessions.with_prediction(
        sessions.click(state, 5, 5, sessions.POSITIVE), Prediction(masks, scores, np.zeros((3, 256, 256))), None
    )
    result = outputs(app.render(state))
    assert "Predicted IoU: 1.00" in result["summary"]
    assert [label.split(" · ")[1][:8] for _, label in result["candidates"]] == ["IoU 1.00", "IoU 0.00", "IoU 0.50"]


def test_an_upload_over_the_size_limit_is_refused_naming_the_limit(app, tmp_path):
    big = tmp_path / "huge.png"
    big.write_bytes(b"\0" * (MAX_UPLOAD_MB * 2**20 + 1))
    with pytest.raises(gr.Error) as raised:
        app.upload(str(big), progress=lambda *a, **k: None)
    assert "huge.png" in raised.value.message and f"{MAX_UPLOAD_MB} MB" in raised.value.message


def test_bad_input_is_logged_as_one_line_without_a_traceback(app, tmp_path, caplog):
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    with caplog.at_level(logging.INFO, logger="sam_demo.app"), pytest.raises(gr.Error) as raised:
        app.upload(str(junk), progress=lambda *a, **k: None)
    assert not raised.value.print_exception  # Gradio prints tracebacks only for real bugs
    [record] = caplog.records
    assert "junk.png" in record.getMessage() and "\n" not in record.getMessage() and record.exc_info is None


@pytest.mark.parametrize("height, width", [(1, 60), (3, 60), (60, 1), (60, 3)])
def test_images_one_or_three_pixels_thin_are_segmented_upright(app, predictor, tmp_path, height, width):
    path = tmp_path / "thin.png"
    Image.fromarray(random_image(height, width)).save(path)
    state = outputs(app.upload(str(path), progress=lambda *a, **k: None))["session"]
    assert predictor.encode(state.image, key=state.image_key).resized_size == resized_size((height, width))
    result = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(width - 1, height - 1)))
    assert result["session"].shown_mask.shape == (height, width)
    assert np.asarray(Image.open(result["mask_file"])).shape == (height, width)


def test_an_image_too_thin_for_sam_is_refused_with_a_short_error(app, tmp_path):
    path = tmp_path / "sliver.png"
    Image.fromarray(random_image(1, 2000)).save(path)
    with pytest.raises(gr.Error) as raised:
        app.upload(str(path), progress=lambda *a, **k: None)
    assert "sliver.png" in raised.value.message and len(raised.value.message) < 300


def result_files(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"mask.png": rng.integers(0, 2, (40, 60), dtype=np.uint8) * 255, "overlay.png": random_image(40, 60, seed)}


def test_downloads_written_by_many_threads_at_once(tmp_path):
    downloads = Downloads(tmp_path, capacity=4)
    results = [result_files(seed) for seed in range(12)]
    errors = []
    start = threading.Barrier(8)

    def click_many_times(worker: int) -> None:
        start.wait()
        try:
            for step in range(40):
                downloads.write(results[(worker * 5 + step) % len(results)])
        except Exception as error:  # any failure in a thread must reach the assertion
            errors.append(repr(error))

    threads = [threading.Thread(target=click_many_times, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    folders = list(tmp_path.iterdir())
    assert len(folders) == 4  # exactly the newest four results, complete, no staging leftovers
    assert all(sorted(file.name for file in folder.iterdir()) == ["mask.png", "overlay.png"] for folder in folders)


def test_a_download_handed_out_again_is_not_pruned_next(tmp_path):
    downloads = Downloads(tmp_path, capacity=3)
    first, *others = [result_files(seed) for seed in range(4)]
    downloads.write(first)
    downloads.write(others[0])
    downloads.write(others[1])
    again = downloads.write(first)  # the same result shown again, e.g. after an undo
    downloads.write(others[2])
    assert all(Path(path).is_file() for path in again.values())
    np.testing.assert_array_equal(np.asarray(Image.open(again["mask.png"])), first["mask.png"])


def test_the_downloads_folder_is_deleted_at_exit(tmp_path):
    script = (
        "import numpy as np\n"
        "from sam_demo.app.downloads import Downloads\n"
        "downloads = Downloads()\n"
        "downloads.write({'mask.png': np.zeros((4, 4), np.uint8)})\n"
        "print(downloads.folder)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    assert folder.name.startswith("sam-demo-downloads-") and not folder.exists()
