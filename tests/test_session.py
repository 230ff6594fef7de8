"""One user's session in the app, without Gradio: clicks, boxes, candidates, undo, clear."""

import numpy as np
import pytest

from sam_demo.app import session as sessions
from sam_demo.app.session import BOX, NEGATIVE, POSITIVE, Session, Step
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
        sessions.click(sessions.new_image(IMAGE, "s"), 1, 1, POSITIVE), prediction([0.2, 0.9, 0.5]), None
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


class RecordingDecoder:
    """Stands in for the model: returns the given predictions in turn and records what it was asked."""

    def __init__(self, *predictions: Prediction):
        self.predictions = list(predictions)
        self.calls = []

    def __call__(self, session, mask_prompt, multimask):
        self.calls.append((session.points, session.labels, session.box, mask_prompt, multimask))
        return self.predictions.pop(0)


def test_undo_decodes_the_earlier_masks_again_from_exactly_the_same_inputs():
    first_prompt = np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32)
    first = sessions.with_prediction(
        sessions.click(sessions.new_image(IMAGE, "s"), 1, 1, POSITIVE), prediction([0.4, 0.8, 0.1]), first_prompt
    )
    first = sessions.show_candidate(first, 2)  # the user picked another candidate
    second = sessions.with_prediction(
        sessions.click(first, 5, 5, NEGATIVE), prediction([0.7]), first.refinement_logits()
    )
    truth = np.ones((40, 60), bool)
    second = sessions.with_ground_truth(second, truth)
    again = prediction([0.4, 0.8, 0.1])
    decoder = RecordingDecoder(again)
    back = sessions.undo(second, decoder)
    [(points, labels, box, mask_prompt, multimask)] = decoder.calls
    assert points == first.points and labels == first.labels and box is None and multimask is True
    np.testing.assert_array_equal(mask_prompt, first_prompt)
    assert back.prediction is again and back.shown == 2 and back.points == first.points
    np.testing.assert_array_equal(back.mask_prompt, first_prompt)  # so undoing further, or again, stays exact
    assert back.ground_truth is truth
    assert sessions.undo(sessions.undo(back, decoder), decoder).points == ()
    empty = sessions.new_image(IMAGE, "s")
    assert sessions.undo(empty, decoder) is empty


def test_undo_to_a_state_without_masks_does_not_decode():
    half_box = sessions.click(sessions.new_image(IMAGE, "s"), 30, 20, BOX)
    boxed = sessions.with_prediction(sessions.click(half_box, 10, 5, BOX), prediction([0.9]), None)
    back = sessions.undo(boxed, RecordingDecoder())
    assert back.corner == (30, 20) and back.box is None and back.prediction is None and back.mask_prompt is None


def test_undo_history_is_bounded():
    session = sessions.new_image(IMAGE, "s")
    for step in range(sessions.MAX_UNDO + 10):
        session = sessions.click(session, step % 60, 1, POSITIVE)
    assert len(session.history) == sessions.MAX_UNDO
    assert session.history[0].points == tuple((x, 1) for x in range(10))  # the oldest ones went first


def test_the_undo_history_keeps_prompts_not_masks():
    image = np.zeros((600, 800, 3), np.uint8)
    session = sessions.new_image(image, "s")
    for step in range(5):
        session = sessions.click(session, 10 * step, 1, POSITIVE)
        masks = np.ones((3, 600, 800), bool)
        logits = np.zeros((3, 256, 256), np.float32)
        session = sessions.with_prediction(
            session, Prediction(masks, np.ones(3, np.float32), logits), session.refinement_logits()
        )
    assert all(isinstance(step, Step) for step in session.history)
    arrays = [step.mask_prompt for step in session.history if step.mask_prompt is not None]
    assert len(arrays) == 3 and all(array.shape == (256, 256) and array.base is None for array in arrays)


def test_the_memory_budget_is_what_the_readme_says():
    assert sessions.memory_budget(500, 500) < 16 * 2**20  # a BUSI-sized frame
    assert sessions.memory_budget(3000, 4000) < 106 * 2**20  # 12 MP: about 105 MB


