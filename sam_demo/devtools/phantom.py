"""Synthetic breast-ultrasound phantoms with a known tumour mask.

The project cannot download real images in tests or CI, so tests, benchmarks, the app's examples and the
training smoke test use these instead. Each phantom is a B-mode-like grayscale image of a linear-probe breast
scan (gel, bright skin line, subcutaneous fat with Cooper's ligaments, banded fibroglandular tissue,
pectoral muscle), with speckle and depth attenuation, and one hypoechoic lesion whose exact outline is the mask:

* benign: smooth oval, wider than tall, with posterior acoustic enhancement (a brighter column below it);
* malignant: lobulated and spiculated, often taller than wide, with posterior acoustic shadowing.

Everything is drawn from ``np.random.default_rng(seed)`` (no global random state) and built from plain numpy
arithmetic (no scipy, no PIL filters, the lesion outline rasterised with exact arithmetic), so the same seed
gives the same arrays on any machine; tests pin the committed ``examples/`` to the generator.

Command line::

    python -m sam_demo.phantom --out examples --count 4 [--seed 0] [--overwrite]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .raster import blend_below, fill_polygon, gauss_blur, random_wave, single_component, smooth_noise, smoothstep

KINDS = ("benign", "malignant")
#: (height, width) of the phantoms ``make_phantoms`` cycles through: landscape, portrait, square, landscape.
EXAMPLE_SIZES: tuple[tuple[int, int], ...] = ((448, 576), (600, 440), (512, 512), (420, 620))
DEFAULT_SIZE = (448, 576)
_MIN_SIDE = 96


@dataclass(frozen=True)
class Phantom:
    """One phantom and what was chosen to draw it."""

    image: np.ndarray  # (H, W) uint8 B-mode image
    mask: np.ndarray  # (H, W) bool, True inside the lesion
    kind: str  # "benign" or "malignant"
    fov: tuple[int, int, int, int]  # field of view (top, bottom, left, right), half-open; black outside
    seed: int


# ----------------------------------------------------------------------------------------------- phantom


@dataclass(frozen=True)
class _FieldOfView:
    """The image's size and the probe's rectangle in it (rows top:bottom, columns left:right, half-open)."""

    shape: tuple[int, int]  # (height, width) of the whole image
    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def rows(self) -> np.ndarray:
        """Row centres of the whole image, as a column (H, 1)."""
        return (np.arange(self.shape[0]) + 0.5)[:, None]

    @property
    def cols(self) -> np.ndarray:
        """Column centres of the whole image (W,)."""
        return np.arange(self.shape[1]) + 0.5


@dataclass(frozen=True)
class _Layers:
    """Boundaries between the tissue layers, top to bottom: rows (floats) per image column."""

    skin: np.ndarray  # gel / skin
    dermis: np.ndarray  # dermis / subcutaneous fat
    fat: np.ndarray  # subcutaneous fat / fibroglandular tissue
    gland: np.ndarray  # fibroglandular tissue / retromammary fat
    fascia: np.ndarray  # retromammary fat / pectoral muscle


def _lesion_outline(rng: np.random.Generator, malignant: bool, n: int = 720) -> tuple[np.ndarray, np.ndarray]:
    """Polar outline (x, y offsets from the centre, arbitrary scale) of a benign or malignant lesion."""
    theta = np.arange(n) * (2.0 * math.pi / n)
    if malignant:
        aspect = rng.uniform(0.7, 1.15)  # width / height: often taller than wide
        tilt = rng.uniform(-0.45, 0.45)
    else:
        aspect = rng.uniform(1.3, 2.0)  # wider than tall ("parallel to the skin")
        tilt = rng.uniform(-0.25, 0.25)
    a, b = math.sqrt(aspect), 1.0 / math.sqrt(aspect)
    phi = theta - tilt
    radius = 1.0 / np.sqrt((np.cos(phi) / a) ** 2 + (np.sin(phi) / b) ** 2)
    # Lobulation: a few low harmonics (gentle for benign, marked for malignant).
    lobes = np.zeros(n)
    harmonics = range(3, 9) if malignant else range(2, 5)
    for k in harmonics:
        amp = rng.uniform(0.03, 0.10) if malignant else rng.uniform(0.0, 0.05)
        lobes += amp * np.cos(k * theta + rng.uniform(0.0, 2.0 * math.pi))
    radius = radius * (1.0 + lobes)
    if malignant:
        # Angular margin: short-scale jaggedness plus radiating spicules.
        jag = np.convolve(np.tile(rng.standard_normal(n), 3), np.ones(9) / 9.0, mode="same")[n : 2 * n]
        radius = radius * (1.0 + rng.uniform(0.03, 0.07) * jag)
        spiculated = rng.random() < 0.65  # otherwise an irregular, microlobulated margin
        micro_amp = 0.0 if spiculated else rng.uniform(0.04, 0.08)
        micro_k, micro_phase = int(rng.integers(14, 24)), rng.uniform(0.0, 2.0 * math.pi)
        radius = radius * (1.0 + micro_amp * np.cos(micro_k * theta + micro_phase))
        for _ in range(int(rng.integers(7, 17)) if spiculated else int(rng.integers(0, 4))):
            centre = rng.uniform(0.0, 2.0 * math.pi)
            half_width = rng.uniform(0.07, 0.14)
            length = rng.uniform(0.15, 0.45)
            delta = np.abs((theta - centre + math.pi) % (2.0 * math.pi) - math.pi)
            radius = radius + length * np.clip(1.0 - delta / half_width, 0.0, None) ** 1.3
    return radius * np.cos(theta), radius * np.sin(theta)


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    height, width = (int(v) for v in size)
    if height < _MIN_SIDE or width < _MIN_SIDE:
        raise ValueError(f"phantom size must be at least {_MIN_SIDE} px per side, got {tuple(size)}")
    return height, width


def _field_of_view(rng: np.random.Generator, height: int, width: int) -> _FieldOfView:
    """A linear probe's rectangle; often black bands (annotations) left, right and below."""
    margins = rng.uniform([0.0, 0.0, 0.02, 0.02], [0.03, 0.07, 0.09, 0.09])
    if rng.random() < 0.35:
        margins[:] = 0.0
    top, bottom = round(margins[0] * height), height - round(margins[1] * height)
    left, right = round(margins[2] * width), width - round(margins[3] * width)
    return _FieldOfView((height, width), top, bottom, left, right)


