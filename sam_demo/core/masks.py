"""Ground-truth masks: reading them in any form they come in, boxes around them, and overlap scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .image_io import ImageSource, load_image


@dataclass(frozen=True, eq=False)
class MaskReading:
    """A mask as read from a file: the HxW bool mask and how many grey levels the file had."""

    mask: np.ndarray
    levels: int  # 2 for a clean binary mask; more means noise, anti-aliasing or JPEG artefacts


def read_mask(source: ImageSource, *, name: str | None = None) -> MaskReading:
    """Read a mask image in any PIL mode (`1`, `L`, `P`, `RGB`, `RGBA`) or array, binarised at half its maximum.

    Half the maximum, not "> 0": 0/1 and 0/255 masks read the same, while faint background noise (values 1-3 in a
    0/255 mask made 75 % of one image foreground instead of 1.5-5 %) and JPEG's ringing around the lesion stay
    background. Transparent pixels of an RGBA mask are background.
    """
    grey = load_image(source, name=name).max(axis=2)
    top = int(grey.max())
    return MaskReading(grey > top / 2 if top else np.zeros(grey.shape, bool), len(np.unique(grey)))


def load_mask(source: ImageSource, *, name: str | None = None) -> np.ndarray:
    """The HxW bool mask of `read_mask`."""
    return read_mask(source, name=name).mask


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tightest box (x0, y0, x1, y1) around the mask, x1/y1 exclusive; None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def dice(predicted: np.ndarray, target: np.ndarray) -> float:
    """Dice coefficient of two bool masks (1.0 when both are empty)."""
    total = predicted.sum() + target.sum()
    return 1.0 if total == 0 else float(2.0 * np.logical_and(predicted, target).sum() / total)


def iou(predicted: np.ndarray, target: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(predicted, target).sum()
    return 1.0 if union == 0 else float(np.logical_and(predicted, target).sum() / union)


def readable_iou(score: float) -> float:
    """A predicted IoU as people read it: the model's estimate can stray outside [0, 1] (1.15 has no meaning)."""
    return float(np.clip(score, 0.0, 1.0))
