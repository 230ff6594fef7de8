"""Drawing masks and prompts: `overlay` for the web app, and matplotlib helpers for notebooks and figures.

Colours come from the Okabe-Ito palette, which stays distinguishable under the common colour-vision
deficiencies. Prompt points never rely on colour alone:

* positive (foreground, label 1): a bluish-green disc with a white outline and a white '+';
* negative (background, label 0): a vermillion disc with a white outline and a white '−'.

The matplotlib helpers draw the same shapes without the disc: a filled '+' and a filled '−', edged in white.
('+' against '−' stays legible at the smallest marker size, where an 'x' turns into a checkerboard.)

`overlay` uses numpy only, because the web app calls it on every click. The matplotlib helpers draw on an
`Axes` the caller owns: they never create figures, pick a backend or call `show`, and matplotlib is only
imported inside them, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

from ..core.prompts import checked_box, checked_points

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "BLUE",
    "BLUISH_GREEN",
    "BOX",
    "MASK_COLOURS",
    "NEGATIVE",
    "ORANGE",
    "POSITIVE",
    "REDDISH_PURPLE",
    "REGION_COLOURS",
    "SKY_BLUE",
    "VERMILLION",
    "YELLOW",
    "display_box",
    "display_boxes_on_img",
    "display_mask",
    "display_points",
    "Layer",
    "mask_to_png_array",
    "overlay",
    "overlay_layer",
]

# Okabe-Ito palette.
SKY_BLUE = "#56B4E9"
ORANGE = "#E69F00"
BLUISH_GREEN = "#009E73"
REDDISH_PURPLE = "#CC79A7"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
YELLOW = "#F0E442"

# Colour of the i-th mask; cycled when there are more masks than colours.
MASK_COLOURS: tuple[str, ...] = (SKY_BLUE, ORANGE, BLUISH_GREEN, REDDISH_PURPLE, BLUE, VERMILLION, YELLOW)
# Colour of region k of a label image (the app's finished lesions): every colour but the first mask's, so the
# mask being edited stands out; the prompt colours come last, so that markers are clear with up to four regions.
REGION_COLOURS: tuple[str, ...] = (ORANGE, REDDISH_PURPLE, BLUE, YELLOW, VERMILLION, BLUISH_GREEN)
POSITIVE = BLUISH_GREEN
NEGATIVE = VERMILLION
BOX = YELLOW

# matplotlib's filled plus ("P") without its vertical arm: same width and stroke as "P".
_FILLED_MINUS = [(-1.0, -1 / 3), (1.0, -1 / 3), (1.0, 1 / 3), (-1.0, 1 / 3)]


# ---------------------------------------------------------------------------------------------------------
# matplotlib helpers
# ---------------------------------------------------------------------------------------------------------


def display_mask(mask: np.ndarray, ax: Axes, color: str | Sequence[float] | None = None, alpha: float = 0.5) -> None:
    """Draw an HxW boolean (or 0/1) mask on `ax` as a translucent layer (first mask colour by default)."""
    from matplotlib.colors import to_rgb

    inside = _as_bool_array(mask, "mask")
    if inside.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {inside.shape}")
    _check_alpha(alpha)
    layer = np.zeros((*inside.shape, 4), dtype=np.float32)
    # Transparent everywhere except inside the mask, so whatever is already on the axes shows through.
    layer[inside] = (*to_rgb(MASK_COLOURS[0] if color is None else color), alpha)
    ax.imshow(layer, interpolation="nearest")


def display_box(box: Sequence[float], ax: Axes, color: str | Sequence[float] = BOX) -> None:
    """Draw `box` = (x0, y0, x1, y1), in pixels, on `ax` as an unfilled rectangle."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = _as_box(box)
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=2))


