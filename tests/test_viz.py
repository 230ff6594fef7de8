"""Behaviour of sam_demo.drawing.viz: the numpy `overlay` the web app uses, and the matplotlib helpers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb, to_rgba  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402

from sam_demo.drawing import viz  # noqa: E402

GREY = 100  # background level that differs from every palette colour and from white


def rgb(colour: str) -> np.ndarray:
    return (np.array(to_rgb(colour)) * 255).round().astype(np.uint8)


def grey_image(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), GREY, dtype=np.uint8)


def rectangle_mask(height: int, width: int, rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[rows, cols] = True
    return mask


def disc_mask(height: int, width: int, centre: tuple[int, int], radius: int) -> np.ndarray:
    rows, cols = np.mgrid[:height, :width]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def changed_pixels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (before != after).any(axis=-1)


# ---------------------------------------------------------------------------------------------------------
# overlay: shape and type
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3), (20, 30, 4), (37, 11, 3), (11, 37)])
def test_overlay_returns_rgb_uint8_of_the_image_size(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    height, width = shape[:2]
    mask = rectangle_mask(height, width, slice(2, 8), slice(3, 9))

    out = viz.overlay(image, mask, points=[[5, 5]], labels=[1], box=(1, 1, width - 2, height - 2))

    assert out.shape == (height, width, 3)
    assert out.dtype == np.uint8


def test_overlay_drops_alpha_and_expands_grey_to_rgb():
    rgb_image = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    rgba_image = np.dstack([rgb_image, np.full((16, 24), 7, dtype=np.uint8)])
    grey = rgb_image[:, :, 0]

    np.testing.assert_array_equal(viz.overlay(rgba_image, None), rgb_image)
    np.testing.assert_array_equal(viz.overlay(grey, None), np.dstack([grey] * 3))


def test_overlay_accepts_pil_images():
    array = np.random.default_rng(2).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    mask = rectangle_mask(16, 24, slice(4, 12), slice(4, 20))

    np.testing.assert_array_equal(viz.overlay(Image.fromarray(array).convert("RGBA"), mask), viz.overlay(array, mask))


def test_overlay_without_masks_or_prompts_returns_a_copy_of_the_image():
    image = grey_image(10, 12)

    out = viz.overlay(image, None)

    np.testing.assert_array_equal(out, image)
    assert not np.shares_memory(out, image)


# ---------------------------------------------------------------------------------------------------------
# overlay: masks and contours
# ---------------------------------------------------------------------------------------------------------


def test_mask_pixels_move_towards_the_mask_colour_and_the_rest_is_untouched():
    image = np.random.default_rng(3).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask = disc_mask(40, 50, centre=(20, 18), radius=12)
    colour = rgb(viz.MASK_COLOURS[0]).astype(int)

    out = viz.overlay(image, mask, alpha=0.4, contour=False)

    before = np.abs(image[mask].astype(int) - colour)
    after = np.abs(out[mask].astype(int) - colour)
    assert (after <= before).all()
    assert (after.sum(axis=1) < before.sum(axis=1)).all()  # no random pixel equals the colour exactly
    expected = image[mask] * 0.6 + colour * 0.4
    assert np.abs(out[mask] - expected).max() <= 0.5 + 1e-9
    np.testing.assert_array_equal(out[~mask], image[~mask])


@pytest.mark.parametrize("mask_dtype", [bool, np.uint8, np.float32])
def test_alpha_one_paints_the_mask_colour_whatever_the_mask_dtype(mask_dtype):
    mask = disc_mask(20, 20, centre=(10, 9), radius=6)

    out = viz.overlay(grey_image(20, 20), mask.astype(mask_dtype), alpha=1.0, contour=False)

    assert (out[mask] == rgb(viz.MASK_COLOURS[0])).all()
    assert (out[~mask] == GREY).all()


def test_each_mask_of_a_stack_gets_its_own_colour():
    first = rectangle_mask(30, 40, slice(2, 12), slice(2, 12))
    second = rectangle_mask(30, 40, slice(15, 28), slice(20, 38))

    out = viz.overlay(grey_image(30, 40), np.stack([first, second]), alpha=1.0, contour=False)

    assert (out[first] == rgb(viz.MASK_COLOURS[0])).all()
    assert (out[second] == rgb(viz.MASK_COLOURS[1])).all()
    assert (out[~(first | second)] == GREY).all()


def test_regions_of_a_label_image_get_their_own_colours_beneath_the_masks():
    regions = np.zeros((30, 40), np.uint8)
    regions[2:12, 2:12] = 1
    regions[15:28, 20:38] = 2
    mask = rectangle_mask(30, 40, slice(20, 30), slice(30, 40))  # over part of region 2

    out = viz.overlay(grey_image(30, 40), mask, alpha=1.0, contour=False, regions=regions)

    assert (out[regions == 1] == rgb(viz.REGION_COLOURS[0])).all()
    assert (out[(regions == 2) & ~mask] == rgb(viz.REGION_COLOURS[1])).all()
    assert (out[mask] == rgb(viz.MASK_COLOURS[0])).all()  # the mask is drawn on top
    assert (out[(regions == 0) & ~mask] == GREY).all()


def test_region_colours_stand_apart_from_the_edited_mask_and_cycle():
    assert viz.MASK_COLOURS[0] not in viz.REGION_COLOURS
    assert len(set(viz.REGION_COLOURS)) == len(viz.REGION_COLOURS)
    regions = np.zeros((10, 10), np.int64)
    regions[:, : len(viz.REGION_COLOURS) + 1] = np.arange(1, len(viz.REGION_COLOURS) + 2)

    out = viz.overlay(grey_image(10, 10), None, alpha=1.0, contour=False, regions=regions)

    assert (out[:, len(viz.REGION_COLOURS)] == rgb(viz.REGION_COLOURS[0])).all()


def test_region_contours_are_drawn_like_mask_contours():
    regions = disc_mask(300, 300, centre=(150, 140), radius=60).astype(np.uint8) * 3
    mask = disc_mask(300, 300, centre=(150, 140), radius=60)

    from_regions = viz.overlay(grey_image(300, 300), None, regions=regions)
    from_mask = viz.overlay(grey_image(300, 300), mask)

    np.testing.assert_array_equal(changed_pixels(grey_image(300, 300), from_regions), mask)
    np.testing.assert_array_equal(
        (from_regions == rgb(viz.REGION_COLOURS[2])).all(axis=-1),
        (from_mask == rgb(viz.MASK_COLOURS[0])).all(axis=-1),
    )


@pytest.mark.parametrize(
    "regions, message",
    [
        (np.zeros((30, 40), np.float32), "integer label image"),
        (np.zeros((30, 40), bool), "integer label image"),
        (np.zeros((30, 41), np.uint8), "image is 30x40"),
        (np.full((30, 40), 256), "between 0 and 255"),
        (np.full((30, 40), -1), "between 0 and 255"),
    ],
)
def test_bad_regions_raise_value_error_saying_what_is_wrong(regions, message):
    with pytest.raises(ValueError, match=message):
        viz.overlay(grey_image(30, 40), None, regions=regions)


def test_contour_is_the_opaque_mask_boundary():
    mask = disc_mask(300, 300, centre=(150, 140), radius=60)
    image = grey_image(300, 300)
    colour = rgb(viz.MASK_COLOURS[0])

    filled = viz.overlay(image, mask, contour=False)
    outlined = viz.overlay(image, mask, contour=True)

    padded = np.pad(mask, 1)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    neighbours = {(dy, dx): padded[1 + dy : 301 + dy, 1 + dx : 301 + dx] for dy, dx in offsets}
    side_neighbours = [neighbours[offset] for offset in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    touches_outside_by_side = mask & ~np.logical_and.reduce(side_neighbours)
    touches_outside_at_all = mask & ~np.logical_and.reduce(list(neighbours.values()))
    contour = changed_pixels(filled, outlined)
    assert (outlined[contour] == colour).all()
    # At this size the outline is one pixel wide: the mask pixels that touch the outside, and no others.
    assert not (touches_outside_by_side & ~contour).any(), "the outline has gaps"
    assert not (contour & ~touches_outside_at_all).any(), "the outline strays from the mask boundary"


@pytest.mark.parametrize(("size", "expected_width"), [(300, 1), (900, 3)])
def test_contour_width_grows_with_the_image(size, expected_width):
    third = size // 3
    mask = rectangle_mask(size, size, slice(third, 2 * third), slice(third, 2 * third))

    out = viz.overlay(grey_image(size, size), mask)

    opaque = (out[size // 2] == rgb(viz.MASK_COLOURS[0])).all(axis=-1)
    assert np.flatnonzero(opaque).tolist() == (
        list(range(third, third + expected_width)) + list(range(2 * third - expected_width, 2 * third))
    )


# ---------------------------------------------------------------------------------------------------------
# overlay: points
# ---------------------------------------------------------------------------------------------------------

POINTS = np.array([[30.4, 40.6], [80.0, 20.0]])  # (x, y): one positive, one negative
LABELS = np.array([1, 0])
WINDOW = 12  # half-size of the square searched around each point, larger than any marker here


def marker_windows(height: int = 100, width: int = 120) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(pixels, changed, (x, y) offset of the window) around each of POINTS drawn on a grey image."""
    image = grey_image(height, width)
    with_points = viz.overlay(image, None, points=POINTS, labels=LABELS)
    changed = changed_pixels(image, with_points)
    windows = []
    for x, y in np.floor(POINTS + 0.5).astype(int):
        rows, cols = slice(y - WINDOW, y + WINDOW + 1), slice(x - WINDOW, x + WINDOW + 1)
        windows.append((with_points[rows, cols], changed[rows, cols], np.array([x - WINDOW, y - WINDOW])))
    return windows


