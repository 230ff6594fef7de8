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


# ----------------------------------------------------------------------------------------------- filters


def _gauss_kernel(sigma: float, unit_energy: bool = False) -> np.ndarray:
    """1-D Gaussian kernel normalised to unit sum (or unit energy, to keep the power of white noise)."""
    radius = max(1, math.ceil(3.0 * sigma))
    taps = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)]
    norm = math.sqrt(math.fsum(t * t for t in taps)) if unit_energy else math.fsum(taps)
    return np.array([t / norm for t in taps])


def _convolve_axis(a: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Convolve a 2-D array with a symmetric 1-D kernel along one axis (edges reflected)."""
    radius = len(kernel) // 2
    n = a.shape[axis]
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    padded = np.pad(a, pad, mode="symmetric")
    out = np.zeros(a.shape, a.dtype)  # float32 in, float32 out: exact IEEE arithmetic either way
    term = np.empty(a.shape, a.dtype)
    for i, weight in enumerate(kernel.astype(a.dtype)):
        np.multiply(padded[i : i + n] if axis == 0 else padded[:, i : i + n], weight, out=term)
        out += term
    return out


def _gauss_blur(a: np.ndarray, sigma_y: float, sigma_x: float, unit_energy: bool = False) -> np.ndarray:
    out = _convolve_axis(a, _gauss_kernel(sigma_y, unit_energy), 0) if sigma_y > 0 else a
    return _convolve_axis(out, _gauss_kernel(sigma_x, unit_energy), 1) if sigma_x > 0 else out


def _box_blur_axis(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Moving average of width 2*radius+1 along one axis, by cumulative sums (edges reflected)."""
    if radius <= 0:
        return a
    n = a.shape[axis]
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius + 1, radius)
    csum = np.cumsum(np.pad(a, pad, mode="symmetric"), axis=axis)
    width = 2 * radius + 1
    if axis == 0:
        return (csum[width : width + n] - csum[:n]) / width
    return (csum[:, width : width + n] - csum[:, :n]) / width


