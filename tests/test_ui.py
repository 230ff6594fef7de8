"""The app's handlers, called directly (as Gradio calls them) on a tiny model loaded from disk."""

import dataclasses
import io
import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote

import gradio as gr
import numpy as np
import pytest
from helpers import JPEG_TOLERANCE, png_declaring_size, random_image
from PIL import Image

from sam_demo.app import session as sessions
from sam_demo.app import ui
from sam_demo.app.downloads import Downloads
from sam_demo.app.session import Session
from sam_demo.app.ui import SegmentationApp, example_images, model_banner
from sam_demo.app.uploads import MAX_UPLOAD_MB
from sam_demo.core.predictor import Prediction
from sam_demo.core.transforms import resized_size
from sam_demo.drawing.viz import MASK_COLOURS, REGION_COLOURS

EXAMPLE = example_images()[1]  # a portrait (taller than wide) phantom
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(predictor, tmp_path):
    return SegmentationApp(predictor, Downloads(tmp_path / "downloads"))


def select(x, y):
    return gr.SelectData(None, {"index": [x, y], "value": None})


def outputs(app, result):
    """What the page shows after an event, and the files "Prepare downloads" would write then."""
    assert len(result) == len(ui.OUTPUTS)
    values = dict(zip(["session", "canvas"], result))
    # The page is sent files, which Gradio serves as they are: the image (a JPEG) and the layer over it (a PNG)
    # together show what `canvas` draws, within a few levels of it on average; the tests check the drawn pixels
    # exactly. (Read first: the files written next may push them out of a small downloads folder.)
    if values["canvas"] is not None:
        sent = shown_canvas(values["canvas"])
        values["canvas"] = app.canvas(values["session"])
        assert np.abs(sent - values["canvas"]).mean() <= JPEG_TOLERANCE
    details = app.details(values["session"])  # the event Gradio chains after each one
    assert len(details) == len(ui.DETAILS)
    values.update(zip(["candidates", "summary"], details))
    assert all(button["value"] is None and not button["interactive"] for button in details[2:])
    files = app.download_files(values["session"]) or [None] * 3
    values.update(zip(["mask_file", "union_file", "overlay_file"], files))
    return values


def served_file(url: str) -> Path:
    """The file behind one of the canvas's addresses (`gradio_api/file=<path>`)."""
    assert url.startswith("gradio_api/file=")
    return Path(unquote(url.removeprefix("gradio_api/file=")))


def shown_canvas(value: dict) -> np.ndarray:
    """The canvas as the page composes it from its value: the image, and the layer where its style places it."""
    shown = np.asarray(Image.open(served_file(value["base"])).convert("RGB")).astype(float)
    assert shown.shape[:2] == (value["height"], value["width"])
    if value["layer"] is not None:
        layer = np.asarray(Image.open(served_file(value["layer"])).convert("RGBA")).astype(float)
        place = dict(re.findall(r"(left|top|width|height):([0-9.]+)%", value["layer_style"]))
        left, top = (
            round(float(place[side]) / 100 * size) for side, size in (("left", shown.shape[1]), ("top", shown.shape[0]))
        )
        assert layer.shape[1] == round(float(place["width"]) / 100 * shown.shape[1])
        assert layer.shape[0] == round(float(place["height"]) / 100 * shown.shape[0])
        window = shown[top : top + layer.shape[0], left : left + layer.shape[1]]
        opacity = layer[..., 3:] / 255
        window[:] = layer[..., :3] * opacity + window * (1 - opacity)
    return np.rint(shown).astype(int)