def display_points(points: np.ndarray, labels: np.ndarray, ax: Axes, marker_size: float = 200) -> None:
    """Draw Nx2 (x, y) pixel `points` on `ax`: label 1 as a bluish-green '+', label 0 as a vermillion '−'.

    `marker_size` is matplotlib's scatter size (points squared). One collection is added per label present.
    """
    xy, point_labels = _as_points(points, labels)
    for label, colour, marker in ((1, POSITIVE, "P"), (0, NEGATIVE, _FILLED_MINUS)):
        chosen = xy[point_labels == label]
        if len(chosen):
            ax.scatter(
                chosen[:, 0],
                chosen[:, 1],
                s=marker_size,
                c=colour,
                marker=marker,
                edgecolors="white",
                linewidths=1.25,
            )


def display_boxes_on_img(image: np.ndarray | Image.Image, boxes: Sequence[Sequence[float]], ax: Axes) -> None:
    """Show `image` (grayscale, RGB or RGBA) on `ax` with each (x0, y0, x1, y1) box on top, without axes."""
    ax.imshow(_as_rgb_uint8(image))
    for box in boxes:
        display_box(box, ax)
    ax.axis("off")


# ---------------------------------------------------------------------------------------------------------
# Fast numpy rendering for the web app
# ---------------------------------------------------------------------------------------------------------


def overlay(
    image: np.ndarray | Image.Image,
    masks: np.ndarray | None,
    points: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    box: Sequence[float] | None = None,
    alpha: float = 0.5,
    contour: bool = True,
    corner: Sequence[float] | None = None,
    regions: np.ndarray | None = None,
) -> np.ndarray:
    """Render masks and prompts over `image` and return an HxWx3 uint8 RGB array of the image's size.

    `image` is an HxW, HxWx3 or HxWx4 (alpha dropped) uint8 array, or a PIL image. `regions` is None or an HxW
    integer label image (0 = none, 1-255 = regions); region k is blended in `REGION_COLOURS[k - 1]` (cycled).
    `masks` is None, an HxW mask or an NxHxW stack (non-zero = inside); mask i is blended in `MASK_COLOURS[i]`,
    on top of the regions. Fills are at `alpha` and, if `contour`, outlined opaquely. Then the (x0, y0, x1, y1)
    `box` is outlined in yellow and the Nx2 (x, y) `points` with their 0/1 `labels` are drawn on top, each marker
    centred on its point rounded to the nearest pixel. `corner`, the (x, y) first click of a box being drawn, is
    marked with a yellow cross.
    Line widths and marker sizes grow with the image. Inputs are never modified.
    Raises ValueError describing the first bad input.
    """
    rendered = _as_rgb_uint8(image).copy()
    drawing = _Drawing.checked(rendered.shape[:2], masks, points, labels, box, alpha, corner, regions)
    drawing.draw(rendered, contour, (slice(None), slice(None)), _RgbInk(alpha))
    return rendered


@dataclass(frozen=True)
class Layer:
    """What `overlay` draws, without the image: a palette image cut to what is drawn, and its top-left pixel."""

    indices: np.ndarray  # hxw uint8, indices into `palette`
    palette: np.ndarray  # Px4 uint8 RGBA (straight alpha); entry 0 is transparent
    left: int
    top: int

    def rgba(self) -> np.ndarray:
        """The layer as an hxwx4 uint8 RGBA image."""
        return self.palette[self.indices]

    def image(self) -> Image.Image:
        """The layer as a PIL palette image with transparency (saved as PNG: a byte per pixel, and small)."""
        image = Image.fromarray(self.indices, mode="P")
        image.putpalette(self.palette[:, :3].tobytes())
        image.info["transparency"] = self.palette[:, 3].tobytes()
        return image