def _upsample_axis(a: np.ndarray, factor: int, n: int, axis: int) -> np.ndarray:
    """Linear interpolation of samples taken every ``factor`` pixels (sample i at pixel i*factor) to n pixels."""
    if factor == 1:
        return a[:n] if axis == 0 else a[:, :n]
    pos = np.arange(n) / factor
    i0 = pos.astype(int)
    w = (pos - i0)[:, None] if axis == 0 else (pos - i0)[None, :]
    if axis == 0:
        return a[i0] * (1.0 - w) + a[i0 + 1] * w
    return a[:, i0] * (1.0 - w) + a[:, i0 + 1] * w


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_y: float, sigma_x: float) -> np.ndarray:
    """Correlated Gaussian noise (zero mean, unit std) with correlation lengths ~sigma_y, sigma_x pixels.

    White noise through three box blurs per axis, computed on a grid coarsened by about sigma/3 and
    interpolated back (cheap even for long correlation lengths).
    """
    factors = [max(1, int(sigma / 3.0)) for sigma in (sigma_y, sigma_x)]
    coarse = tuple(n // f + 2 for n, f in zip(shape, factors))
    noise = rng.standard_normal(coarse)
    for axis, (sigma, f) in enumerate(zip((sigma_y, sigma_x), factors)):
        s = sigma / f
        radius = round((math.sqrt(1.0 + 4.0 * s * s) - 1.0) / 2.0)  # 3 passes: variance r(r+1)
        for _ in range(3):
            noise = _box_blur_axis(noise, radius, axis)
    noise = _upsample_axis(_upsample_axis(noise, factors[0], shape[0], 0), factors[1], shape[1], 1)
    noise = noise - noise.mean()
    return noise / (noise.std() + 1e-12)


def _smoothstep(t: np.ndarray, width: float) -> np.ndarray:
    """0 below -width/2, 1 above +width/2, a smooth cubic in between."""
    s = np.clip(t / width + 0.5, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def _blend_below(echo: np.ndarray, layer: np.ndarray, rows: np.ndarray, boundary: np.ndarray, width: float) -> None:
    """Replace ``echo`` by ``layer`` below a boundary curve (rows per column), blending across ``width`` rows."""
    height = echo.shape[0]
    lo = min(height, max(0, math.floor(float(boundary.min()) - width / 2.0)))
    hi = min(height, max(lo, math.ceil(float(boundary.max()) + width / 2.0)))
    echo[hi:] = layer[hi:]
    echo[lo:hi] += (layer[lo:hi] - echo[lo:hi]) * _smoothstep(rows[lo:hi] - boundary, width)


def _wave(rng: np.random.Generator, n: int, amplitude: float, periods: tuple[float, float]) -> np.ndarray:
    """A gently wavy 1-D curve (three random sinusoids), zero-mean-ish, peak about ``amplitude``."""
    x = np.arange(n) + 0.5
    out = np.zeros(n)
    for _ in range(3):
        period = rng.uniform(*periods)
        phase = rng.uniform(0.0, 2.0 * math.pi)
        out += rng.uniform(0.3, 1.0) * np.sin(2.0 * math.pi * x / period + phase)
    return out * (amplitude / 2.0)


# ------------------------------------------------------------------------------------------------ lesion


def _fill_polygon(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centres lie inside a closed polygon (even-odd rule, plain arithmetic only)."""
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    x0, y0 = xs, ys
    x1, y1 = np.roll(xs, -1), np.roll(ys, -1)
    for row in range(max(0, math.floor(ys.min())), min(height, math.ceil(ys.max()) + 1)):
        yc = row + 0.5
        crossing = ((y0 <= yc) & (y1 > yc)) | ((y1 <= yc) & (y0 > yc))
        if not crossing.any():
            continue
        a, b, c, d = x0[crossing], y0[crossing], x1[crossing], y1[crossing]
        xi = np.sort(a + (yc - b) * (c - a) / (d - b))
        for left, right in zip(xi[0::2], xi[1::2]):
            start, stop = max(0, math.ceil(left - 0.5)), min(width, math.ceil(right - 0.5))
            mask[row, start:stop] = True
    return mask


def _shift_all(a: np.ndarray, combine) -> np.ndarray:
    """Combine a boolean array with its four 1-pixel shifts (``np.logical_or``: dilate, ``_and``: erode)."""
    out = a.copy()
    combine(out[1:], a[:-1], out=out[1:])
    combine(out[:-1], a[1:], out=out[:-1])
    combine(out[:, 1:], a[:, :-1], out=out[:, 1:])
    combine(out[:, :-1], a[:, 1:], out=out[:, :-1])
    return out


def _grow(region: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Flood-fill (4-connected) from ``region`` through ``allowed``."""
    current = region & allowed
    while True:
        grown = _shift_all(current, np.logical_or) & allowed
        if np.array_equal(grown, current):
            return current
        current = grown


def _single_component(mask: np.ndarray, seed_row: int, seed_col: int, opening: int = 2) -> np.ndarray:
    """Clean a rasterised outline: open it (drops spicule tips too thin to show once blurred by the beam),
    keep the 4-connected component holding the seed pixel and fill its holes."""
    rows, cols = np.nonzero(mask)
    r0, r1 = max(0, rows.min() - opening - 1), rows.max() + opening + 2
    c0, c1 = max(0, cols.min() - opening - 1), cols.max() + opening + 2
    box = mask[r0:r1, c0:c1]
    for combine in (np.logical_and,) * opening + (np.logical_or,) * opening:
        box = _shift_all(box, combine)
    seed_row, seed_col = seed_row - r0, seed_col - c0
    if not box[seed_row, seed_col]:  # start from the mask pixel nearest the seed instead
        rr, cc = np.nonzero(box)
        nearest = int(np.argmin((rr - seed_row) ** 2 + (cc - seed_col) ** 2))
        seed_row, seed_col = int(rr[nearest]), int(cc[nearest])
    seed = np.zeros_like(box)
    seed[seed_row, seed_col] = True
    component = _grow(seed, box)
    border = np.zeros_like(box)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    outside = _grow(border, ~component)
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = ~outside
    return out


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


# ----------------------------------------------------------------------------------------------- phantom


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    height, width = (int(v) for v in size)
    if height < _MIN_SIDE or width < _MIN_SIDE:
        raise ValueError(f"phantom size must be at least {_MIN_SIDE} px per side, got {tuple(size)}")
    return height, width


def render_phantom(seed: int, size: tuple[int, int] = DEFAULT_SIZE, kind: str | None = None) -> Phantom:
    """Draw one phantom, returning it with what was chosen for it (see ``make_phantom``)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    height, width = _check_size(size)
    shape = (height, width)
    rng = np.random.default_rng(seed)
    coin = rng.random()  # always drawn, so that kind=None and kind=<the chosen kind> give the same image
    kind = kind or KINDS[int(coin >= 0.5)]
    malignant = kind == "malignant"

    # Field of view: a linear probe's rectangle; often black bands (annotations) left, right and below.
    margins = rng.uniform([0.0, 0.0, 0.02, 0.02], [0.03, 0.07, 0.09, 0.09])
    if rng.random() < 0.35:
        margins[:] = 0.0
    top, bottom = round(margins[0] * height), height - round(margins[1] * height)
    left, right = round(margins[2] * width), width - round(margins[3] * width)
    fov_h, fov_w = bottom - top, right - left
    rows = (np.arange(height) + 0.5)[:, None]
    cols = np.arange(width) + 0.5

    # Layer boundaries (rows, as functions of the column).
    skin = top + fov_h * rng.uniform(0.02, 0.045) + _wave(rng, width, rng.uniform(1.0, 3.0), (150, 700))
    dermis = skin + fov_h * rng.uniform(0.012, 0.022)
    fat = dermis + fov_h * rng.uniform(0.07, 0.15) + _wave(rng, width, rng.uniform(4.0, 12.0), (120, 500))
    gland = top + fov_h * rng.uniform(0.76, 0.9) + _wave(rng, width, rng.uniform(6.0, 16.0), (150, 600))
    fascia = gland + fov_h * rng.uniform(0.03, 0.06) + _wave(rng, width, rng.uniform(2.0, 5.0), (200, 700))

    # Echogenicity (backscattered power, 1 = average glandular tissue) of each tissue.
    fine = _smooth_noise(rng, shape, 1.5, 4.0)
    dermis_echo = 1.2 * np.exp(0.3 * fine)
    fat_echo = 0.1 * np.exp(0.5 * _smooth_noise(rng, shape, 5.0, 9.0) + 0.2 * fine)
    pad = 40  # fibroglandular bands, bent to follow the layers
    bands = _smooth_noise(rng, (height + 2 * pad, width), rng.uniform(2.5, 4.0), rng.uniform(14.0, 24.0))
    follow = (fat - fat.mean()) * 0.6 + _wave(rng, width, rng.uniform(6.0, 18.0), (150, 500))
    index = np.clip(np.arange(height)[:, None] + pad - np.rint(follow).astype(int), 0, height + 2 * pad - 1)
    band_level = np.clip(0.5 + 0.42 * (np.take_along_axis(bands, index, axis=0) + 0.3 * fine), 0.0, 1.0)
    gland_echo = 0.15 + 2.0 * band_level * band_level * (3.0 - 2.0 * band_level)
    muscle_echo = 0.25 * np.exp(0.8 * _smooth_noise(rng, shape, 0.8, 30.0) + 0.25 * fine)

    gel_echo = 0.0002
    echo = np.full(shape, gel_echo)
    for layer, boundary, blend in (
        (dermis_echo, skin, 2.0),
        (fat_echo, dermis, 3.0),
        (gland_echo, fat, 8.0),
        (fat_echo, gland, 8.0),  # retromammary fat
        (muscle_echo, fascia, 3.0),
    ):
        _blend_below(echo, layer, rows, boundary, blend)
    near = slice(0, min(height, math.ceil(fat.max()) + 8))  # rows holding skin and subcutaneous fat
    near_rows = rows[near]
    echo[near] += 9.0 * np.exp(-(((near_rows - skin) / rng.uniform(0.9, 1.4)) ** 2))  # skin line
    far = slice(max(0, math.floor(fascia.min()) - 6), height)
    echo[far] += 2.5 * np.exp(-(((rows[far] - fascia) / 1.3) ** 2))  # pectoral fascia
    # Cooper's ligaments: thin echogenic arches rising from the gland surface into the fat.
    in_fat = _smoothstep(near_rows - dermis, 3.0) * (1.0 - _smoothstep(near_rows - fat, 4.0))
    for _ in range(int(rng.integers(2, 7))):
        centre, half = rng.uniform(left, right), rng.uniform(0.06, 0.2) * fov_w
        rise, skew = rng.uniform(0.3, 1.0) * (fat - dermis), rng.uniform(-0.6, 0.6)
        u = (cols - centre) / half
        arch = (1.0 - u * u) * (1.0 + skew * u)
        slope = rise * (2.0 * u * (1.0 + skew * u) - skew * (1.0 - u * u)) / half
        distance = (near_rows - (fat - rise * arch)) / np.sqrt(1.0 + slope * slope)
        thickness, strength = rng.uniform(0.9, 1.4), rng.uniform(1.0, 2.2)
        echo[near] += strength * (np.abs(u) < 1.0) * in_fat * np.exp(-((distance / thickness) ** 2))

    # The lesion: outline scaled to a target area, placed inside the field of view below the skin.
    ox, oy = _lesion_outline(rng, malignant)
    outline_area = 0.5 * abs(float(np.dot(ox, np.roll(oy, -1)) - np.dot(oy, np.roll(ox, -1))))
    area_fraction = math.exp(rng.uniform(math.log(0.012), math.log(0.075)))
    y_min = float(dermis.max()) + 0.05 * fov_h
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
    mask = _single_component(_fill_polygon(xs, ys, shape), int(cy), int(cx))

    # Lesion echoes, worked out in a box around it: dark, low-level speckle, slightly blurred edge.
    lesion_rows, lesion_cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(0, lesion_rows[0] - 24), min(height, lesion_rows[-1] + 25)
    c0, c1 = max(0, lesion_cols[0] - 24), min(width, lesion_cols[-1] + 25)
    box = (slice(r0, r1), slice(c0, c1))
    inside = mask[box].astype(float)
    edge_blur = rng.uniform(0.6, 1.0) if malignant else rng.uniform(0.9, 1.6)
    soft = _gauss_blur(inside, edge_blur, edge_blur)
    interior = _smooth_noise(rng, soft.shape, 4.0, 5.0)
    level = rng.uniform(0.004, 0.02) if malignant else rng.uniform(0.003, 0.012)
    lesion_echo = level * np.exp((0.7 if malignant else 0.35) * interior)
    tissue = echo[box]
    lesion = tissue * (1.0 - soft) + lesion_echo * soft
    if malignant:
        if rng.random() < 0.5:  # echogenic halo around an infiltrating margin
            halo = np.clip(_gauss_blur(inside, 4.0, 4.0) - soft, 0.0, 1.0)
            lesion *= 1.0 + rng.uniform(1.0, 2.5) * halo
        inner = np.flatnonzero(soft > 0.99)
        for _ in range(int(rng.integers(0, 6)) if inner.size else 0):  # microcalcifications
            lesion.flat[int(inner[rng.integers(0, inner.size)])] += rng.uniform(3.0, 6.0)
    elif rng.random() < 0.7:  # thin echogenic capsule, brightest on the top and bottom walls (specular)
        wall = np.abs(np.diff(soft, axis=0, prepend=0.0))
        lesion += rng.uniform(0.8, 2.0) * wall / max(float(wall.max()), 1e-6)
    echo[box] = lesion

    # Gains in dB: attenuation with depth, lateral falloff, posterior enhancement / shadowing.
    depth = np.clip((rows - top) / fov_h, 0.0, 1.0)
    lateral = np.clip(np.minimum(cols - left, right - cols) / (0.05 * fov_w), 0.0, 1.0)
    gain_db = -rng.uniform(10.0, 18.0) * depth - 2.5 * (1.0 - lateral)
    # Posterior effects follow the lesion thickness crossed above each pixel (a beam-wide blur of it).
    beam = max(3.0, 0.12 * len(lesion_cols))
    p0, p1 = max(0, c0 - math.ceil(3 * beam)), min(width, c1 + math.ceil(3 * beam))
    crossed = np.zeros((height, p1 - p0))
    crossed[r0:r1, c0 - p0 : c1 - p0] = soft
    path = _gauss_blur(np.cumsum(crossed, axis=0), 0.0, beam)
    path /= max(float(path[-1].max()), 1e-6)
    below = np.clip((rows - lesion_rows[-1]) / fov_h, 0.0, 1.0)
    if malignant:
        streaks = 1.0 + 0.35 * _smooth_noise(rng, path.shape, 30.0, 2.0)
        post_db = -rng.uniform(10.0, 15.0) * path * streaks * (1.0 - 0.3 * below)
    else:
        post_db = rng.uniform(6.5, 9.5) * path * np.clip(1.0 - 1.2 * below, 0.3, 1.0)
        if rng.random() < 0.5:  # refractive edge shadows below the lateral walls, fading with depth
            x = cols[p0:p1]
            walls = np.exp(-(((x - lesion_cols[0]) / 3.0) ** 2)) + np.exp(-(((x - lesion_cols[-1] - 1) / 3.0) ** 2))
            fade = np.clip(1.0 - 3.0 * below, 0.0, 1.0)
            post_db -= rng.uniform(2.0, 5.0) * walls * _smoothstep(rows - cy, 10.0) * fade
    gain_db = np.broadcast_to(gain_db, shape).copy()
    gain_db[:, p0:p1] += post_db

    # Speckle: circular Gaussian scatterers weighted by the echogenicity, through an anisotropic point
    # spread function (wider laterally than axially): the envelope is Rayleigh-distributed. A light
    # post-detection smoothing (again wider laterally) softens it as scanners do.
    psf_y, psf_x = rng.uniform(0.8, 1.1), rng.uniform(1.6, 2.2)
    amplitude = np.sqrt(echo).astype(np.float32)
    real = _gauss_blur(amplitude * rng.standard_normal(shape, np.float32), psf_y, psf_x, unit_energy=True)
    imag = _gauss_blur(amplitude * rng.standard_normal(shape, np.float32), psf_y, psf_x, unit_energy=True)
    intensity = _gauss_blur(real * real + imag * imag, 0.5, 1.0).astype(np.float64)
    envelope_db = 10.0 * np.log10(intensity + 1e-12) + gain_db

    # Log compression to 8 bits: echo-1 tissue (mean log-intensity about -2 dB) near gray level ``mid``.
    dynamic_range, mid = rng.uniform(42.0, 50.0), rng.uniform(125.0, 150.0)
    floor_db = -2.0 - mid / 255.0 * dynamic_range
    image = np.clip(np.rint((envelope_db - floor_db) * (255.0 / dynamic_range)), 0, 255).astype(np.uint8)

    outside = np.ones(shape, dtype=bool)
    outside[top:bottom, left:right] = False
    image[outside] = 0
    if width - right >= 8:  # depth scale: dots every fifth of the field of view, right of the image
        for k in range(1, 5):
            row = top + round(k * fov_h / 5)
            image[row - 1 : row + 1, right + 3 : right + 5] = 200
    return Phantom(image=image, mask=mask, kind=kind, fov=(top, bottom, left, right), seed=seed)


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