def loaded(app, path=EXAMPLE):
    return outputs(app, app.upload(path, Session(), progress=lambda *a, **k: None))


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
    result = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200)))
    state = result["session"]
    assert state.points == ((120.0, 200.0),) and state.labels == (1,)
    # One click: three candidates, the best one shown, each captioned with its predicted IoU.
    assert len(result["candidates"]) == 3
    assert state.shown == int(np.argmax(state.prediction.iou_scores))
    scores = np.clip(state.prediction.iou_scores, 0, 1)  # as people read them (the raw ones can stray outside)
    assert result["candidates"][0][1].startswith(f"1 · {scores[0]:.2f}")
    assert f"Predicted IoU: {scores[state.shown]:.2f}" in result["summary"]
    # The shown mask is exactly what SamPredictor returns for the same prompt.
    predictor.set_image(state.image)
    expected = predictor.predict(points=[(120, 200)], labels=[1]).best
    assert np.array_equal(state.shown_mask, expected)
    # One lesion: the label mask is 1 on it, the union 255.
    label_png = np.asarray(Image.open(result["mask_file"]))
    assert label_png.shape == (height, width) and set(np.unique(label_png)) <= {0, 1}
    assert np.array_equal(label_png == 1, expected)
    assert np.array_equal(np.asarray(Image.open(result["union_file"])), expected * np.uint8(255))
    assert np.array_equal(np.asarray(Image.open(result["overlay_file"])), result["canvas"])
    # The page shows the image itself (no display copy below `DISPLAY_SIDE`), drawn as the download is.
    area = int(expected.sum())
    assert f"{area:,} px" in result["summary"]


def test_later_clicks_refine_the_shown_mask(app, predictor):
    state = loaded(app)["session"]
    state = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200)))["session"]
    first = state.prediction
    state = outputs(app, app.click(state, sessions.NEGATIVE, sessions.AUTO, True, select(30, 40)))["session"]
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
    state = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, False, select(120, 200)))["session"]
    state = outputs(app, app.click(state, sessions.NEGATIVE, sessions.AUTO, False, select(30, 40)))["session"]
    predictor.set_image(state.image)
    expected = predictor.predict(points=[(120, 200), (30, 40)], labels=[1, 0], multimask_output=False)
    np.testing.assert_allclose(state.prediction.low_res_logits, expected.low_res_logits, atol=1e-5)


def test_box_by_two_clicks_then_undo_and_clear(app):
    state = loaded(app)["session"]
    half = outputs(app, app.click(state, sessions.BOX, sessions.AUTO, True, select(50, 60)))
    assert half["session"].corner == (50.0, 60.0) and half["session"].prediction is None
    assert "other corner" in half["summary"]
    assert not np.array_equal(half["canvas"], state.image)  # the first corner is drawn
    boxed = outputs(app, app.click(half["session"], sessions.BOX, sessions.AUTO, True, select(300, 20)))
    assert boxed["session"].box == (50.0, 20.0, 301.0, 61.0)
    assert len(boxed["session"].prediction.masks) == 1
    with_point = outputs(app, app.click(boxed["session"], sessions.POSITIVE, sessions.AUTO, True, select(100, 40)))
    assert with_point["session"].box is not None and with_point["session"].points
    undone = outputs(app, app.undo(with_point["session"]))["session"]
    assert undone.points == () and undone.box == boxed["session"].box
    assert np.array_equal(undone.shown_mask, boxed["session"].shown_mask)
    undone = outputs(app, app.undo(undone))["session"]
    assert undone.box is None and undone.corner == (50.0, 60.0)
    cleared = outputs(app, app.clear(with_point["session"]))
    assert cleared["session"].prediction is None and not cleared["session"].has_prompt
    assert cleared["session"].image is not None


def test_candidate_choice_and_candidate_mode(app):
    state = loaded(app)["session"]
    state = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200)))["session"]
    other = (state.shown + 1) % 3
    chosen = outputs(app, app.choose_candidate(state, gr.SelectData(None, {"index": other, "value": None})))
    assert chosen["session"].shown == other
    assert chosen["candidates"][other][1].endswith("✓")
    assert sum(label.endswith("✓") for _, label in chosen["candidates"]) == 1
    single = outputs(app, app.change_candidates(state, sessions.ALWAYS_ONE, True))["session"]
    assert len(single.prediction.masks) == 1