def overlay_layer(
    size: tuple[int, int],
    mask: np.ndarray | None,
    points: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    box: Sequence[float] | None = None,
    alpha: float = 0.5,
    contour: bool = True,
    corner: Sequence[float] | None = None,
) -> Layer | None:
    """`overlay`'s drawing of one HxW `mask` and the prompts for an image of `size` (height, width), as a layer to
    composite over the image; None if nothing is drawn.

    Composited over the image, it gives `overlay(image, mask, ...)` to within one level of rounding. It is a
    palette image (a byte per pixel) cut to the smallest rectangle holding all of it: the app sends it per click
    instead of a whole new image, a few KB for a tumour where the image takes hundreds.
    """
    if mask is not None and np.ndim(mask) != 2:
        raise ValueError(f"mask must be HxW, got shape {np.shape(mask)}")
    drawing = _Drawing.checked(size, mask, points, labels, box, alpha, corner, None)
    window = drawing.extent()
    if window is None:
        return None
    rows, cols = window
    ink = _PaletteInk(alpha)
    indices = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.uint8)
    drawing.draw(indices, contour, window, ink)
    return Layer(indices, ink.palette(), left=cols.start, top=rows.start)


class _RgbInk:
    """How `_Drawing` paints on an RGB image: colours blended into it or painted over it."""

    def __init__(self, alpha: float):
        self.alpha = alpha

    def solid(self, colour: str) -> np.ndarray:
        return _hex_to_rgb(colour)

    def fill(self, canvas: np.ndarray, inside: np.ndarray, colour: str) -> None:
        _blend_in_place(canvas, inside, _hex_to_rgb(colour), self.alpha)


class _PaletteInk:
    """How `_Drawing` paints a layer: palette indices of colours, a fill being its colour at `alpha` over nothing."""

    def __init__(self, alpha: float):
        self.opacity = round(255 * alpha)
        self._entries: dict[tuple[str, int], int] = {("#000000", 0): 0}

    def _index(self, colour: str, opacity: int) -> int:
        return self._entries.setdefault((colour, opacity), len(self._entries))

    def solid(self, colour: str) -> int:
        return self._index(colour, 255)

    def fill(self, canvas: np.ndarray, inside: np.ndarray, colour: str) -> None:
        canvas[inside] = self._index(colour, self.opacity)

    def palette(self) -> np.ndarray:
        entries = sorted(self._entries.items(), key=lambda item: item[1])
        return np.array([(*_hex_to_rgb(colour), opacity) for (colour, opacity), _ in entries], np.uint8)