def test_clear_forgets_prompts_but_keeps_image_and_ground_truth():
    truth = np.zeros((40, 60), bool)
    session = sessions.with_ground_truth(
        sessions.click(sessions.new_image(IMAGE, "scan", "key"), 1, 1, POSITIVE), truth
    )
    cleared = sessions.clear(session)
    assert cleared.points == () and cleared.prediction is None and cleared.history == ()
    assert (
        cleared.image is IMAGE
        and cleared.image_key == "key"
        and cleared.name == "scan"
        and cleared.ground_truth is truth
    )


def lesion(session: Session, x: int, y: int, rows: slice, cols: slice) -> Session:
    """`session` after a click at (x, y) whose one mask is the rectangle `rows` x `cols`."""
    mask = np.zeros((40, 60), bool)
    mask[rows, cols] = True
    predicted = Prediction(mask[np.newaxis], np.ones(1, np.float32), np.zeros((1, 256, 256), np.float32))
    return sessions.with_prediction(sessions.click(session, x, y, POSITIVE), predicted, None)


def test_next_lesion_keeps_the_shown_mask_and_starts_a_new_prompt_set():
    first = lesion(sessions.new_image(IMAGE, "s", "key"), 5, 5, slice(0, 10), slice(0, 10))
    second = sessions.next_lesion(first)
    assert second.lesion_count == 1 and second.lesion_map.dtype == np.uint8
    np.testing.assert_array_equal(second.lesion_map == 1, first.shown_mask)
    assert not second.has_prompt and second.prediction is None and second.mask_prompt is None
    assert second.image is IMAGE and second.image_key == "key"
    np.testing.assert_array_equal(second.label_image(), second.lesion_map)  # no current mask yet
    assert sessions.new_image(IMAGE, "s").label_image() is None  # nothing segmented


def test_earlier_lesions_keep_the_pixels_where_lesions_overlap():
    session = sessions.next_lesion(lesion(sessions.new_image(IMAGE, "s"), 5, 5, slice(0, 10), slice(0, 10)))
    session = sessions.next_lesion(lesion(session, 12, 12, slice(5, 20), slice(5, 20)))
    session = lesion(session, 30, 30, slice(0, 40), slice(0, 60))  # the current one covers everything
    labels = session.label_image()
    assert labels[0, 0] == 1 and labels[15, 15] == 2 and labels[30, 30] == 3
    assert labels[7, 7] == 1  # in all three
    assert set(np.unique(labels)) == {1, 2, 3}
    assert sessions.next_lesion(session).lesion_map[30, 30] == 3


def test_undo_reopens_the_last_finished_lesion_exactly():
    first = lesion(sessions.new_image(IMAGE, "s"), 5, 5, slice(0, 10), slice(0, 10))
    first = sessions.show_candidate(first, 0)
    second = lesion(sessions.next_lesion(first), 30, 30, slice(20, 30), slice(20, 40))
    decoder = RecordingDecoder(first.prediction)
    emptied = sessions.undo(second, decoder)  # the click on lesion 2
    assert emptied.lesion_count == 1 and not emptied.has_prompt and decoder.calls == []
    reopened = sessions.undo(emptied, decoder)  # Next lesion
    [(points, labels, box, mask_prompt, multimask)] = decoder.calls
    assert points == ((5, 5),) and labels == (1,) and multimask is False
    assert reopened.lesion_count == 0 and reopened.lesion_map is None
    assert reopened.prediction is first.prediction and reopened.points == first.points


def test_undo_drops_only_the_lesions_finished_since():
    session = sessions.next_lesion(lesion(sessions.new_image(IMAGE, "s"), 5, 5, slice(0, 10), slice(0, 10)))
    session = sessions.next_lesion(lesion(session, 30, 30, slice(20, 30), slice(20, 40)))
    two = session.lesion_map
    back = sessions.undo(session, RecordingDecoder(prediction([0.5])))
    assert back.lesion_count == 1 and set(np.unique(back.lesion_map)) == {0, 1}
    np.testing.assert_array_equal(back.lesion_map, np.where(two == 2, 0, two))
    assert set(np.unique(two)) == {0, 1, 2}  # the later state is not changed