def test_point_markers_are_centred_on_their_points():
    for (x, y), (_, changed, origin) in zip(POINTS, marker_windows()):
        rows, cols = np.nonzero(changed)
        centroid = np.array([cols.mean(), rows.mean()]) + origin
        assert np.abs(centroid - (x, y)).max() <= 0.5, f"marker for {(x, y)} is centred on {centroid}"
        # Symmetric about the point: the same after a half turn and after either mirror flip.
        np.testing.assert_array_equal(changed, changed[::-1, ::-1])
        np.testing.assert_array_equal(changed, changed[:, ::-1])
        np.testing.assert_array_equal(changed, changed[::-1, :])


def test_point_markers_have_their_label_colour_with_a_white_glyph_at_the_point():
    for (pixels, changed, _), colour in zip(marker_windows(), (viz.POSITIVE, viz.NEGATIVE)):
        assert (pixels[WINDOW, WINDOW] == 255).all(), "the glyph crosses the point itself, in white"
        non_white = [tuple(p) for p in pixels[changed] if not (p == 255).all()]
        assert Counter(non_white).most_common(1)[0][0] == tuple(rgb(colour))


def test_positive_and_negative_markers_differ_without_colour():
    (positive, positive_changed, _), (negative, negative_changed, _) = marker_windows()
    positive_white = (positive == 255).all(axis=-1) & positive_changed
    negative_white = (negative == 255).all(axis=-1) & negative_changed

    assert (positive_white != negative_white).any()
    assert viz.POSITIVE != viz.NEGATIVE