@dataclass(frozen=True)
class _Drawing:
    """`overlay`'s inputs, checked, and how thick its lines and markers are for the image's size."""

    size: tuple[int, int]
    regions: list[tuple[tuple[slice, slice], np.ndarray, str]]  # (window, inside, colour) per region, then mask
    point_xy: np.ndarray | None
    point_labels: np.ndarray | None
    box: tuple[float, float, float, float] | None
    corner: tuple[float, float] | None
    line_width: int
    marker_radius: int

    @classmethod
    def checked(cls, size, masks, points, labels, box, alpha, corner, regions) -> _Drawing:
        height, width = size
        mask_stack = _as_mask_stack(masks, height, width)
        region_map = None if regions is None else _as_label_image(regions, height, width)
        point_xy, point_labels = (None, None) if points is None and labels is None else _as_points(points, labels)
        box_corners = None if box is None else _as_box(box)
        _check_alpha(alpha)
        corner_xy = None
        if corner is not None:
            corner_xy = _as_finite_numbers(corner, "corner").reshape(-1)
            if corner_xy.shape != (2,):
                raise ValueError(f"corner must be (x, y), got {corner_xy.size} numbers")
            corner_xy = tuple(float(v) for v in corner_xy)
        # Each mask is drawn within its bounding box only: tumours usually cover a small part of the image.
        drawn = [] if region_map is None else _label_regions(region_map)
        for index, inside in enumerate(mask_stack):
            window = _bounding_window(inside)
            if window is not None:
                drawn.append((window, inside[window], MASK_COLOURS[index % len(MASK_COLOURS)]))
        return cls(
            size=(height, width),
            regions=drawn,
            point_xy=point_xy,
            point_labels=point_labels,
            box=box_corners,
            corner=corner_xy,
            # Lines and markers scale with the image so they look the same once the browser fits it to the page.
            line_width=max(1, round(min(height, width) / 300)),
            marker_radius=max(4, round(min(height, width) / 80)),
        )

    def extent(self) -> tuple[slice, slice] | None:
        """Rows and columns of the image holding everything drawn (clipped to the image); None if nothing is."""
        height, width = self.size
        rects = [(w[0].start, w[1].start, w[0].stop, w[1].stop) for w, _, _ in self.regions]  # top, left, bottom, right
        reach = self.marker_radius + self.line_width + 1  # a marker's or the corner cross's half-size, with margin
        centres = [] if self.point_xy is None else [tuple(xy) for xy in self.point_xy]
        centres += [] if self.corner is None else [self.corner]
        for x, y in centres:
            x, y = _round_half_up(x), _round_half_up(y)
            rects.append((y - reach, x - reach, y + reach + 1, x + reach + 1))
        if self.box is not None:
            x0, y0, x1, y1 = (_round_half_up(v) for v in self.box)
            rects.append((y0, x0, y1 + 1, x1 + 1))
        if not rects:
            return None
        top, left = max(0, min(r[0] for r in rects)), max(0, min(r[1] for r in rects))
        bottom, right = min(height, max(r[2] for r in rects)), min(width, max(r[3] for r in rects))
        if top >= bottom or left >= right:
            return None
        return slice(top, bottom), slice(left, right)

    def draw(self, canvas: np.ndarray, contour: bool, window: tuple[slice, slice], ink: _RgbInk | _PaletteInk) -> None:
        """Draw with `ink` on `canvas`, which shows `window` of the image (the whole image: two `slice(None)`)."""
        top, left = window[0].start or 0, window[1].start or 0
        parts = []
        for (rows, cols), inside, colour in self.regions:  # each within the canvas's frame
            parts.append(
                ((slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left)), inside, colour)
            )
        for place, inside, colour in parts:
            ink.fill(canvas[place], inside, colour)
        if contour:
            # Contours go on after every fill so that an overlapping mask's fill cannot hide another's outline.
            for place, inside, colour in parts:
                canvas[place][_inner_boundary(inside, self.line_width)] = ink.solid(colour)
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            _draw_box_outline(canvas, (x0 - left, y0 - top, x1 - left, y1 - top), self.line_width, ink.solid(BOX))
        if self.corner is not None:
            x, y = (_round_half_up(v) for v in self.corner)
            _draw_cross(canvas, x - left, y - top, self.marker_radius, self.line_width + 1, ink.solid(BOX))
        if self.point_xy is not None:
            for (x, y), label in zip(self.point_xy, self.point_labels):
                x, y = _round_half_up(x) - left, _round_half_up(y) - top
                colours = ink.solid("#FFFFFF"), ink.solid(POSITIVE if label == 1 else NEGATIVE)
                _draw_marker(canvas, x, y, self.marker_radius, positive=label == 1, colours=colours)


def mask_to_png_array(mask: np.ndarray) -> np.ndarray:
    """An HxW uint8 image of `mask`: 255 inside (non-zero), 0 outside, ready to save as a PNG."""
    inside = _as_bool_array(mask, "mask")
    if inside.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {inside.shape}")
    return inside.astype(np.uint8) * np.uint8(255)


# ---------------------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------------------


