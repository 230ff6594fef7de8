"""Plain-numpy raster primitives for the phantoms: blurs, smooth noise, polygon fill, mask clean-up."""

from __future__ import annotations

import math

import numpy as np

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


def gauss_blur(a: np.ndarray, sigma_y: float, sigma_x: float, unit_energy: bool = False) -> np.ndarray:
    """Separable Gaussian blur (a zero sigma skips that axis); see ``_gauss_kernel`` for ``unit_energy``."""
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


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_y: float, sigma_x: float) -> np.ndarray:
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


def random_wave(rng: np.random.Generator, n: int, amplitude: float, periods: tuple[float, float]) -> np.ndarray:
    """A gently wavy 1-D curve (three random sinusoids), zero-mean-ish, peak about ``amplitude``."""
    x = np.arange(n) + 0.5
    out = np.zeros(n)
    for _ in range(3):
        period = rng.uniform(*periods)
        phase = rng.uniform(0.0, 2.0 * math.pi)
        out += rng.uniform(0.3, 1.0) * np.sin(2.0 * math.pi * x / period + phase)
    return out * (amplitude / 2.0)


def smoothstep(t: np.ndarray, width: float) -> np.ndarray:
    """0 below -width/2, 1 above +width/2, a smooth cubic in between."""
    s = np.clip(t / width + 0.5, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def blend_below(image: np.ndarray, layer: np.ndarray, rows: np.ndarray, boundary: np.ndarray, width: float) -> None:
    """Replace ``image`` by ``layer`` below a boundary curve (rows per column), blending across ``width`` rows."""
    height = image.shape[0]
    lo = min(height, max(0, math.floor(float(boundary.min()) - width / 2.0)))
    hi = min(height, max(lo, math.ceil(float(boundary.max()) + width / 2.0)))
    image[hi:] = layer[hi:]
    image[lo:hi] += (layer[lo:hi] - image[lo:hi]) * smoothstep(rows[lo:hi] - boundary, width)


# ------------------------------------------------------------------------------------------------- masks


def fill_polygon(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
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


def _shift_all(a: np.ndarray, combine: np.ufunc) -> np.ndarray:
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


def single_component(mask: np.ndarray, seed_row: int, seed_col: int, opening: int = 2) -> np.ndarray:
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