@pytest.mark.parametrize(("size", "radius"), [(100, 4), (640, 8), (1000, 12)])
def test_marker_size_grows_with_the_image(size, radius):
    image = grey_image(size, size)
    centre = size // 2

    changed = changed_pixels(image, viz.overlay(image, None, points=[[centre, centre]], labels=[1]))

    rows, cols = np.nonzero(changed)
    assert (rows.min(), rows.max()) == (centre - radius, centre + radius)
    assert (cols.min(), cols.max()) == (centre - radius, centre + radius)


def test_points_on_or_beyond_the_border_are_clipped():
    image = grey_image(30, 40)

    out = viz.overlay(image, None, points=[[0, 0], [39, 29], [-3, 10], [500, 500]], labels=[1, 0, 1, 0])

    assert out.shape == (30, 40, 3)
    assert (out[0, 0] == 255).all() and (out[29, 39] == 255).all()


def test_points_are_drawn_on_top_of_the_box_and_masks():
    mask = rectangle_mask(60, 80, slice(10, 50), slice(10, 70))

    out = viz.overlay(grey_image(60, 80), mask, points=[[10, 10]], labels=[0], box=(10, 10, 70, 50))

    assert (out[10, 10] == 255).all()
    assert (out[10, 40] == rgb(viz.BOX)).all(), "the box is drawn over the mask contour"