def _as_rgb_uint8(image: np.ndarray | Image.Image) -> np.ndarray:
    """`image` as an HxWx3 uint8 array (possibly a view of the input: copy before drawing on it)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        # Other dtypes are ambiguous (floats in 0-1 or 0-255?), so refuse rather than guess.
        raise ValueError(f"image must be a uint8 array (or a PIL image), got dtype {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
    elif not (pixels.ndim == 3 and pixels.shape[2] in (3, 4)):
        raise ValueError(f"image must be HxW, HxWx3 or HxWx4, got shape {pixels.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"image is empty (shape {pixels.shape})")
    return pixels[:, :, :3]


def _as_bool_array(values: np.ndarray, name: str) -> np.ndarray:
    """`values` as a boolean array (non-zero = True); ValueError if they are not numbers."""
    array = np.asarray(values)
    if array.dtype == bool:
        return array
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be boolean or numeric, got dtype {array.dtype}")
    return array != 0


def _as_mask_stack(masks: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """`masks` as an NxHxW boolean stack matching the image size (N = 0 for None)."""
    if masks is None:
        return np.zeros((0, height, width), dtype=bool)
    stack = _as_bool_array(masks, "masks")
    if stack.ndim == 2:
        stack = stack[np.newaxis]
    elif stack.ndim != 3:
        raise ValueError(f"masks must be HxW or NxHxW, got shape {stack.shape}")
    if stack.shape[1:] != (height, width):
        raise ValueError(
            f"mask is {stack.shape[1]}x{stack.shape[2]} but the image is {height}x{width} (height x width)"
        )
    return stack


def _as_label_image(regions: np.ndarray, height: int, width: int) -> np.ndarray:
    """`regions` as an HxW integer array of values 0-255 (as in a label PNG) matching the image size."""
    labels = np.asarray(regions)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"regions must be an integer label image, got dtype {labels.dtype}")
    if labels.shape != (height, width):
        raise ValueError(f"regions is {labels.shape} but the image is {height}x{width} (height x width)")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"regions must be between 0 and 255, got {labels.min()} to {labels.max()}")
    return labels


def _as_points(points: np.ndarray | None, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Nx2 float (x, y) points and N integer 0/1 labels, checked as every prompt is (`core.prompts`)."""
    xy, point_labels = checked_points(points, labels)
    return xy.astype(float), point_labels.astype(int)