def test_ground_truth_scores_the_shown_mask(app, tmp_path):
    state = loaded(app, example_images()[0])["session"]
    state = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(240, 180)))["session"]
    mask_path = example_images()[0].replace(".png", "_mask.png")
    scored = outputs(app, app.ground_truth(state, mask_path))
    assert "Dice" in scored["summary"]
    wrong_size = tmp_path / "small_mask.png"
    Image.new("L", (10, 10)).save(wrong_size)
    with pytest.warns(UserWarning, match="10x10"):
        kept = outputs(app, app.ground_truth(state, str(wrong_size)))
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
        app.upload(str(path), Session(), progress=lambda *a, **k: None)
    message = str(raised.value)
    assert path.name in message and len(message) < 300


def test_bad_clicks_warn_and_keep_the_session(app):
    with pytest.warns(UserWarning, match="Upload an image"):
        result = outputs(app, app.click(Session(), sessions.POSITIVE, sessions.AUTO, True, select(5, 5)))
    assert result["session"].image is None
    state = loaded(app)["session"]
    with pytest.warns(UserWarning, match="outside"):
        result = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(5000, 5)))
    assert result["session"] is state
    half = outputs(app, app.click(state, sessions.BOX, sessions.AUTO, True, select(40, 40)))["session"]
    with pytest.warns(UserWarning, match="no area"):
        result = outputs(app, app.click(half, sessions.BOX, sessions.AUTO, True, select(40, 90)))
    assert result["session"].corner == (40.0, 40.0) and result["session"].box is None


def test_a_click_on_an_image_that_left_the_cache_says_it_encodes_again(app, predictor, capsys):
    state = loaded(app)["session"]
    for seed in range(predictor.cache.max_items):  # other users' images push this one out
        predictor.encode(random_image(64, 80, seed=seed))
    assert state.image_key not in predictor.cache
    runs = predictor.encoder_runs
    capsys.readouterr()
    result = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200)))
    assert "encoding it again" in capsys.readouterr().out  # gr.Info outside a request prints
    assert result["session"].prediction is not None and predictor.encoder_runs == runs + 1
    capsys.readouterr()
    outputs(app, app.click(result["session"], sessions.POSITIVE, sessions.AUTO, True, select(130, 200)))
    assert "encoding it again" not in capsys.readouterr().out and predictor.encoder_runs == runs + 1


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
        state = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(x, 200)))["session"]
    assert hashed == [] and state.prediction is not None


def test_downloads_are_bounded_and_shared_by_identical_results(predictor, tmp_path):
    app = SegmentationApp(predictor, Downloads(tmp_path, capacity=3))
    state = loaded(app)["session"]
    files = []
    for x in (100, 110, 120, 130, 140):
        result = outputs(app, app.click(sessions.clear(state), sessions.POSITIVE, sessions.AUTO, True, select(x, 200)))
        files.append(result["mask_file"])
    again = outputs(app, app.click(sessions.clear(state), sessions.POSITIVE, sessions.AUTO, True, select(140, 200)))
    assert again["mask_file"] == files[-1]  # the same result is not written twice
    assert len(list(tmp_path.iterdir())) <= 3
    assert Path(files[-1]).is_file()


def test_palette_images_with_the_same_pixels_but_other_colours_are_other_files(tmp_path):
    downloads = Downloads(tmp_path)
    first, second = (Image.fromarray(np.eye(4, dtype=np.uint8), mode="P") for _ in range(2))
    first.putpalette([0, 0, 0, 255, 0, 0])
    second.putpalette([0, 0, 0, 0, 0, 255])
    paths = [downloads.write({"layer.png": image})["layer.png"] for image in (first, second, first)]
    assert paths[0] != paths[1] and paths[2] == paths[0]
    assert Image.open(paths[1]).convert("RGB").getpixel((0, 0)) == (0, 0, 255)


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


