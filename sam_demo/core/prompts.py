"""Checking prompts (points with labels, a box, a low-res mask) against the image they are meant for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

FOREGROUND, BACKGROUND = 1, 0
LOW_RES_SIZE = 256  # side of the decoder's mask grid (the low-resolution frame), and so of a mask prompt

# What callers may pass: (x, y) pixel pairs, their 0/1 labels, and one (x0, y0, x1, y1) box, as lists or arrays.
PointsLike = Sequence[Sequence[float]] | np.ndarray | None
LabelsLike = Sequence[int] | np.ndarray | None
BoxLike = Sequence[float] | np.ndarray | None
LOW_RES_SHAPE = (LOW_RES_SIZE, LOW_RES_SIZE)


class PromptError(ValueError):
    """A prompt that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Prompts:
    """Validated prompts in original-image pixels."""

    points: np.ndarray  # (N, 2) float32 (x, y)
    labels: np.ndarray  # (N,) int32: 1 foreground, 0 background
    box: np.ndarray | None  # (4,) float32 (x0, y0, x1, y1), or None


def validate_prompts(points: PointsLike, labels: LabelsLike, box: BoxLike, image_size: tuple[int, int]) -> Prompts:
    """Check points, labels and box against an image of `image_size` (height, width); raise `PromptError`."""
    height, width = image_size
    point_array, label_array = checked_points(points, labels)
    for x, y in point_array:
        if not (0 <= x < width and 0 <= y < height):
            raise PromptError(f"point ({x:g}, {y:g}) is outside the {width}x{height} image.")
    box_array = None if box is None else checked_box(box)
    if box_array is not None:
        x0, y0, x1, y1 = box_array
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise PromptError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) extends outside the {width}x{height} image.")
    if not len(point_array) and box_array is None:
        raise PromptError("no prompt: give at least one point or a box.")
    return Prompts(point_array, label_array, box_array)


def checked_points(points: PointsLike, labels: LabelsLike) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) float32 (x, y) points and their (N,) int32 labels, checked in form (not against an image)."""
    point_array = _points_array(points)
    if len(point_array) and labels is None:
        raise PromptError("points need labels: 1 for foreground (tumour), 0 for background.")
    label_array = np.asarray([] if labels is None else labels).reshape(-1)
    if len(label_array) != len(point_array):
        raise PromptError(f"{len(point_array)} point(s) but {len(label_array)} label(s): give one label per point.")
    if len(label_array) and not np.isin(label_array, (FOREGROUND, BACKGROUND)).all():
        bad = label_array[~np.isin(label_array, (FOREGROUND, BACKGROUND))][0]
        raise PromptError(f"point label {bad.item()!r} is not 0 (background) or 1 (foreground).")
    return point_array.astype(np.float32), label_array.astype(np.int32)


def checked_box(box: BoxLike) -> np.ndarray:
    """(x0, y0, x1, y1) as float32 with x0 < x1 and y0 < y1, checked in form (not against an image)."""
    box_array = _as_float_array(box, "box").reshape(-1)
    if box_array.size != 4:
        raise PromptError(f"a box is (x0, y0, x1, y1); got {box_array.size} number(s).")
    x0, y0, x1, y1 = box_array
    if x0 >= x1 or y0 >= y1:
        raise PromptError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) needs x0 < x1 and y0 < y1.")
    return box_array


def validate_mask_input(mask_input: np.ndarray | None) -> np.ndarray | None:
    """A previous prediction's low-res logits, as a (256, 256) float32 array (or None)."""
    if mask_input is None:
        return None
    array = _as_float_array(mask_input, "mask_input")
    if array.size != LOW_RES_SHAPE[0] * LOW_RES_SHAPE[1]:
        raise PromptError(
            f"mask_input must be one 256x256 low-res logit map (Prediction.low_res_logits[i]); got shape {array.shape}."
        )
    return array.reshape(LOW_RES_SHAPE)


def _points_array(points: object) -> np.ndarray:
    if points is None:
        return np.zeros((0, 2), np.float32)
    array = _as_float_array(points, "points")
    if array.size == 0:
        return np.zeros((0, 2), np.float32)
    if array.shape == (2,):  # a single (x, y)
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 2:
        raise PromptError(f"points must be a list of (x, y) pairs; got shape {array.shape}.")
    return array


def _as_float_array(values: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise PromptError(f"{name} must be numbers; got {values!r}.") from error
    if not np.isfinite(array).all():
        raise PromptError(f"{name} contains NaN or infinite values.")
    return array
