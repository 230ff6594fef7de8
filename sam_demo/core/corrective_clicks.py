"""Corrective clicks: where a simulated user clicks next, given the current prediction and the ground truth.

This is the standard protocol of interactive segmentation (Xu et al. 2016, RITM's NoC evaluation) and of SAM's
training. Error pixels are false negatives (tumour the prediction missed; answered with a positive click) and false
positives (background it took for tumour; answered with a negative click), counted only where the image is.

* Deterministic mode (evaluation): the largest 8-connected error region, clicked at its most interior pixel, the
  maximum of its Euclidean distance transform, so the click lands where the correction is least ambiguous.
  Ties between regions go to false negatives first, then to the region whose first pixel in raster order comes
  first; ties between pixels go to the first in raster order. The same inputs always give the same click.
* Random mode (training, as in SAM's paper: "points selected uniformly from the error region"): one error pixel
  drawn uniformly among all error pixels of either kind.

Coordinates are (x, y) = (column, row) pixel indices of the mask's grid, as in `core.prompt_sampling`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

POSITIVE, NEGATIVE = 1, 0
NO_CLICK = -1  # label `next_clicks` gives an example without any error pixel

_EIGHT_CONNECTED = np.ones((3, 3), bool)


@dataclass(frozen=True)
class Click:
    """One simulated click: x = column, y = row; label 1 = positive (tumour), 0 = negative (background)."""

    x: float
    y: float
    label: int


def next_click(
    predicted: np.ndarray,
    target: np.ndarray,
    valid: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> Click | None:
    """The click that corrects `predicted` towards `target`, or None if they agree everywhere in `valid`.

    All masks are (H, W), bool or numbers in [0, 1] (inside where > 0.5: threshold logits at 0 first). `valid`
    marks where the image is (default: everywhere); outside it no pixel is an error or gets a click. With `rng`
    the click is drawn uniformly from the error pixels, without it the deterministic rule of the module applies.
    """
    predicted, target, valid = _checked_masks(predicted, target, valid, ndim=2)
    missed, extra = _error_maps(predicted, target, valid)
    if rng is None:
        return _most_interior_click(missed, extra)
    return _random_click(missed, extra, rng)


def next_clicks(
    predicted: np.ndarray,
    target: np.ndarray,
    valid: np.ndarray | None = None,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`next_click` over a batch of (B, H, W) masks, for the training step (through `tf.numpy_function`).

    Returns (B, 2) float32 (x, y) points and (B,) int32 labels; an example without any error pixel gets label -1
    and point (0, 0). `seed` None is the deterministic mode; a non-negative seed seeds one generator that draws
    the random clicks of the whole batch in order, so a batch and seed always give the same clicks.
    """
    predicted, target, valid = _checked_masks(predicted, target, valid, ndim=3)
    # int(): tf.numpy_function hands the seed over as a 0-d numpy array.
    rng = None if seed is None else np.random.default_rng(int(seed))
    points = np.zeros((len(predicted), 2), np.float32)
    labels = np.full(len(predicted), NO_CLICK, np.int32)
    for index in range(len(predicted)):
        click = next_click(predicted[index], target[index], None if valid is None else valid[index], rng)
        if click is not None:
            points[index] = click.x, click.y
            labels[index] = click.label
    return points, labels


def _checked_masks(
    predicted: np.ndarray, target: np.ndarray, valid: np.ndarray | None, ndim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The three masks as bool arrays of one shape: (H, W) for one click (ndim 2), (B, H, W) for a batch (3)."""
    predicted, target = _as_mask(predicted, "predicted"), _as_mask(target, "target")
    if predicted.ndim != ndim:
        expected = "a 2-D (H, W) mask" if ndim == 2 else "a (B, H, W) batch of masks"
        raise ValueError(f"predicted must be {expected}, got shape {predicted.shape}")
    _check_same_shape(predicted, target, "target")
    if valid is not None:
        valid = _as_mask(valid, "valid")
        _check_same_shape(predicted, valid, "valid")
    return predicted, target, valid


def _as_mask(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool:
        return array
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be bool or numeric, got dtype {array.dtype}")
    return array > 0.5


def _check_same_shape(reference: np.ndarray, other: np.ndarray, name: str) -> None:
    if other.shape != reference.shape:
        raise ValueError(f"{name} has shape {other.shape}, predicted has shape {reference.shape}; they must match")


def _error_maps(predicted: np.ndarray, target: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(false negatives, false positives), restricted to `valid`."""
    missed = target & ~predicted
    extra = predicted & ~target
    if valid is not None:
        missed &= valid
        extra &= valid
    return missed, extra


def _most_interior_click(missed: np.ndarray, extra: np.ndarray) -> Click | None:
    best: tuple[tuple[int, int, int], np.ndarray] | None = None  # (sort key, region); the smallest key wins
    for kind, errors in enumerate((missed, extra)):  # kind 0 = false negative, preferred on ties
        components, count = ndimage.label(errors, structure=_EIGHT_CONNECTED)
        if count == 0:
            continue
        sizes = np.bincount(components.ravel())
        sizes[0] = 0  # the background
        largest = np.flatnonzero(sizes == sizes.max())
        # Among equally large regions, the one owning the first of their pixels in raster order.
        first_pixel = int(np.flatnonzero(np.isin(components, largest))[0])
        key = (-int(sizes.max()), kind, first_pixel)
        if best is None or key < best[0]:
            best = key, components == components.flat[first_pixel]
    if best is None:
        return None
    (_, kind, _), region = best
    row, col = _deepest_pixel(region)
    return Click(x=float(col), y=float(row), label=POSITIVE if kind == 0 else NEGATIVE)


def _deepest_pixel(region: np.ndarray) -> tuple[int, int]:
    """(row, col) of the region's maximum distance to its outside, the image's outside included; first in raster
    order on ties."""
    rows, cols = ndimage.find_objects(region.astype(np.int8))[0]
    # Cropping to the bounding box loses nothing: the one-pixel pad around it is outside the region and at least as
    # close to every region pixel as anything beyond it. The pad is also what makes the image border a boundary.
    depth = ndimage.distance_transform_edt(np.pad(region[rows, cols], 1))[1:-1, 1:-1]
    row, col = np.unravel_index(np.argmax(depth), depth.shape)  # argmax: first maximum in raster order
    return rows.start + int(row), cols.start + int(col)


def _random_click(missed: np.ndarray, extra: np.ndarray, rng: np.random.Generator) -> Click | None:
    candidates = np.flatnonzero(missed | extra)
    if not len(candidates):
        return None
    row, col = np.unravel_index(candidates[rng.integers(len(candidates))], missed.shape)
    return Click(x=float(col), y=float(row), label=POSITIVE if missed[row, col] else NEGATIVE)