def test_clear_current_keeps_finished_lesions_and_can_be_undone():
    finished = sessions.next_lesion(lesion(sessions.new_image(IMAGE, "s"), 5, 5, slice(0, 10), slice(0, 10)))
    current = lesion(finished, 30, 30, slice(20, 30), slice(20, 40))
    cleared = sessions.clear_current(current)
    assert cleared.lesion_count == 1 and cleared.lesion_map is finished.lesion_map
    assert not cleared.has_prompt and cleared.prediction is None
    assert sessions.clear_current(cleared) is cleared  # nothing to clear: no undo step either
    again = prediction([0.5])
    assert sessions.undo(cleared, RecordingDecoder(again)).prediction is again
    everything = sessions.clear(current)
    assert everything.lesion_map is None and everything.lesion_count == 0 and everything.history == ()


def test_the_number_of_lesions_is_bounded_with_a_clear_message():
    session = sessions.new_image(IMAGE, "s")
    with pytest.raises(PromptError, match="Segment this lesion first"):
        sessions.next_lesion(session)
    for index in range(sessions.MAX_LESIONS - 1):
        session = sessions.next_lesion(lesion(session, index, 0, slice(0, 1), slice(index, index + 1)))
    session = lesion(session, 59, 39, slice(39, 40), slice(59, 60))
    with pytest.raises(PromptError, match=f"At most {sessions.MAX_LESIONS} lesions"):
        sessions.next_lesion(session)
    assert session.label_image().max() == sessions.MAX_LESIONS  # the last one still counts


def test_a_large_image_gets_a_display_copy_and_clicks_on_it_map_to_image_pixels():
    small = sessions.new_image(IMAGE, "s")
    assert small.display is small.image and small.to_image_pixel(7.0, 9.0) == (7.0, 9.0)
    image = np.zeros((2000, 3000, 3), np.uint8)
    large = sessions.new_image(image, "l")
    assert large.display.shape == (683, 1024, 3) and not large.displays_full_size
    # Display pixel (x, y) stands for the image pixel under its centre; the corners stay inside the image.
    assert large.to_image_pixel(0.0, 0.0) == (1.0, 1.0)
    assert large.to_image_pixel(1023.0, 682.0) == (2998.0, 1998.0)
    assert large.to_image_pixel(511.0, 341.0) == (1498.0, 999.0)  # 511.5 x 3000 / 1024 = 1498.5
    np.testing.assert_allclose(large.to_display(np.array([1498.0, 999.0])), [511.0, 341.0], atol=0.2)
    # Full-size masks must be given for a large image: the shown candidates are at the display copy's size.
    shown = sessions.with_prediction(sessions.click(large, 1499.0, 999.0, POSITIVE), display_prediction(), None)
    with pytest.raises(ValueError, match="at the image's size"):
        shown.label_image()
    full = np.zeros((2000, 3000), bool)
    full[:10] = True
    assert sessions.next_lesion(shown, full).lesion_map[:10].all()
    assert sessions.clear(shown).display is large.display


def display_prediction() -> Prediction:
    masks = np.ones((1, 683, 1024), bool)
    return Prediction(masks, np.array([0.9], np.float32), np.zeros((1, 256, 256), np.float32))


def test_a_display_copy_counts_in_the_memory_budget():
    # 12 MP: the image, ground truth and lesions at 5 bytes a pixel; the copy and its masks at 6 bytes a display pixel.
    assert sessions.memory_budget(3000, 4000) == 5 * 12_000_000 + 6 * 768 * 1024 + sessions.BUDGET_FIXED_BYTES
    assert sessions.memory_budget(500, 500) == 8 * 500 * 500 + sessions.BUDGET_FIXED_BYTES  # its own display copy
