"""HD95 and NSD against hand-computed cases and an independent brute-force computation."""

import math

import numpy as np
import pytest

from sam_demo.evaluation.surface_distance import hd95, nsd

# How surface-distance defines a surface (so the expectations below are honest): it looks at the corners between
# pixels, corner (r, c) touching pixels (r-1..r, c-1..c), pixels beyond the image counting as outside. A corner is
# on the surface when those four pixels are partly inside the mask. Each surface corner carries the length of the
# marching-squares contour through it (1 on a straight edge, sqrt(2)/2 at a convex or concave corner, sqrt(2) at
# a saddle). HD95 in one direction is the distance at which the cumulative contour length, corners sorted by their
# distance to the other surface, first reaches 95%; the reported HD95 is the larger of the two directions. NSD is
# the contour length within the tolerance of the other surface, over both contours' total length.


def square(size=(40, 50), top=10, left=10, side=10):
    mask = np.zeros(size, bool)
    mask[top : top + side, left : left + side] = True
    return mask


def surface(mask):
    """(N, 2) surface corners of the mask and the contour length through each."""
    inside = np.pad(mask, 1).astype(int)
    top_left, top_right = inside[:-1, :-1], inside[:-1, 1:]
    bottom_left, bottom_right = inside[1:, :-1], inside[1:, 1:]
    count = top_left + top_right + bottom_left + bottom_right
    saddle = (count == 2) & (top_left == bottom_right)
    length = np.select([count % 2 == 1, saddle, count == 2], [math.sqrt(0.5), 2 * math.sqrt(0.5), 1.0], 0.0)
    corners = np.argwhere(length > 0)
    return corners, length[length > 0]


def brute_force(predicted, target, tolerance):
    """(HD95, NSD) from every surface corner's distance to every corner of the other surface."""
    hausdorff, near, total = 0.0, 0.0, 0.0
    for source, other in ((target, predicted), (predicted, target)):
        corners, length = surface(source)
        others, _ = surface(other)
        distance = np.sqrt(((corners[:, None, :] - others[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
        order = np.argsort(distance, kind="stable")
        share = np.cumsum(length[order]) / length.sum()
        hausdorff = max(hausdorff, distance[order][np.searchsorted(share, 0.95)])
        near += length[distance <= tolerance].sum()
        total += length.sum()
    return hausdorff, near / total


def test_identical_masks_are_perfect():
    mask = square()
    assert hd95(mask, mask) == 0.0
    assert nsd(mask, mask) == 1.0


def test_a_square_shifted_by_three_pixels():
    target = square(left=10)
    predicted = square(left=13)
    # The target's left edge (11 corners, a quarter of its contour) lies 3 pixels from the shifted square's left
    # edge and no corner lies farther, so the top 5% of the contour is at exactly 3; symmetrically for the
    # prediction's right edge.
    assert hd95(predicted, target) == pytest.approx(3.0)
    assert hd95(predicted, target) == pytest.approx(brute_force(predicted, target, 2.0)[0])
    assert hd95(target, predicted) == pytest.approx(3.0)


def test_nsd_within_and_beyond_the_tolerance():
    target = square()
    # Shifted by one pixel, every corner is at most 1 pixel from the other contour.
    assert nsd(square(left=11), target, tolerance=2.0) == 1.0
    assert nsd(square(top=11, left=11), target, tolerance=2.0) == 1.0
    # Shifted by 6, the left and right edges (and the near ends of the top and bottom) are farther than 2 pixels.
    far = square(left=16)
    assert nsd(far, target, tolerance=2.0) < 0.75
    assert nsd(far, target, tolerance=2.0) == pytest.approx(brute_force(far, target, 2.0)[1])
    assert nsd(far, target, tolerance=6.0) == 1.0  # and all are within 6


def test_irregular_shapes_agree_with_brute_force():
    rows, cols = np.indices((60, 70))
    target = (rows - 30) ** 2 / 15**2 + (cols - 33) ** 2 / 20**2 <= 1
    predicted = ((rows - 28) ** 2 + (cols - 37) ** 2 <= 16**2) | ((rows > 40) & (rows < 48) & (cols > 10) & (cols < 20))
    predicted[1, 1] = True  # a stray pixel: under 5% of the contour, so HD95 ignores it where Hausdorff would not
    stray_distance = np.sqrt(((surface(target)[0] - (1, 1)) ** 2).sum(axis=1)).min()
    expected_hd95, expected_nsd = brute_force(predicted, target, 2.0)
    assert 3 < expected_hd95 < stray_distance - 5  # neither trivial nor the maximum
    assert hd95(predicted, target) == pytest.approx(expected_hd95)
    assert 0.2 < expected_nsd < 0.9
    assert nsd(predicted, target) == pytest.approx(expected_nsd)
    assert nsd(predicted, target, tolerance=5.0) == pytest.approx(brute_force(predicted, target, 5.0)[1])


def test_empty_masks():
    empty, mask = np.zeros((30, 40), bool), square((30, 40))
    assert hd95(empty, empty) == 0.0 and nsd(empty, empty) == 1.0
    assert hd95(empty, mask) == 50.0 and hd95(mask, empty) == 50.0  # the diagonal of a 30 x 40 image
    assert nsd(empty, mask) == 0.0 and nsd(mask, empty) == 0.0
    # The diagonal bounds every real HD95: masks at opposite corners of the image stay below it.
    corner, opposite = np.zeros((30, 40), bool), np.zeros((30, 40), bool)
    corner[0, 0], opposite[-1, -1] = True, True
    assert hd95(corner, opposite) <= 50.0


def test_masks_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        hd95(np.zeros((10, 10), bool), np.zeros((10, 11), bool))
    with pytest.raises(ValueError, match="same shape"):
        nsd(np.zeros((2, 10, 10), bool), np.zeros((2, 10, 10), bool))


def test_the_faster_sort_gives_the_librarys_own_results():
    import surface_distance.metrics as metrics

    from sam_demo.evaluation import surface_distance as ours

    rng = np.random.default_rng(3)
    ragged, target = rng.random((60, 80)) > 0.6, rng.random((60, 80)) > 0.7
    fast = metrics.compute_surface_distances(target, ragged, (1.0, 1.0))
    metrics._sort_distances_surfels = lambda d, a: tuple(np.array(sorted(zip(d, a))).T)  # the library's code
    try:
        slow = metrics.compute_surface_distances(target, ragged, (1.0, 1.0))
    finally:
        metrics._sort_distances_surfels = ours._sort_distances_surfels
    for key in slow:
        np.testing.assert_array_equal(fast[key], slow[key])


def test_both_scores_at_once_equal_each_alone():
    from sam_demo.evaluation.surface_distance import surface_scores

    rng = np.random.default_rng(4)
    for predicted, target in [
        (rng.random((40, 50)) > 0.5, rng.random((40, 50)) > 0.7),
        (np.zeros((40, 50), bool), rng.random((40, 50)) > 0.7),
    ]:
        assert surface_scores(predicted, target) == (hd95(predicted, target), nsd(predicted, target))
