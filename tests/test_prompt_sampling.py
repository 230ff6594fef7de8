"""Prompts drawn from ground-truth masks."""

import numpy as np
import pytest

from sam_demo.core.masks import mask_box
from sam_demo.core.prompt_sampling import depth_map, interior_points, perturbed_box, random_points
from sam_demo.devtools.phantom import make_phantom


def rectangle(height=40, width=60, box=(10, 5, 41, 26)):
    mask = np.zeros((height, width), bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def test_perturbed_boxes_stay_near_the_mask_and_inside_the_image():
    mask = make_phantom(3, size=(200, 260))[1]
    tight = np.array(mask_box(mask), float)
    rng = np.random.default_rng(0)
    shifts = []
    for _ in range(400):
        box = np.array(perturbed_box(mask, rng, max_shift=20))
        assert 0 <= box[0] < box[2] <= 260 and 0 <= box[1] < box[3] <= 200
        shifts.append(box - tight)
    shifts = np.array(shifts)
    sides = np.array([tight[2] - tight[0], tight[3] - tight[1]] * 2)
    assert np.abs(shifts).max() <= 20  # never more than asked
    # SAM's noise: a standard deviation of 10 % of the side, in both directions.
    np.testing.assert_allclose(shifts.std(axis=0), 0.1 * sides, rtol=0.2)
    assert np.abs(shifts.mean(axis=0)).max() < 0.03 * sides.max()
    edge = rectangle(40, 60, (0, 0, 60, 40))
    assert perturbed_box(edge, np.random.default_rng(1))[2] <= 60  # clamped at the border
    with pytest.raises(ValueError, match="empty"):
        perturbed_box(np.zeros((5, 5), bool), rng)


def test_box_noise_scales_with_the_lesion():
    """A small lesion's box stays a box around it; a large one's noise is capped at max_shift."""
    rng = np.random.default_rng(2)
    small = rectangle(400, 400, (190, 190, 210, 210))  # 20 px lesion: std 2 px
    large = rectangle(400, 400, (30, 30, 370, 370))  # 340 px: std 34 px, capped at 20
    small_shifts = np.array([np.array(perturbed_box(small, rng)) - mask_box(small) for _ in range(300)])
    large_shifts = np.array([np.array(perturbed_box(large, rng)) - mask_box(large) for _ in range(300)])
    assert np.abs(small_shifts).max() < 10
    assert np.abs(large_shifts).max() == pytest.approx(20) and (np.abs(large_shifts) == 20).mean() > 0.1


def test_random_points_fall_where_their_label_says():
    mask = rectangle()
    points, labels = random_points(mask, np.random.default_rng(0), foreground=3, background=2)
    assert points.shape == (5, 2) and labels.tolist() == [1, 1, 1, 0, 0]
    for (x, y), label in zip(points.astype(int), labels):
        assert mask[y, x] == bool(label)


def test_depth_and_interior_points_of_a_rectangle():
    mask = rectangle()  # 31 wide, 21 tall: the middle row is 15, the middle column 25
    depth = depth_map(mask)
    assert depth[5, 10] == 1 and depth[15, 25] == 11 and depth[0, 0] == 0
    ((x, y),) = interior_points(mask, 1)
    assert y == 15 and 15 <= x <= 35  # on the medial axis, 11 pixels from every side
    three = interior_points(mask, 3)
    assert len({tuple(p) for p in three.tolist()}) == 3
    for x, y in three.astype(int):
        assert mask[y, x]


def test_interior_point_of_an_irregular_lesion_is_deep_inside():
    mask = make_phantom(1, size=(300, 360), kind="malignant")[1]
    ((x, y),) = interior_points(mask, 1)
    assert depth_map(mask)[int(y), int(x)] == depth_map(mask).max()