# ---------------------------------------------------------------------------------------------------------
# overlay: box
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("box", [(10, 15, 50, 40), (10.4, 14.6, 49.6, 40.2), np.array([10, 15, 50, 40])])
def test_box_outline_is_drawn_at_the_box_coordinates(box):
    image = grey_image(60, 80)
    expected = np.zeros((60, 80), dtype=bool)
    expected[15, 10:51] = expected[40, 10:51] = True
    expected[15:41, 10] = expected[15:41, 50] = True

    out = viz.overlay(image, None, box=box)

    np.testing.assert_array_equal(changed_pixels(image, out), expected)
    assert (out[expected] == rgb(viz.BOX)).all()


def test_box_partly_outside_the_image_is_clipped():
    image = grey_image(20, 20)

    out = viz.overlay(image, None, box=(-5, -5, 10, 10))

    assert (out[10, 0:11] == rgb(viz.BOX)).all() and (out[0:11, 10] == rgb(viz.BOX)).all()
    assert (out[11:, :] == GREY).all() and (out[:, 11:] == GREY).all()


# ---------------------------------------------------------------------------------------------------------
# overlay: bad inputs
# ---------------------------------------------------------------------------------------------------------

IMAGE = grey_image(20, 30)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"masks": np.zeros((10, 12), bool)}, "mask is 10x12 but the image is 20x30"),
        ({"masks": np.zeros((2, 20, 31), bool)}, "mask is 20x31 but the image is 20x30"),
        ({"masks": np.zeros((1, 1, 20, 30), bool)}, "masks must be HxW or NxHxW"),
        ({"masks": np.full((20, 30), "yes")}, "masks must be boolean or numeric"),
        # Points and boxes are checked as every prompt is (sam_demo.core.prompts), so the messages are the same.
        ({"points": [[1, 2], [3, 4]], "labels": [1]}, r"2 point\(s\) but 1 label\(s\)"),
        ({"points": [[1, 2], [3, 4]], "labels": [2, 0]}, r"point label 2 is not 0 \(background\) or 1 \(foreground\)"),
        ({"points": [[1, 2]]}, "points need labels"),
        ({"labels": [1]}, r"0 point\(s\) but 1 label\(s\)"),
        ({"points": [["a", "b"]], "labels": [1]}, "points must be numbers"),
        ({"points": [[1, 2, 3]], "labels": [1]}, r"points must be a list of \(x, y\) pairs; got shape \(1, 3\)"),
        ({"points": [[np.nan, 2]], "labels": [1]}, "points contains NaN or infinite values"),
        ({"points": [[1, 2]], "labels": ["x"]}, "point label 'x' is not 0"),
        ({"box": (10, 5, 2, 8)}, "needs x0 < x1 and y0 < y1"),
        ({"box": (1, 2, 3)}, r"a box is \(x0, y0, x1, y1\); got 3 number\(s\)"),
        ({"box": ("a", 1, 2, 3)}, "box must be numbers"),
        ({"alpha": 1.5}, "alpha must be between 0 and 1"),
    ],
)
def test_bad_prompts_and_masks_raise_value_error_saying_what_is_wrong(arguments, message):
    arguments = {"masks": None, **arguments}
    with pytest.raises(ValueError, match=message):
        viz.overlay(IMAGE, **arguments)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.full((4, 4), "x"), "image must be a uint8 array"),
        (np.zeros((4, 4, 3), dtype=np.float32), "image must be a uint8 array .* got dtype float32"),
        (np.zeros((4, 4, 2), dtype=np.uint8), r"image must be HxW, HxWx3 or HxWx4, got shape \(4, 4, 2\)"),
        (np.zeros((0, 4, 3), dtype=np.uint8), "image is empty"),
    ],
)
def test_bad_images_raise_value_error_saying_what_is_wrong(image, message):
    with pytest.raises(ValueError, match=message):
        viz.overlay(image, None)


