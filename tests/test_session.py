"""One user's session in the app, without Gradio: clicks, boxes, candidates, undo, clear."""

import numpy as np
import pytest

from sam_demo.app import session as sessions
from sam_demo.app.session import BOX, NEGATIVE, POSITIVE, Session
from sam_demo.core.predictor import Prediction
from sam_demo.core.prompts import PromptError

IMAGE = np.zeros((40, 60, 3), np.uint8)


def prediction(scores) -> Prediction:
    count = len(scores)
    masks = np.zeros((count, 40, 60), bool)
    for index in range(count):
        masks[index, : index + 1] = True  # candidates told apart by their first rows
    return Prediction(masks, np.asarray(scores, np.float32), np.full((count, 256, 256), float(count), np.float32))


def test_points_collect_with_their_labels():
    session = sessions.click(sessions.new_image(IMAGE, "scan"), 10, 5, POSITIVE)
    session = sessions.click(session, 20.5, 7, NEGATIVE)
    assert session.points == ((10, 5), (20.5, 7)) and session.labels == (1, 0)
    assert session.has_prompt and session.box is None


def test_a_box_takes_two_clicks_on_opposite_corners_in_any_order():
    session = sessions.click(sessions.new_image(IMAGE, "scan"), 30, 20, BOX)
    assert session.corner == (30, 20) and session.box is None and not session.has_prompt
    session = sessions.click(session, 10, 5, BOX)
    assert session.box == (10, 5, 31, 21) and session.corner is None  # both clicked pixels inside
    with pytest.raises(PromptError, match="no area"):
        sessions.click(sessions.click(session, 12, 8, BOX), 12, 30, BOX)


@pytest.mark.parametrize("x, y, message", [(60, 5, "outside the 60x40 image"), (-1, 5, "outside"), (5, 40, "outside")])
def test_clicks_outside_the_image_are_refused(x, y, message):
    with pytest.raises(PromptError, match=message):
        sessions.click(sessions.new_image(IMAGE, "scan"), x, y, POSITIVE)


def test_clicks_need_an_image_and_a_known_mode():
    with pytest.raises(PromptError, match="Upload an image"):
        sessions.click(Session(), 1, 1, POSITIVE)
    with pytest.raises(PromptError, match="Unknown prompt mode"):
        sessions.click(sessions.new_image(IMAGE, "scan"), 1, 1, "lasso")


def test_prediction_shows_the_best_candidate_and_feeds_it_back():
    session = sessions.with_prediction(
        sessions.click(sessions.new_image(IMAGE, "s"), 1, 1, POSITIVE), prediction([0.2, 0.9, 0.5])
    )
    assert session.shown == 1
    np.testing.assert_array_equal(session.shown_mask, session.prediction.masks[1])
    assert session.refinement_logits().shape == (256, 256)
    chosen = sessions.show_candidate(session, 2)
    np.testing.assert_array_equal(chosen.shown_mask, session.prediction.masks[2])


def test_three_candidates_only_for_a_single_click_in_auto_mode():
    one_click = sessions.click(sessions.new_image(IMAGE, "s"), 1, 1, POSITIVE)
    two_clicks = sessions.click(one_click, 2, 2, NEGATIVE)
    assert one_click.multimask(sessions.AUTO) and not two_clicks.multimask(sessions.AUTO)
    assert two_clicks.multimask(sessions.ALWAYS_THREE) and not one_click.multimask(sessions.ALWAYS_ONE)


def test_undo_restores_exactly_what_was_shown_and_keeps_the_ground_truth():
    first = sessions.with_prediction(
        sessions.click(sessions.new_image(IMAGE, "s"), 1, 1, POSITIVE), prediction([0.4, 0.8, 0.1])
    )
    second = sessions.with_prediction(sessions.click(first, 5, 5, NEGATIVE), prediction([0.7]))
    truth = np.ones((40, 60), bool)
    second = sessions.with_ground_truth(second, truth)
    back = sessions.undo(second)
    assert back.points == first.points and back.prediction is first.prediction and back.shown == first.shown
    assert back.ground_truth is truth
    assert sessions.undo(sessions.undo(back)).points == ()
    empty = sessions.new_image(IMAGE, "s")
    assert sessions.undo(empty) is empty


def test_undo_history_is_bounded():
    session = sessions.new_image(IMAGE, "s")
    for step in range(sessions.MAX_UNDO + 10):
        session = sessions.click(session, step % 60, 1, POSITIVE)
    assert len(session.undo_stack) == sessions.MAX_UNDO
    assert all(not earlier.undo_stack for earlier in session.undo_stack)  # no history inside the history


def test_clear_forgets_prompts_but_keeps_image_and_ground_truth():
    truth = np.zeros((40, 60), bool)
    session = sessions.with_ground_truth(
        sessions.click(sessions.new_image(IMAGE, "scan", "key"), 1, 1, POSITIVE), truth
    )
    cleared = sessions.clear(session)
    assert cleared.points == () and cleared.prediction is None and cleared.undo_stack == ()
    assert (
        cleared.image is IMAGE
        and cleared.image_key == "key"
        and cleared.name == "scan"
        and cleared.ground_truth is truth
    )