def _layer_boundaries(rng: np.random.Generator, fov: _FieldOfView) -> _Layers:
    """Wavy layer boundaries (rows, as functions of the column)."""
    top, fov_h, width = fov.top, fov.height, fov.shape[1]
    skin = top + fov_h * rng.uniform(0.02, 0.045) + random_wave(rng, width, rng.uniform(1.0, 3.0), (150, 700))
    dermis = skin + fov_h * rng.uniform(0.012, 0.022)
    fat = dermis + fov_h * rng.uniform(0.07, 0.15) + random_wave(rng, width, rng.uniform(4.0, 12.0), (120, 500))
    gland = top + fov_h * rng.uniform(0.76, 0.9) + random_wave(rng, width, rng.uniform(6.0, 16.0), (150, 600))
    fascia = gland + fov_h * rng.uniform(0.03, 0.06) + random_wave(rng, width, rng.uniform(2.0, 5.0), (200, 700))
    return _Layers(skin, dermis, fat, gland, fascia)


def _tissue_echo(rng: np.random.Generator, fov: _FieldOfView, layers: _Layers) -> np.ndarray:
    """Echogenicity (backscattered power, 1 = average glandular tissue) of each tissue, blended across the
    layer boundaries."""
    height, width = shape = fov.shape
    fine = smooth_noise(rng, shape, 1.5, 4.0)
    dermis_echo = 1.2 * np.exp(0.3 * fine)
    fat_echo = 0.1 * np.exp(0.5 * smooth_noise(rng, shape, 5.0, 9.0) + 0.2 * fine)
    pad = 40  # fibroglandular bands, bent to follow the layers
    bands = smooth_noise(rng, (height + 2 * pad, width), rng.uniform(2.5, 4.0), rng.uniform(14.0, 24.0))
    follow = (layers.fat - layers.fat.mean()) * 0.6 + random_wave(rng, width, rng.uniform(6.0, 18.0), (150, 500))
    index = np.clip(np.arange(height)[:, None] + pad - np.rint(follow).astype(int), 0, height + 2 * pad - 1)
    band_level = np.clip(0.5 + 0.42 * (np.take_along_axis(bands, index, axis=0) + 0.3 * fine), 0.0, 1.0)
    gland_echo = 0.15 + 2.0 * band_level * band_level * (3.0 - 2.0 * band_level)
    muscle_echo = 0.25 * np.exp(0.8 * smooth_noise(rng, shape, 0.8, 30.0) + 0.25 * fine)

    gel_echo, rows = 0.0002, fov.rows
    echo = np.full(shape, gel_echo)
    for layer, boundary, blend in (
        (dermis_echo, layers.skin, 2.0),
        (fat_echo, layers.dermis, 3.0),
        (gland_echo, layers.fat, 8.0),
        (fat_echo, layers.gland, 8.0),  # retromammary fat
        (muscle_echo, layers.fascia, 3.0),
    ):
        blend_below(echo, layer, rows, boundary, blend)
    return echo