def test_overlay_does_not_modify_its_inputs():
    image = np.random.default_rng(4).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    masks = np.stack([rectangle_mask(30, 40, slice(5, 20), slice(5, 20))] * 2)
    points, labels = np.array([[10.0, 10.0], [30.0, 20.0]]), np.array([1, 0])
    box = np.array([2.0, 3.0, 35.0, 25.0])
    pil_image = Image.fromarray(image)
    originals = [a.copy() for a in (image, masks, points, labels, box)]

    viz.overlay(image, masks, points=points, labels=labels, box=box)
    viz.overlay(pil_image, masks, points=points, labels=labels, box=box)

    for now, before in zip((image, masks, points, labels, box), originals):
        np.testing.assert_array_equal(now, before)
    assert pil_image.tobytes() == image.tobytes()


def test_overlay_is_fast_enough_for_every_click():
    yy, xx = np.mgrid[:600, :600]
    mask = (yy - 300) ** 2 / 150**2 + (xx - 280) ** 2 / 200**2 <= 1
    image = np.random.default_rng(5).integers(0, 256, (600, 600, 3), dtype=np.uint8)

    timings = []
    for _ in range(5):
        start = time.perf_counter()
        viz.overlay(image, mask, points=[[280, 300], [90, 100]], labels=[1, 0], box=(80, 150, 480, 450))
        timings.append(time.perf_counter() - start)

    # Generous bound (it takes a few ms): this guards against an accidental slow path, not machine speed.
    assert min(timings) < 0.05


# ---------------------------------------------------------------------------------------------------------
# mask_to_png_array
# ---------------------------------------------------------------------------------------------------------


def composited(image: np.ndarray, layer: viz.Layer) -> np.ndarray:
    """`layer` over `image`, as a browser composites an image with straight alpha over another."""
    out = image.astype(float)
    rgba = layer.rgba().astype(float)
    window = out[layer.top : layer.top + rgba.shape[0], layer.left : layer.left + rgba.shape[1]]
    window[:] = rgba[..., :3] * rgba[..., 3:] / 255 + window * (1 - rgba[..., 3:] / 255)
    return out


@pytest.mark.parametrize(
    "prompts",
    [
        dict(points=np.array([[70.0, 50.0], [20.0, 90.0]]), labels=np.array([1, 0])),
        dict(box=(30, 25, 110, 95), points=np.array([[0.0, 0.0]]), labels=np.array([1])),
        dict(corner=(119.0, 99.0)),
    ],
)
def test_a_layer_over_the_image_shows_what_overlay_draws(prompts):
    image = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    mask = np.zeros((100, 120), bool)
    mask[40:70, 50:90] = True
    layer = viz.overlay_layer((100, 120), mask, **prompts)
    expected = viz.overlay(image, mask, **prompts).astype(float)
    assert np.abs(composited(image, layer) - expected).max() <= 1  # rounding only
    assert layer.indices.dtype == np.uint8 and layer.palette[0, 3] == 0  # a byte per pixel; 0 is transparent


def test_a_layer_is_cut_to_what_is_drawn_and_is_none_without_anything():
    mask = np.zeros((200, 300), bool)
    mask[50:80, 100:160] = True
    layer = viz.overlay_layer((200, 300), mask)
    assert (layer.left, layer.top, layer.indices.shape) == (100, 50, (30, 60))
    assert viz.overlay_layer((200, 300), np.zeros((200, 300), bool)) is None
    assert viz.overlay_layer((200, 300), None) is None
    with pytest.raises(ValueError, match="HxW"):
        viz.overlay_layer((200, 300), np.zeros((2, 200, 300), bool))


def test_a_layer_saved_as_png_keeps_its_colours_and_transparency(tmp_path):
    mask = np.zeros((60, 80), bool)
    mask[10:40, 20:60] = True
    layer = viz.overlay_layer((60, 80), mask, points=np.array([[30.0, 20.0]]), labels=np.array([1]))
    layer.image().save(tmp_path / "layer.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "layer.png").convert("RGBA")), layer.rgba())


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float64])
def test_mask_to_png_array_is_0_or_255(dtype):
    mask = rectangle_mask(6, 9, slice(1, 4), slice(2, 7))

    png = viz.mask_to_png_array(mask.astype(dtype))

    assert png.dtype == np.uint8 and png.shape == (6, 9)
    assert set(np.unique(png).tolist()) == {0, 255}
    np.testing.assert_array_equal(png == 255, mask)


