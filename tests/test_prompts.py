"""Checking prompts against the image they are meant for: points with labels, a box, a low-res mask."""

import numpy as np
import pytest

from sam_demo.core.prompts import PromptError, validate_mask_input, validate_prompts

SIZE = (40, 60)  # height, width


def test_valid_prompts_come_back_as_float32_points_int32_labels_and_a_box():
    prompts = validate_prompts([(0, 0), (59.5, 39.5)], [1, 0], (1, 2, 30, 20), SIZE)
    assert prompts.points.dtype == np.float32 and prompts.points.shape == (2, 2)
    assert prompts.labels.dtype == np.int32 and prompts.labels.tolist() == [1, 0]
    np.testing.assert_array_equal(prompts.box, [1, 2, 30, 20])
    single = validate_prompts((5, 6), [1], None, SIZE)  # one (x, y) pair on its own
    assert single.points.shape == (1, 2) and single.box is None
    box_only = validate_prompts(None, None, (0, 0, 60, 40), SIZE)  # the whole image
    assert box_only.points.shape == (0, 2) and box_only.labels.shape == (0,)


@pytest.mark.parametrize(
    "points, labels, box, message",
    [
        (None, None, None, "no prompt"),
        ([(1, 1)], None, None, "points need labels"),
        ([(1, 1), (2, 2)], [1], None, "2 point.* but 1 label"),
        ([(1, 1)], [2], None, "label 2 is not 0"),
        ([(60, 1)], [1], None, r"point \(60, 1\) is outside the 60x40 image"),
        ([(1, -0.5)], [1], None, "outside"),
        ([(1, 2, 3)], [1], None, "list of \\(x, y\\) pairs"),
        ([(np.nan, 2)], [1], None, "NaN or infinite"),
        ([("a", 2)], [1], None, "must be numbers"),
        (None, None, (1, 2, 3), "a box is \\(x0, y0, x1, y1\\); got 3"),
        (None, None, (10, 5, 10, 8), "needs x0 < x1 and y0 < y1"),
        (None, None, (0, 0, 61, 40), "extends outside the 60x40 image"),
    ],
)
def test_unusable_prompts_say_what_is_wrong(points, labels, box, message):
    with pytest.raises(PromptError, match=message):
        validate_prompts(points, labels, box, SIZE)


def test_mask_input_is_one_low_res_logit_map():
    assert validate_mask_input(None) is None
    logits = np.random.default_rng(0).standard_normal((1, 256, 256))
    checked = validate_mask_input(logits)
    assert checked.shape == (256, 256) and checked.dtype == np.float32
    with pytest.raises(PromptError, match="one 256x256 low-res logit map"):
        validate_mask_input(np.zeros((3, 256, 256)))
    with pytest.raises(PromptError, match="NaN or infinite"):
        validate_mask_input(np.full((256, 256), np.inf))
