"""Prompts derived from a ground-truth mask, for training and evaluation.

Training draws them at random (a box with some slack on each side, as a user's box would have, or a
few clicks inside the tumour, so the fine-tuned model answers the app's point prompts as well as its boxes);
evaluation uses deterministic ones (the tight box, the most interior pixel) so that numbers are comparable.
All coordinates are (x, y) in original-image pixels, as `SamPredictor` takes them.
"""

from __future__ import annotations

import numpy as np

from .masks import mask_box


def perturbed_box(
    mask: np.ndarray, rng: np.random.Generator, max_shift: int = 20, relative_std: float = 0.1
) -> tuple[float, float, float, float]:
    """The mask's box as a user might draw it: each side moved by Gaussian noise with a standard deviation of
    `relative_std` times the box's width (x) or height (y), capped at `max_shift` pixels, clamped to the image.

    SAM's own training noise (std 10 % of the side, at most 20 px). Noise scaled to the box keeps a small
    lesion's box a box around that lesion: a fixed +-20 px, inward too, left 11 % of BUSI's training boxes with
    IoU < 0.5 against the tight box while the target stayed the whole lesion.
    """
    box = mask_box(mask)
    if box is None:
        raise ValueError("an empty mask has no box")
    height, width = mask.shape
    width_, height_ = box[2] - box[0], box[3] - box[1]
    sides = np.array([width_, height_, width_, height_], float)
    noise = np.clip(rng.normal(0.0, relative_std * sides), -max_shift, max_shift)
    x0, y0, x1, y1 = (np.array(box, float) + noise).tolist()
    x0, x1 = sorted((min(max(x0, 0.0), width - 1.0), min(max(x1, 1.0), float(width))))
    y0, y1 = sorted((min(max(y0, 0.0), height - 1.0), min(max(y1, 1.0), float(height))))
    return x0, y0, max(x1, x0 + 1.0), max(y1, y0 + 1.0)


def random_points(
    mask: np.ndarray, rng: np.random.Generator, foreground: int, background: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`foreground` points drawn inside the mask and `background` outside it: ((N, 2) xy, (N,) labels 1/0)."""
    points, labels = [], []
    for inside, count, label in ((mask, foreground, 1), (~mask, background, 0)):
        if count == 0:
            continue
        rows, cols = np.nonzero(inside)
        if not len(rows):
            raise ValueError("no pixel to draw a {} point from".format("foreground" if label else "background"))
        chosen = rng.integers(0, len(rows), size=count)
        points.extend(zip(cols[chosen].astype(float), rows[chosen].astype(float)))
        labels.extend([label] * count)
    return np.array(points, np.float32).reshape(-1, 2), np.array(labels, np.int32)


def depth_map(mask: np.ndarray) -> np.ndarray:
    """Chessboard distance of each mask pixel to the nearest background pixel (0 outside the mask).

    Computed by repeated 3x3 erosion inside the mask's bounding box: a pixel's depth is the number of erosions
    it survives. Tumours are at most a few hundred pixels across, so this takes milliseconds.
    """
    depth = np.zeros(mask.shape, np.int32)
    box = mask_box(mask)
    if box is None:
        return depth
    x0, y0, x1, y1 = box
    current = np.pad(mask[y0:y1, x0:x1], 1)
    level = 0
    while current.any():
        level += 1
        depth[y0:y1, x0:x1][current[1:-1, 1:-1]] = level
        eroded = current.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                eroded[1:-1, 1:-1] &= current[1 + dy : current.shape[0] - 1 + dy, 1 + dx : current.shape[1] - 1 + dx]
        eroded[[0, -1], :] = False
        eroded[:, [0, -1]] = False
        current = eroded
    return depth


def interior_points(mask: np.ndarray, count: int = 1) -> np.ndarray:
    """(count, 2) xy points deep inside the mask: the most interior pixel first, then the deepest pixels farther
    than that pixel's depth from the points already chosen (where the mask is too small, the deepest left)."""
    depth = depth_map(mask).astype(float)
    if not depth.any():
        raise ValueError("an empty mask has no interior point")
    rows, cols = np.indices(mask.shape)
    chosen: list[tuple[float, float]] = []
    available = depth.copy()
    for _ in range(count):
        if not available.any():
            available = depth.copy()  # mask exhausted: allow repeats rather than fail
        y, x = np.unravel_index(np.argmax(available), available.shape)
        chosen.append((float(x), float(y)))
        radius = max(depth[y, x], 1.0)
        available[(rows - y) ** 2 + (cols - x) ** 2 <= radius**2] = 0
    return np.array(chosen, np.float32)
