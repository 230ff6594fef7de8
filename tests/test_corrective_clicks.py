"""Simulated corrective clicks of interactive segmentation."""

import numpy as np
import pytest

from sam_demo.core.corrective_clicks import Click, next_click, next_clicks


def blank(height=40, width=50):
    return np.zeros((height, width), bool)


def with_block(mask, rows, cols):
    """A copy of `mask` with the block rows[0]..rows[1], cols[0]..cols[1] (inclusive) set."""
    mask = mask.copy()
    mask[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = True
    return mask


def test_a_missed_region_gets_a_positive_click_at_its_centre():
    target = with_block(blank(), (10, 20), (20, 30))  # 11 x 11: a unique centre at row 15, column 25
    assert next_click(blank(), target) == Click(x=25.0, y=15.0, label=1)


def test_a_false_positive_blob_gets_a_negative_click_inside_it():
    target = with_block(blank(), (2, 12), (2, 12))
    predicted = with_block(target, (25, 31), (35, 41))  # the tumour found, plus a 7 x 7 blob elsewhere
    assert next_click(predicted, target) == Click(x=38.0, y=28.0, label=0)


def test_the_larger_error_region_is_chosen_whatever_its_kind():
    small, large = ((2, 4), (2, 4)), ((20, 26), (30, 36))  # 3 x 3 and 7 x 7
    target = with_block(blank(), *small)  # missed: small, false positive: large
    click = next_click(with_block(blank(), *large), target)
    assert click == Click(x=33.0, y=23.0, label=0)
    target = with_block(blank(), *large)  # and the other way round
    click = next_click(with_block(blank(), *small), target)
    assert click == Click(x=33.0, y=23.0, label=1)


def test_regions_are_eight_connected():
    # Two 3 x 3 misses touching only at a corner form one 18-pixel region, larger than a 4 x 4 false positive;
    # with 4-connectivity they would be two regions of 9 and the false positive (16) would win.
    target = with_block(with_block(blank(), (5, 7), (5, 7)), (8, 10), (8, 10))
    predicted = with_block(blank(), (25, 28), (30, 33))
    assert next_click(predicted, target).label == 1


def brute_force_depth(region):
    """Each pixel's Euclidean distance to the nearest pixel outside the region, the outside of the image included."""
    padded = np.pad(region, 1)
    outside = np.argwhere(~padded)
    depth = np.zeros(region.shape)
    for row, col in np.argwhere(region):
        depth[row, col] = np.sqrt(((outside - (row + 1, col + 1)) ** 2).sum(axis=1)).min()
    return depth


def test_the_click_is_the_most_interior_pixel():
    rows, cols = np.indices((40, 50))
    l_shape = with_block(with_block(blank(), (5, 30), (5, 15)), (20, 30), (5, 45))
    disc_with_tail = with_block((rows - 20) ** 2 + (cols - 12) ** 2 <= 64, (18, 22), (12, 48))
    at_border = with_block(blank(), (0, 6), (30, 49))
    for target in (l_shape, disc_with_tail, at_border):
        click = next_click(blank(), target)
        depth = brute_force_depth(target)
        # The deepest pixel, the first of them in raster order (np.argmax) on ties.
        assert (click.y, click.x) == np.unravel_index(np.argmax(depth), depth.shape)
    # In the L's corner: 7 pixels from the left and bottom edges and 7.07 from the notch, where the 11-pixel-wide
    # arms are only 6 deep.
    assert next_click(blank(), l_shape) == Click(x=11.0, y=24.0, label=1)


def test_a_region_touching_the_image_border_is_not_clicked_at_the_border():
    # Without counting the outside of the image as boundary, the corner pixel (0, 0) would be the farthest from
    # the region's inner edges.
    target = with_block(blank(), (0, 10), (0, 10))
    assert next_click(blank(), target) == Click(x=5.0, y=5.0, label=1)
    target = with_block(blank(), (0, 39), (0, 49))  # the whole image missed
    assert next_click(blank(), target) == Click(x=19.0, y=19.0, label=1)  # first of the most interior pixels


def test_ties_are_broken_in_the_documented_order():
    # Equally deep pixels: the first in raster order (a 10 x 10 square has four centre pixels).
    assert next_click(blank(), with_block(blank(), (10, 19), (20, 29))) == Click(x=24.0, y=14.0, label=1)
    # Equally large regions of one kind: the one whose first pixel comes first in raster order (row, then column),
    # even though the other lies further left.
    target = with_block(with_block(blank(), (20, 24), (0, 4)), (5, 9), (40, 44))
    assert next_click(blank(), target) == Click(x=42.0, y=7.0, label=1)
    # A miss and a false positive of the same size: the miss, although the false positive comes first.
    predicted = with_block(blank(), (0, 4), (0, 4))
    target = with_block(blank(), (30, 34), (40, 44))
    assert next_click(predicted, target) == Click(x=42.0, y=32.0, label=1)
    assert next_click(predicted, target) == next_click(predicted.copy(), target.copy())


def test_pixels_outside_the_image_are_never_errors_nor_clicked():
    target = with_block(blank(), (5, 35), (0, 49))
    valid = with_block(blank(), (0, 39), (0, 9))  # the image covers only the first ten columns
    click = next_click(blank(), target, valid)
    # In the visible part (the first of its pixels 5 deep), not in the middle of the whole miss (column 24).
    assert click == Click(x=4.0, y=9.0, label=1)
    # A large false positive in the padding does not outweigh a small miss in the image.
    predicted = with_block(blank(), (0, 39), (20, 49))
    target = with_block(blank(), (0, 2), (0, 2))
    assert next_click(predicted, target, valid).label == 1
    assert next_click(predicted, blank(), valid) is None
    rng = np.random.default_rng(0)
    for _ in range(100):
        click = next_click(blank(), target | predicted, valid, rng)
        assert valid[int(click.y), int(click.x)]


def test_no_error_no_click():
    mask = with_block(blank(), (10, 20), (10, 20))
    assert next_click(mask, mask) is None
    assert next_click(blank(), blank()) is None
    assert next_click(mask, mask, rng=np.random.default_rng(0)) is None


def test_random_clicks_are_reproducible_uniform_over_error_pixels_and_correctly_labelled():
    target = with_block(blank(), (5, 14), (5, 14))  # 100 missed pixels
    predicted = with_block(blank(), (20, 34), (20, 39))  # 300 false-positive pixels
    missed, extra = target & ~predicted, predicted & ~target

    def draws(seed, count):
        rng = np.random.default_rng(seed)
        return [next_click(predicted, target, rng=rng) for _ in range(count)]

    clicks = draws(3, 2000)
    assert clicks[:50] == draws(3, 50)
    assert clicks[:50] != draws(4, 50)
    for click in clicks:
        row, col = int(click.y), int(click.x)
        assert (missed[row, col] and click.label == 1) or (extra[row, col] and click.label == 0)
    # Uniform over pixels, not over regions: a quarter of the error pixels are misses (a half if regions were drawn).
    assert 0.21 < np.mean([click.label for click in clicks]) < 0.29
    assert len({(click.x, click.y) for click in clicks}) > 300  # spread over the region, not a few fixed pixels


def test_batches_give_one_click_per_example_and_minus_one_where_nothing_is_wrong():
    target = np.stack([with_block(blank(), (10, 20), (20, 30)), blank(), with_block(blank(), (0, 4), (0, 4))])
    predicted = np.stack([blank(), blank(), with_block(blank(), (0, 4), (0, 4))]).astype(np.float32)  # 0/1 floats
    points, labels = next_clicks(predicted, target)
    assert points.shape == (3, 2) and points.dtype == np.float32
    assert labels.shape == (3,) and labels.dtype == np.int32
    np.testing.assert_array_equal(points, [[25.0, 15.0], [0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(labels, [1, -1, -1])
    valid = np.ones_like(target)
    valid[0, :, :25] = False
    points, labels = next_clicks(predicted, target, valid)
    assert points[0, 0] >= 25 and labels[0] == 1
    seeded = next_clicks(predicted, target, seed=np.array(7))  # as tf.numpy_function passes it
    again = next_clicks(predicted, target, seed=7)
    np.testing.assert_array_equal(seeded[0], again[0])
    np.testing.assert_array_equal(seeded[1], [1, -1, -1])
    assert target[0, int(seeded[0][0, 1]), int(seeded[0][0, 0])]


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shape"):
        next_click(blank(40, 50), blank(40, 51))
    with pytest.raises(ValueError, match="2-D"):
        next_click(np.zeros((2, 40, 50), bool), np.zeros((2, 40, 50), bool))
    with pytest.raises(ValueError, match="valid"):
        next_click(blank(), blank(), valid=blank(50, 40))
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        next_clicks(blank(), blank())
    with pytest.raises(ValueError, match="shape"):
        next_clicks(np.zeros((2, 40, 50), bool), np.zeros((3, 40, 50), bool))