def _add_bright_lines(rng: np.random.Generator, fov: _FieldOfView, layers: _Layers, echo: np.ndarray) -> None:
    """Add the skin line, the pectoral fascia and Cooper's ligaments to ``echo`` (in place)."""
    rows, cols, height = fov.rows, fov.cols, fov.shape[0]
    skin, dermis, fat, fascia = layers.skin, layers.dermis, layers.fat, layers.fascia
    near = slice(0, min(height, math.ceil(fat.max()) + 8))  # rows holding skin and subcutaneous fat
    near_rows = rows[near]
    echo[near] += 9.0 * np.exp(-(((near_rows - skin) / rng.uniform(0.9, 1.4)) ** 2))  # skin line
    far = slice(max(0, math.floor(fascia.min()) - 6), height)
    echo[far] += 2.5 * np.exp(-(((rows[far] - fascia) / 1.3) ** 2))  # pectoral fascia
    # Cooper's ligaments: thin echogenic arches rising from the gland surface into the fat.
    in_fat = smoothstep(near_rows - dermis, 3.0) * (1.0 - smoothstep(near_rows - fat, 4.0))
    for _ in range(int(rng.integers(2, 7))):
        centre, half = rng.uniform(fov.left, fov.right), rng.uniform(0.06, 0.2) * fov.width
        rise, skew = rng.uniform(0.3, 1.0) * (fat - dermis), rng.uniform(-0.6, 0.6)
        u = (cols - centre) / half
        arch = (1.0 - u * u) * (1.0 + skew * u)
        slope = rise * (2.0 * u * (1.0 + skew * u) - skew * (1.0 - u * u)) / half
        distance = (near_rows - (fat - rise * arch)) / np.sqrt(1.0 + slope * slope)
        thickness, strength = rng.uniform(0.9, 1.4), rng.uniform(1.0, 2.2)
        echo[near] += strength * (np.abs(u) < 1.0) * in_fat * np.exp(-((distance / thickness) ** 2))


def _place_lesion(
    rng: np.random.Generator, fov: _FieldOfView, layers: _Layers, malignant: bool
) -> tuple[np.ndarray, float]:
    """The lesion's mask and centre row: its outline scaled to a target area, placed inside the field of view
    below the skin."""
    top, left, right, fov_h, fov_w = fov.top, fov.left, fov.right, fov.height, fov.width
    ox, oy = _lesion_outline(rng, malignant)
    outline_area = 0.5 * abs(float(np.dot(ox, np.roll(oy, -1)) - np.dot(oy, np.roll(ox, -1))))
    area_fraction = math.exp(rng.uniform(math.log(0.012), math.log(0.075)))
    y_min = float(layers.dermis.max()) + 0.05 * fov_h
    y_max = top + 0.7 * fov_h
    x_margin = 0.06 * fov_w + 6
    scale = min(
        math.sqrt(area_fraction * fov_h * fov_w / outline_area),
        0.45 * fov_w / float(np.ptp(ox)),
        0.9 * (y_max - y_min) / float(np.ptp(oy)),
    )
    ox, oy = ox * scale, oy * scale
    cx = rng.uniform(left + x_margin - ox.min(), right - x_margin - ox.max())
    cy = rng.uniform(y_min - oy.min(), y_max - oy.max())
    xs = np.round((cx + ox) * 64.0) / 64.0  # quantised vertices: the fill below is then exact arithmetic
    ys = np.round((cy + oy) * 64.0) / 64.0
    return single_component(fill_polygon(xs, ys, fov.shape), int(cy), int(cx)), cy