def test_mask_to_png_array_rejects_stacks():
    with pytest.raises(ValueError, match="mask must be HxW"):
        viz.mask_to_png_array(np.zeros((2, 6, 9), dtype=bool))


# ---------------------------------------------------------------------------------------------------------
# matplotlib helpers
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def ax(monkeypatch):
    def refuse_show(*args, **kwargs):
        raise AssertionError("library code must not call plt.show()")

    monkeypatch.setattr(plt, "show", refuse_show)
    figure, axes = plt.subplots()
    figures_before = plt.get_fignums()
    yield axes
    assert plt.get_fignums() == figures_before, "library code must not create figures"
    figure.canvas.draw()  # everything added must render
    plt.close(figure)


def test_display_mask_adds_a_layer_transparent_outside_the_mask(ax):
    mask = rectangle_mask(10, 14, slice(2, 6), slice(3, 9))

    viz.display_mask(mask, ax, alpha=0.3)

    assert len(ax.images) == 1
    layer = np.asarray(ax.images[0].get_array())
    assert layer.shape == (10, 14, 4)
    np.testing.assert_allclose(layer[mask], [(*to_rgb(viz.MASK_COLOURS[0]), 0.3)] * mask.sum(), atol=1e-6)
    assert (layer[~mask][:, 3] == 0).all()


def test_display_mask_uses_the_given_colour(ax):
    viz.display_mask(np.eye(5, dtype=np.uint8), ax, color="red")

    layer = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(layer[2, 2], (1, 0, 0, 0.5))


def test_display_box_adds_an_unfilled_rectangle_at_the_box(ax):
    viz.display_box((10, 15, 50, 40), ax)

    (rectangle,) = ax.patches
    assert isinstance(rectangle, Rectangle)
    assert rectangle.get_xy() == (10, 15)
    assert (rectangle.get_width(), rectangle.get_height()) == (40, 25)
    assert not rectangle.get_fill()
    assert rectangle.get_linewidth() == 2
    np.testing.assert_allclose(rectangle.get_edgecolor(), to_rgba(viz.BOX))


def test_display_points_adds_one_collection_per_label_in_its_colour(ax):
    viz.display_points(POINTS, LABELS, ax)

    positive, negative = ax.collections
    np.testing.assert_allclose(positive.get_offsets(), POINTS[:1])
    np.testing.assert_allclose(negative.get_offsets(), POINTS[1:])
    np.testing.assert_allclose(positive.get_facecolor()[0], to_rgba(viz.POSITIVE))
    np.testing.assert_allclose(negative.get_facecolor()[0], to_rgba(viz.NEGATIVE))
    np.testing.assert_allclose(positive.get_edgecolor()[0], to_rgba("white"))
    assert (positive.get_sizes() == 200).all()
    assert positive.get_paths()[0] != negative.get_paths()[0], "the two labels need different shapes"


def test_display_points_skips_absent_labels_and_checks_inputs(ax):
    viz.display_points([[1, 2], [3, 4]], [1, 1], ax, marker_size=50)

    (positive,) = ax.collections
    assert (positive.get_sizes() == 50).all()
    with pytest.raises(ValueError, match=r"2 point\(s\) but 3 label\(s\)"):
        viz.display_points([[1, 2], [3, 4]], [1, 1, 0], ax)


@pytest.mark.parametrize("image", [np.full((20, 30), 90, np.uint8), Image.new("RGB", (30, 20))])
def test_display_boxes_on_img_shows_the_image_and_every_box_without_axes(ax, image):
    viz.display_boxes_on_img(image, [(1, 2, 10, 12), (5, 5, 25, 18)], ax)

    (shown,) = ax.images
    assert np.asarray(shown.get_array()).shape[:2] == (20, 30)
    assert [patch.get_xy() for patch in ax.patches] == [(1, 2), (5, 5)]
    assert not ax.axison


def test_importing_viz_loads_neither_pyplot_nor_tensorflow():
    code = (
        "import sys, sam_demo.drawing.viz; "
        "loaded = [m for m in ('matplotlib.pyplot', 'tensorflow', 'transformers') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
