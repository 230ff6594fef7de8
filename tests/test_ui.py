"""The app's handlers, called directly (as Gradio calls them) on a tiny model loaded from disk."""

import io
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from helpers import png_declaring_size
from PIL import Image

from sam_demo.app import session as sessions
from sam_demo.app.session import Session
from sam_demo.app.ui import SegmentationApp, example_images, model_banner

EXAMPLE = example_images()[1]  # a portrait (taller than wide) phantom


@pytest.fixture
def app(predictor, tmp_path):
    return SegmentationApp(predictor, download_dir=tmp_path)


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
    result = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, select(120, 200)))
    state = result["session"]
    assert state.points == ((120.0, 200.0),) and state.labels == (1,)
    # One click: three candidates, the best one shown, each captioned with its predicted IoU.
    assert len(result["candidates"]) == 3
    assert state.shown == int(np.argmax(state.prediction.iou_scores))
    assert f"IoU {state.prediction.iou_scores[0]:.2f}" in result["candidates"][0][1]
    assert f"Predicted IoU: {state.prediction.iou_scores[state.shown]:.2f}" in result["summary"]
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
    state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, select(120, 200)))["session"]
    first = state.prediction
    state = outputs(app.click(state, sessions.NEGATIVE, sessions.AUTO, select(30, 40)))["session"]
    assert state.labels == (1, 0) and len(state.prediction.masks) == 1  # Auto: one mask for two points
    predictor.set_image(state.image)
    expected = predictor.predict(
        points=[(120, 200), (30, 40)],
        labels=[1, 0],
        mask_input=first.low_res_logits[first.best_index],
        multimask_output=False,
    )
    np.testing.assert_allclose(state.prediction.low_res_logits, expected.low_res_logits, atol=1e-5)


def test_box_by_two_clicks_then_undo_and_clear(app):
    state = loaded(app)["session"]
    half = outputs(app.click(state, sessions.BOX, sessions.AUTO, select(50, 60)))
    assert half["session"].corner == (50.0, 60.0) and half["session"].prediction is None
    assert "other corner" in half["summary"]
    assert not np.array_equal(half["canvas"], state.image)  # the first corner is drawn
    boxed = outputs(app.click(half["session"], sessions.BOX, sessions.AUTO, select(300, 20)))
    assert boxed["session"].box == (50.0, 20.0, 301.0, 61.0)
    assert len(boxed["session"].prediction.masks) == 1
    with_point = outputs(app.click(boxed["session"], sessions.POSITIVE, sessions.AUTO, select(100, 40)))
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
    state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, select(120, 200)))["session"]
    other = (state.shown + 1) % 3
    chosen = outputs(app.choose_candidate(state, gr.SelectData(None, {"index": other, "value": None})))
    assert chosen["session"].shown == other
    assert "(shown)" in chosen["candidates"][other][1]
    single = outputs(app.change_candidates(state, sessions.ALWAYS_ONE))["session"]
    assert len(single.prediction.masks) == 1


def test_ground_truth_scores_the_shown_mask(app, tmp_path):
    state = loaded(app, example_images()[0])["session"]
    state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, select(240, 180)))["session"]
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
        result = outputs(app.click(Session(), sessions.POSITIVE, sessions.AUTO, select(5, 5)))
    assert result["session"].image is None
    state = loaded(app)["session"]
    with pytest.warns(UserWarning, match="outside"):
        result = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, select(5000, 5)))
    assert result["session"] is state
    half = outputs(app.click(state, sessions.BOX, sessions.AUTO, select(40, 40)))["session"]
    with pytest.warns(UserWarning, match="no area"):
        result = outputs(app.click(half, sessions.BOX, sessions.AUTO, select(40, 90)))
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
        state = outputs(app.click(state, sessions.POSITIVE, sessions.AUTO, select(x, 200)))["session"]
    assert hashed == [] and state.prediction is not None


def test_downloads_are_bounded_and_shared_by_identical_results(app, monkeypatch):
    import sam_demo.app.ui

    monkeypatch.setattr(sam_demo.app.ui, "MAX_DOWNLOADS", 3)
    state = loaded(app)["session"]
    files = []
    for x in (100, 110, 120, 130, 140):
        result = outputs(app.click(sessions.clear(state), sessions.POSITIVE, sessions.AUTO, select(x, 200)))
        files.append(result["mask_file"])
    again = outputs(app.click(sessions.clear(state), sessions.POSITIVE, sessions.AUTO, select(140, 200)))
    assert again["mask_file"] == files[-1]  # the same result is not written twice
    assert len(list(app.download_dir.iterdir())) <= 3
    assert Path(files[-1]).is_file()