def _lesion_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Rows r0:r1 and columns c0:c1 of the lesion's bounding box widened by 24 pixels (within the image)."""
    lesion_rows, lesion_cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(0, lesion_rows[0] - 24), min(mask.shape[0], lesion_rows[-1] + 25)
    c0, c1 = max(0, lesion_cols[0] - 24), min(mask.shape[1], lesion_cols[-1] + 25)
    return r0, r1, c0, c1


def _add_lesion_echoes(rng: np.random.Generator, echo: np.ndarray, mask: np.ndarray, malignant: bool) -> np.ndarray:
    """Put the lesion into ``echo`` (in place), worked out in a box around it: dark, low-level speckle, slightly
    blurred edge. Returns the soft (edge-blurred) lesion mask in that box."""
    r0, r1, c0, c1 = _lesion_box(mask)
    box = (slice(r0, r1), slice(c0, c1))
    inside = mask[box].astype(float)
    edge_blur = rng.uniform(0.6, 1.0) if malignant else rng.uniform(0.9, 1.6)
    soft = gauss_blur(inside, edge_blur, edge_blur)
    interior = smooth_noise(rng, soft.shape, 4.0, 5.0)
    level = rng.uniform(0.004, 0.02) if malignant else rng.uniform(0.003, 0.012)
    lesion_echo = level * np.exp((0.7 if malignant else 0.35) * interior)
    tissue = echo[box]
    lesion = tissue * (1.0 - soft) + lesion_echo * soft
    if malignant:
        if rng.random() < 0.5:  # echogenic halo around an infiltrating margin
            halo = np.clip(gauss_blur(inside, 4.0, 4.0) - soft, 0.0, 1.0)
            lesion *= 1.0 + rng.uniform(1.0, 2.5) * halo
        inner = np.flatnonzero(soft > 0.99)
        for _ in range(int(rng.integers(0, 6)) if inner.size else 0):  # microcalcifications
            lesion.flat[int(inner[rng.integers(0, inner.size)])] += rng.uniform(3.0, 6.0)
    elif rng.random() < 0.7:  # thin echogenic capsule, brightest on the top and bottom walls (specular)
        wall = np.abs(np.diff(soft, axis=0, prepend=0.0))
        lesion += rng.uniform(0.8, 2.0) * wall / max(float(wall.max()), 1e-6)
    echo[box] = lesion
    return soft