def test_fifty_clicks_and_four_lesions_on_a_12_mp_image_stay_within_the_session_budget(app, predictor):
    height, width = 3000, 4000
    encoded = predictor.encode(random_image(height, width))
    state = sessions.new_image(encoded.image, "big", encoded.key)
    state = sessions.with_ground_truth(state, np.ones((height, width), bool))
    rng = np.random.default_rng(0)
    for step in range(50):
        if step and step % 10 == 0:
            state = sessions.next_lesion(state, app.full_mask(state))
        x, y = float(rng.integers(width)), float(rng.integers(height))
        mode = sessions.NEGATIVE if step % 3 == 2 else sessions.POSITIVE
        state = app.prompt(state, x, y, mode, sessions.AUTO, True)
    assert len(state.history) == sessions.MAX_UNDO and state.lesion_count == 4
    assert reachable_nbytes(state) <= sessions.memory_budget(height, width)


def test_undo_restores_exactly_what_was_shown(app):
    state = loaded(app)["session"]
    shown = []
    for x, y, mode in [(120, 200, sessions.POSITIVE), (30, 40, sessions.NEGATIVE), (200, 300, sessions.POSITIVE)]:
        result = outputs(app, app.click(state, mode, sessions.AUTO, True, select(x, y)))
        state = result["session"]
        if not shown:  # show another candidate than the best, so the next click refines that one
            other = gr.SelectData(None, {"index": (state.shown + 1) % 3, "value": None})
            result = outputs(app, app.choose_candidate(state, other))
            state = result["session"]
        shown.append((state, result["canvas"]))
    for earlier, canvas in reversed(shown[:-1]):
        result = outputs(app, app.undo(state))
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
        outputs(app, app.click(Session(), sessions.POSITIVE, sessions.AUTO, True, select(5, 5)))


def test_predicted_iou_is_shown_within_0_and_1(app):
    state = loaded(app)["session"]
    height, width = state.image.shape[:2]
    masks = np.zeros((3, height, width), bool)
    masks[:, :10, :10] = True
    scores = np.array([1.15, -0.2, 0.5], np.float32)
    state = sessions.with_prediction(
        sessions.click(state, 5, 5, sessions.POSITIVE), Prediction(masks, scores, np.zeros((3, 256, 256))), None
    )
    result = outputs(app, app.render(state))
    assert "Predicted IoU: 1.00" in result["summary"]
    assert [label for _, label in result["candidates"]] == ["1 · 1.00 ✓", "2 · 0.00", "3 · 0.50"]


def test_an_upload_over_the_size_limit_is_refused_naming_the_limit(app, tmp_path):
    big = tmp_path / "huge.png"
    big.write_bytes(b"\0" * (MAX_UPLOAD_MB * 2**20 + 1))
    with pytest.raises(gr.Error) as raised:
        app.upload(str(big), Session(), progress=lambda *a, **k: None)
    assert "huge.png" in raised.value.message and f"{MAX_UPLOAD_MB} MB" in raised.value.message


def test_bad_input_is_logged_as_one_line_without_a_traceback(app, tmp_path, caplog):
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    with caplog.at_level(logging.INFO, logger="sam_demo.app"), pytest.raises(gr.Error) as raised:
        app.upload(str(junk), Session(), progress=lambda *a, **k: None)
    assert not raised.value.print_exception  # Gradio prints tracebacks only for real bugs
    [record] = caplog.records
    assert "junk.png" in record.getMessage() and "\n" not in record.getMessage() and record.exc_info is None


@pytest.mark.parametrize("height, width", [(1, 60), (3, 60), (60, 1), (60, 3)])
def test_images_one_or_three_pixels_thin_are_segmented_upright(app, predictor, tmp_path, height, width):
    path = tmp_path / "thin.png"
    Image.fromarray(random_image(height, width)).save(path)
    state = outputs(app, app.upload(str(path), Session(), progress=lambda *a, **k: None))["session"]
    assert predictor.encode(state.image, key=state.image_key).resized_size == resized_size((height, width))
    result = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(width - 1, height - 1)))
    assert result["session"].shown_mask.shape == (height, width)
    assert np.asarray(Image.open(result["mask_file"])).shape == (height, width)


def test_an_image_too_thin_for_sam_is_refused_with_a_short_error(app, tmp_path):
    path = tmp_path / "sliver.png"
    Image.fromarray(random_image(1, 2000)).save(path)
    with pytest.raises(gr.Error) as raised:
        app.upload(str(path), Session(), progress=lambda *a, **k: None)
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