def _as_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) with x0 < x1 and y0 < y1, checked as every prompt is (`core.prompts`)."""
    x0, y0, x1, y1 = (float(v) for v in checked_box(box))
    return x0, y0, x1, y1


def _as_finite_numbers(values: object, name: str) -> np.ndarray:
    """`values` as a float array; ValueError if they are not finite numbers."""
    array = np.asarray(values)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(float)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    return array


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")


# ---------------------------------------------------------------------------------------------------------
# Drawing primitives (numpy, in place on an HxWx3 uint8 array)
# ---------------------------------------------------------------------------------------------------------


def _hex_to_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)


def _round_half_up(value: float) -> int:
    # Python's round() sends 2.5 to 2 but 3.5 to 4; clicks should map to pixels consistently.
    return int(np.floor(value + 0.5))


def _bounding_window(inside: np.ndarray) -> tuple[slice, slice] | None:
    """Row and column slices of the smallest rectangle holding every True pixel; None if there is none."""
    rows = np.flatnonzero(inside.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(inside.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _label_regions(labels: np.ndarray) -> list[tuple[tuple[slice, slice], np.ndarray, str]]:
    """(window, inside, colour) of each region of a label image, each within its bounding box."""
    outer = _bounding_window(labels > 0)
    if outer is None:
        return []
    cropped = labels[outer]
    drawn = []
    for value in range(1, int(cropped.max()) + 1):
        window = _bounding_window(cropped == value)
        if window is not None:
            rows, cols = (slice(o.start + w.start, o.start + w.stop) for o, w in zip(outer, window))
            colour = REGION_COLOURS[(value - 1) % len(REGION_COLOURS)]
            drawn.append(((rows, cols), cropped[window] == value, colour))
    return drawn


def _blend_in_place(canvas: np.ndarray, inside: np.ndarray, colour: np.ndarray, alpha: float) -> None:
    """Mix `colour` into the `inside` pixels of `canvas` at `alpha`; other pixels stay bit-exact."""
    # A 256-entry table per channel turns the blend into lookups: several times faster than per-pixel floats.
    table = np.rint(np.arange(256)[:, np.newaxis] * (1.0 - alpha) + colour * alpha).astype(np.uint8)
    for channel in range(3):
        np.copyto(canvas[..., channel], table[canvas[..., channel], channel], where=inside)


def _inner_boundary(inside: np.ndarray, width: int) -> np.ndarray:
    """The mask pixels within `width` 3x3 steps of the outside (beyond the array counts as outside)."""
    eroded = inside
    for _ in range(width):
        # A 3x3 erosion done as two 1-D erosions: a pixel survives if its neighbours on both sides are inside.
        vertical = eroded.copy()
        vertical[1:] &= eroded[:-1]
        vertical[:-1] &= eroded[1:]
        vertical[[0, -1]] = False
        eroded = vertical.copy()
        eroded[:, 1:] &= vertical[:, :-1]
        eroded[:, :-1] &= vertical[:, 1:]
        eroded[:, [0, -1]] = False
    return inside & ~eroded


def _fill_rect(canvas: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], colour: np.ndarray) -> None:
    """Paint rows [r0, r1) x cols [c0, c1), clipped to the canvas (negative starts must not wrap around)."""
    height, width = canvas.shape[:2]
    r0, r1 = max(rows[0], 0), min(rows[1], height)
    c0, c1 = max(cols[0], 0), min(cols[1], width)
    if r0 < r1 and c0 < c1:
        canvas[r0:r1, c0:c1] = colour


def _draw_box_outline(
    canvas: np.ndarray, box: tuple[float, float, float, float], width: int, colour: np.ndarray
) -> None:
    """Outline the box inside its corners: the outermost rows/columns are exactly y0, y1, x0 and x1."""
    x0, y0, x1, y1 = (_round_half_up(v) for v in box)
    _fill_rect(canvas, (y0, min(y0 + width, y1 + 1)), (x0, x1 + 1), colour)  # top
    _fill_rect(canvas, (max(y1 - width + 1, y0), y1 + 1), (x0, x1 + 1), colour)  # bottom
    _fill_rect(canvas, (y0, y1 + 1), (x0, min(x0 + width, x1 + 1)), colour)  # left
    _fill_rect(canvas, (y0, y1 + 1), (max(x1 - width + 1, x0), x1 + 1), colour)  # right


def _draw_cross(canvas: np.ndarray, x: int, y: int, radius: int, width: int, colour: np.ndarray) -> None:
    half = width // 2
    _fill_rect(canvas, (y - half, y - half + width), (x - radius, x + radius + 1), colour)
    _fill_rect(canvas, (y - radius, y + radius + 1), (x - half, x - half + width), colour)


def _draw_marker(canvas: np.ndarray, x: int, y: int, radius: int, positive: bool, colours: tuple) -> None:
    """Draw a marker centred on pixel (x, y): white-rimmed disc, white '+' (positive) or '−' (negative). `colours`:
    the white and the disc's colour as `canvas` holds them.

    Every part is defined by offsets from the centre with mirror-symmetric conditions, so the marker is
    symmetric about (x, y); the browser tests rely on that to find clicks in the rendered image.
    """
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    squared_distance = dx**2 + dy**2
    rim_width = max(1, radius // 4)
    fill_radius = radius - rim_width
    # r**2 + r is (r + 0.5)**2 in whole pixels: a round disc without single-pixel bumps at its four extremes.
    disc = squared_distance <= radius**2 + radius
    fill = squared_distance <= fill_radius**2 + fill_radius
    # The glyph's arms stop a pixel short of the rim so the fill colour shows all around them.
    half_stroke, reach = radius // 6, fill_radius - 1
    horizontal_bar = (np.abs(dy) <= half_stroke) & (np.abs(dx) <= reach)
    vertical_bar = (np.abs(dx) <= half_stroke) & (np.abs(dy) <= reach)
    glyph = horizontal_bar | vertical_bar if positive else horizontal_bar

    # Clip the marker's square to the canvas so points near (or beyond) the border draw what is visible.
    height, width = canvas.shape[:2]
    top, left = y - radius, x - radius
    r0, r1 = max(top, 0), min(y + radius + 1, height)
    c0, c1 = max(left, 0), min(x + radius + 1, width)
    if r0 >= r1 or c0 >= c1:
        return
    window = canvas[r0:r1, c0:c1]
    stencil = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
    rim, inner = colours
    window[disc[stencil]] = rim
    window[(fill & ~glyph)[stencil]] = inner