def _gain_db(
    rng: np.random.Generator, fov: _FieldOfView, mask: np.ndarray, soft: np.ndarray, cy: float, malignant: bool
) -> np.ndarray:
    """Gains in dB: attenuation with depth, lateral falloff, posterior enhancement / shadowing."""
    rows, cols, top, left, right = fov.rows, fov.cols, fov.top, fov.left, fov.right
    depth = np.clip((rows - top) / fov.height, 0.0, 1.0)
    lateral = np.clip(np.minimum(cols - left, right - cols) / (0.05 * fov.width), 0.0, 1.0)
    gain_db = -rng.uniform(10.0, 18.0) * depth - 2.5 * (1.0 - lateral)
    # Posterior effects follow the lesion thickness crossed above each pixel (a beam-wide blur of it).
    lesion_rows, lesion_cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = _lesion_box(mask)
    height, width = fov.shape
    beam = max(3.0, 0.12 * len(lesion_cols))
    p0, p1 = max(0, c0 - math.ceil(3 * beam)), min(width, c1 + math.ceil(3 * beam))
    crossed = np.zeros((height, p1 - p0))
    crossed[r0:r1, c0 - p0 : c1 - p0] = soft
    path = gauss_blur(np.cumsum(crossed, axis=0), 0.0, beam)
    path /= max(float(path[-1].max()), 1e-6)
    below = np.clip((rows - lesion_rows[-1]) / fov.height, 0.0, 1.0)
    if malignant:
        streaks = 1.0 + 0.35 * smooth_noise(rng, path.shape, 30.0, 2.0)
        post_db = -rng.uniform(10.0, 15.0) * path * streaks * (1.0 - 0.3 * below)
    else:
        post_db = rng.uniform(6.5, 9.5) * path * np.clip(1.0 - 1.2 * below, 0.3, 1.0)
        if rng.random() < 0.5:  # refractive edge shadows below the lateral walls, fading with depth
            x = cols[p0:p1]
            walls = np.exp(-(((x - lesion_cols[0]) / 3.0) ** 2)) + np.exp(-(((x - lesion_cols[-1] - 1) / 3.0) ** 2))
            fade = np.clip(1.0 - 3.0 * below, 0.0, 1.0)
            post_db -= rng.uniform(2.0, 5.0) * walls * smoothstep(rows - cy, 10.0) * fade
    gain_db = np.broadcast_to(gain_db, fov.shape).copy()
    gain_db[:, p0:p1] += post_db
    return gain_db


def _speckle_db(rng: np.random.Generator, echo: np.ndarray) -> np.ndarray:
    """Speckle intensity in dB of the echogenicity ``echo``, seen through the probe's point spread function."""
    # Circular Gaussian scatterers weighted by the echogenicity, through an anisotropic point spread function
    # (wider laterally than axially): the envelope is Rayleigh-distributed. A light post-detection smoothing
    # (again wider laterally) softens it as scanners do.
    psf_y, psf_x = rng.uniform(0.8, 1.1), rng.uniform(1.6, 2.2)
    amplitude = np.sqrt(echo).astype(np.float32)
    real = gauss_blur(amplitude * rng.standard_normal(echo.shape, np.float32), psf_y, psf_x, unit_energy=True)
    imag = gauss_blur(amplitude * rng.standard_normal(echo.shape, np.float32), psf_y, psf_x, unit_energy=True)
    intensity = gauss_blur(real * real + imag * imag, 0.5, 1.0).astype(np.float64)
    return 10.0 * np.log10(intensity + 1e-12)


def _log_compress(rng: np.random.Generator, envelope_db: np.ndarray) -> np.ndarray:
    """Log compression to 8 bits: echo-1 tissue (mean log-intensity about -2 dB) near gray level ``mid``."""
    dynamic_range, mid = rng.uniform(42.0, 50.0), rng.uniform(125.0, 150.0)
    floor_db = -2.0 - mid / 255.0 * dynamic_range
    return np.clip(np.rint((envelope_db - floor_db) * (255.0 / dynamic_range)), 0, 255).astype(np.uint8)


def _annotate(image: np.ndarray, fov: _FieldOfView) -> None:
    """Annotations (in place): black outside the field of view, a depth scale where there is room for it."""
    outside = np.ones(fov.shape, dtype=bool)
    outside[fov.top : fov.bottom, fov.left : fov.right] = False
    image[outside] = 0
    if fov.shape[1] - fov.right >= 8:  # depth scale: dots every fifth of the field of view, right of the image
        for k in range(1, 5):
            row = fov.top + round(k * fov.height / 5)
            image[row - 1 : row + 1, fov.right + 3 : fov.right + 5] = 200