def test_files_swept_by_gradio_are_written_again_and_reused_ones_are_touched(tmp_path):
    downloads = Downloads(tmp_path, capacity=3)
    result = result_files(0)
    paths = downloads.write(result)
    old = time.time() - 3600
    for path in paths.values():
        os.utime(path, (old, old))
    assert downloads.write(result) == paths  # shown again: still there, and marked as just used
    assert all(os.stat(path).st_mtime > old + 3000 for path in paths.values())
    os.remove(paths["mask.png"])  # Gradio's cache sweep deletes files, one by one, by age
    downloads.write(result)
    np.testing.assert_array_equal(np.asarray(Image.open(paths["mask.png"])), result["mask.png"])


def test_the_downloads_folder_is_in_gradios_cache_and_deleted_at_exit(tmp_path):
    script = (
        "import numpy as np\n"
        "from sam_demo.app.downloads import Downloads\n"
        "downloads = Downloads()\n"
        "downloads.write({'mask.png': np.zeros((4, 4), np.uint8)})\n"
        "print(downloads.folder)\n"
    )
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio-cache")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    # Served by Gradio as it is: no copy, no second encoding.
    assert folder.parent == tmp_path / "gradio-cache"
    assert folder.name.startswith("sam-demo-downloads-") and not folder.exists()


def synthetic_lesion(state: Session, x: float, y: float, rows: slice, cols: slice, score: float) -> Session:
    """`state` after a click at (x, y) whose one mask is the rectangle `rows` x `cols`."""
    mask = np.zeros(state.image.shape[:2], bool)
    mask[rows, cols] = True
    prediction = Prediction(mask[np.newaxis], np.array([score], np.float32), np.zeros((1, 256, 256), np.float32))
    return sessions.with_prediction(sessions.click(state, x, y, sessions.POSITIVE), prediction, None)