def render_phantom(seed: int, size: tuple[int, int] = DEFAULT_SIZE, kind: str | None = None) -> Phantom:
    """Draw one phantom, returning it with what was chosen for it (see ``make_phantom``).

    The stages draw from one generator in a fixed order: reordering them changes every phantom.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    height, width = _check_size(size)
    rng = np.random.default_rng(seed)
    coin = rng.random()  # always drawn, so that kind=None and kind=<the chosen kind> give the same image
    kind = kind or KINDS[int(coin >= 0.5)]
    malignant = kind == "malignant"

    fov = _field_of_view(rng, height, width)
    layers = _layer_boundaries(rng, fov)
    echo = _tissue_echo(rng, fov, layers)
    _add_bright_lines(rng, fov, layers, echo)
    mask, cy = _place_lesion(rng, fov, layers, malignant)
    soft = _add_lesion_echoes(rng, echo, mask, malignant)
    gain_db = _gain_db(rng, fov, mask, soft, cy, malignant)
    envelope_db = _speckle_db(rng, echo) + gain_db
    image = _log_compress(rng, envelope_db)
    _annotate(image, fov)
    return Phantom(image=image, mask=mask, kind=kind, fov=(fov.top, fov.bottom, fov.left, fov.right), seed=seed)


def make_phantom(
    seed: int, size: tuple[int, int] = DEFAULT_SIZE, kind: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic breast-ultrasound image and its lesion mask.

    ``size`` is (height, width); ``kind`` is "benign", "malignant" or None (chosen by the seed). Returns
    ``(image, mask)``: image (H, W) uint8 grayscale, mask (H, W) bool, True inside the lesion. The same seed
    gives the same arrays on any machine.
    """
    phantom = render_phantom(seed, size, kind)
    return phantom.image, phantom.mask


def make_phantoms(
    count: int, seed: int = 0, size: tuple[int, int] | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` phantoms with seeds ``seed + k``, alternating benign / malignant (benign first).

    With ``size=None`` the sizes cycle through ``EXAMPLE_SIZES`` (landscape, portrait, square, landscape).
    """
    return [make_phantom(seed + k, size or EXAMPLE_SIZES[k % len(EXAMPLE_SIZES)], KINDS[k % 2]) for k in range(count)]


# ---------------------------------------------------------------------------------------- command line


def _same_png(path: Path, array: np.ndarray) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as existing:
            return existing.mode == "L" and np.array_equal(np.asarray(existing), array)
    except (OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``phantom_<k>.png`` and ``phantom_<k>_mask.png`` files; returns the exit status."""
    from PIL import Image

    parser = argparse.ArgumentParser(
        prog="python -m sam_demo.phantom",
        description=(
            "Write synthetic breast-ultrasound phantoms with known tumour masks: OUT/phantom_<k>.png "
            "(8-bit grayscale image) and OUT/phantom_<k>_mask.png (0 = background, 255 = lesion), "
            "alternating benign and malignant lesions, in sizes cycling through "
            + ", ".join(f"{w}x{h}" for h, w in EXAMPLE_SIZES)
            + " (width x height). Phantom k uses seed SEED + k; the same seed always gives the same files."
        ),
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write to (created if missing)")
    parser.add_argument("--count", type=int, default=4, help="number of phantoms (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first phantom (default 0)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing files that differ from the generated ones"
    )
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.seed < 0:
        parser.error("--seed must be non-negative")

    planned: list[tuple[Path, np.ndarray, str]] = []
    for k in range(args.count):
        phantom = render_phantom(args.seed + k, EXAMPLE_SIZES[k % len(EXAMPLE_SIZES)], KINDS[k % 2])
        height, width = phantom.image.shape
        info = f"{width}x{height} {phantom.kind}, seed {args.seed + k}"
        planned.append((args.out / f"phantom_{k}.png", phantom.image, f"image, {info}"))
        planned.append((args.out / f"phantom_{k}_mask.png", phantom.mask.astype(np.uint8) * 255, f"mask, {info}"))

    conflicts = [path for path, array, _ in planned if path.exists() and not _same_png(path, array)]
    if conflicts and not args.overwrite:
        for path in conflicts:
            print(f"error: {path} already exists and differs from the generated phantom", file=sys.stderr)
        print("nothing written; pass --overwrite to replace these files", file=sys.stderr)
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    for path, array, info in planned:
        if path.exists() and _same_png(path, array):
            print(f"unchanged {path} ({info})")
            continue
        Image.fromarray(array).save(path)
        print(f"wrote {path} ({info})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