def blended(pixel: np.ndarray, colour: str) -> np.ndarray:
    """`pixel` after `overlay` blends `colour` into it at the default alpha of 0.5."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return np.rint(pixel * 0.5 + rgb * 0.5).astype(np.uint8)


def test_two_lesions_give_a_label_mask_the_union_and_their_own_colours(app):
    state = loaded(app)["session"]
    image = state.image
    state = synthetic_lesion(state, 30, 30, slice(10, 50), slice(10, 60), 0.9)
    kept = outputs(app, app.next_lesion(state))
    state = kept["session"]
    assert state.lesion_count == 1 and not state.has_prompt and kept["candidates"] is None
    assert "Click on lesion 2" in kept["summary"] and "Lesion 1: 2,000 px" in kept["summary"]
    assert set(np.unique(np.asarray(Image.open(kept["mask_file"])))) == {0, 1}  # downloads already have lesion 1
    state = synthetic_lesion(state, 80, 60, slice(40, 90), slice(50, 120), 0.7)
    result = outputs(app, app.render(state))

    first, second = np.zeros((2, *image.shape[:2]), bool)
    first[10:50, 10:60], second[40:90, 50:120] = True, True
    labels = np.asarray(Image.open(result["mask_file"]))
    assert labels.shape == image.shape[:2] and set(np.unique(labels)) == {0, 1, 2}
    assert np.array_equal(labels == 1, first)  # where they overlap, the earlier lesion keeps the pixels
    assert np.array_equal(labels == 2, second & ~first)
    union = np.asarray(Image.open(result["union_file"]))
    assert np.array_equal(union, (first | second) * np.uint8(255))
    summary = result["summary"]
    assert "Predicted IoU: 0.70" in summary and "lesion 2's mask" in summary
    assert "Lesion 1: 2,000 px" in summary and f"Lesion 2 (current): {(second & ~first).sum():,} px" in summary
    assert "100 px of lesion 2 overlap earlier lesions" in summary
    # The finished lesion in its own colour, the current one in the mask colour (pixels away from the outlines).
    canvas = result["canvas"]
    np.testing.assert_array_equal(canvas[20, 20], blended(image[20, 20], REGION_COLOURS[0]))
    np.testing.assert_array_equal(canvas[80, 100], blended(image[80, 100], MASK_COLOURS[0]))
    np.testing.assert_array_equal(np.asarray(Image.open(result["overlay_file"])), canvas)


def test_next_lesion_starts_a_new_prompt_set_on_the_same_embedding_and_undo_reopens_the_last(app, predictor):
    state = loaded(app)["session"]
    state = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, False, select(120, 200)))["session"]
    first = state.shown_mask
    runs = predictor.encoder_runs
    state = outputs(app, app.next_lesion(state))["session"]
    result = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, False, select(300, 400)))
    assert predictor.encoder_runs == runs  # never encoded again
    state = result["session"]
    assert state.points == ((300.0, 400.0),) and state.labels == (1,)  # lesion 1's click is not part of it
    predictor.set_image(state.image)
    second = predictor.predict(points=[(300, 400)], labels=[1]).best
    np.testing.assert_array_equal(state.shown_mask, second)
    labels = np.asarray(Image.open(result["mask_file"]))
    np.testing.assert_array_equal(labels == 1, first)
    np.testing.assert_array_equal(labels == 2, second & ~first)

    emptied = outputs(app, app.undo(state))["session"]
    assert emptied.lesion_count == 1 and emptied.prediction is None
    reopened = outputs(app, app.undo(emptied))
    state = reopened["session"]
    assert state.lesion_count == 0 and state.lesion_map is None and state.points == ((120.0, 200.0),)
    np.testing.assert_array_equal(state.shown_mask, first)
    np.testing.assert_array_equal(np.asarray(Image.open(reopened["mask_file"])), first.astype(np.uint8))


def test_next_lesion_needs_a_mask_and_clear_this_lesion_keeps_the_others(app):
    state = loaded(app)["session"]
    with pytest.warns(UserWarning, match="Segment this lesion first"):
        result = outputs(app, app.next_lesion(state))
    assert result["session"] is state
    state = sessions.next_lesion(synthetic_lesion(state, 30, 30, slice(10, 50), slice(10, 60), 0.9))
    state = synthetic_lesion(state, 80, 60, slice(40, 90), slice(50, 120), 0.7)
    cleared = outputs(app, app.clear_lesion(state))
    assert cleared["session"].lesion_count == 1 and cleared["session"].prediction is None
    assert set(np.unique(np.asarray(Image.open(cleared["mask_file"])))) == {0, 1}
    restored = outputs(app, app.undo(cleared["session"]))["session"]  # decodes lesion 2's prompts again
    assert restored.points == ((80, 60),) and restored.lesion_count == 1
    everything = outputs(app, app.clear(state))
    assert everything["session"].lesion_map is None and everything["mask_file"] is None
    assert "Click on the tumour" in everything["summary"]


def test_ground_truth_scores_all_lesions_together(app, tmp_path):
    state = loaded(app)["session"]
    state = sessions.next_lesion(synthetic_lesion(state, 30, 30, slice(10, 50), slice(10, 60), 0.9))
    state = synthetic_lesion(state, 80, 60, slice(40, 90), slice(50, 120), 0.7)
    truth = np.zeros(state.image.shape[:2], np.uint8)
    truth[10:50, 10:60] = truth[40:90, 50:120] = 255
    path = tmp_path / "truth.png"
    Image.fromarray(truth).save(path)
    summary = outputs(app, app.ground_truth(state, str(path)))["summary"]
    assert "(all lesions together): Dice 1.000, IoU 1.000" in summary


def test_a_click_answers_with_the_canvas_and_writes_the_downloads_only_when_asked(app, tmp_path):
    state = loaded(app)["session"]
    result = app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200))
    # What the user waits for: the session and the canvas (the image, and the layer of mask and prompts over it).
    assert len(result) == 2 and served_file(result[1]["base"]).suffix == ".jpg"
    layer = Image.open(served_file(result[1]["layer"]))
    assert layer.format == "PNG" and layer.mode == "P"  # a byte per pixel, as the click route sends it
    _, summary, *buttons = app.details(result[0])
    assert "Predicted IoU" in summary
    # The previous mask's files are no longer offered, and none of the new one's are written yet.
    assert all(button["value"] is None and button["interactive"] is False for button in buttons)
    written = lambda: {p.name for p in Path(tmp_path / "downloads").rglob("*.png")}  # noqa: E731
    assert not any(name.endswith(("_labels.png", "_union.png", "_overlay.png")) for name in written())
    buttons = app.prepare_downloads(result[0])
    assert all(button["interactive"] for button in buttons)
    names = [Path(button["value"]).name for button in buttons]
    assert names == [f"{state.name}_{kind}.png" for kind in ("labels", "union", "overlay")]
    assert all(Path(button["value"]).is_file() for button in buttons)


def test_preparing_downloads_without_a_mask_says_so(app, monkeypatch):
    state = loaded(app)["session"]
    warnings = []
    monkeypatch.setattr(ui, "warn", warnings.append)
    buttons = app.prepare_downloads(state)
    assert all(button["value"] is None and button["interactive"] is False for button in buttons)
    assert warnings == ["Nothing to download yet: click on a tumour first."]


def test_candidate_thumbnails_resize_the_image_once(app, monkeypatch):
    state = loaded(app)["session"]
    resized = []
    real = ui._thumbnail
    monkeypatch.setattr(ui, "_thumbnail", lambda image: resized.append(image.shape) or real(image))
    for x in (120, 130, 140):
        state = sessions.clear(state)
        state = outputs(app, app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(x, 200)))["session"]
    assert len(resized) <= 1


def test_a_large_image_is_shown_as_a_display_copy_with_full_size_prompts_masks_and_downloads(app, predictor, tmp_path):
    height, width = 1200, 1600  # shown at 768 x 1024
    path = tmp_path / "large.png"
    Image.fromarray(random_image(height, width)).save(path)
    state = loaded(app, str(path))["session"]
    display_height, display_width = sessions.display_size(height, width)
    assert state.display.shape[:2] == (display_height, display_width) == (768, 1024)
    result = outputs(app, app.click(state, sessions.POSITIVE, sessions.ALWAYS_THREE, False, select(511, 300)))
    state = result["session"]
    # Display pixel 511 covers image pixels 798.4 to 800: the prompt is the image pixel under its centre.
    assert state.points == ((799.0, 469.0),)
    assert result["canvas"].shape[:2] == (768, 1024) and state.shown_mask.shape == (768, 1024)
    # The download is exactly SamPredictor's full-size mask for the same prompt; the overlay is full size too.
    expected = predictor.decode(predictor.encode(state.image), points=[(799, 469)], labels=[1]).masks[state.shown]
    np.testing.assert_array_equal(np.asarray(Image.open(result["mask_file"])) == 1, expected)
    assert np.asarray(Image.open(result["overlay_file"])).shape == (height, width, 3)
    # The summary counts on the copy shown (full-size counting took hundreds of ms per 12 MP click), and says so.
    approximate = int(re.search(r"Lesion 1 \(current\): about ([\d,]+) px", result["summary"])[1].replace(",", ""))
    assert approximate == pytest.approx(int(expected.sum()), rel=0.02)
    assert "Counted on the 1024-px copy shown; the downloads are exact." in result["summary"]
    # A finished lesion is kept at full size too.
    state = outputs(app, app.next_lesion(state))["session"]
    np.testing.assert_array_equal(state.lesion_map == 1, expected)


def test_the_same_upload_reported_twice_keeps_the_clicks_made_meanwhile(app):
    state = loaded(app)["session"]
    clicked = app.click(state, sessions.POSITIVE, sessions.AUTO, True, select(120, 200))[0]
    again = app.upload(clicked.source, clicked, progress=lambda *a, **k: None)
    assert all(isinstance(value, type(gr.skip())) for value in again)  # nothing on the page changes
    other = outputs(app, app.upload(example_images()[0], clicked, progress=lambda *a, **k: None))["session"]
    assert other.source == example_images()[0] and other.prediction is None  # a new image starts afresh
