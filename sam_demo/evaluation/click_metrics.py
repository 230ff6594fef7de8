"""The arithmetic of interactive evaluation: clicks to reach an IoU (NoC) and bootstrap confidence intervals.

An image's IoU list holds one IoU per interaction, the first prompt being interaction 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def clicks_to_reach(ious: Sequence[float], threshold: float) -> int | None:
    """The first interaction (1-based) whose IoU is at least `threshold`; None if none reaches it."""
    for interaction, value in enumerate(ious, start=1):
        if value >= threshold:
            return interaction
    return None


def noc(iou_by_image: Sequence[Sequence[float]], threshold: float) -> dict[str, float | int]:
    """Mean number of clicks to reach `threshold` over images: {"mean", "never", "n"}.

    An image that never reaches it counts as one interaction more than it was given (the usual NoC penalty,
    where the budget is the maximum), and is counted in "never". Every image must have the same number of
    interactions, or the penalty would differ between them.
    """
    if not iou_by_image:
        raise ValueError("no images to compute NoC over")
    lengths = {len(ious) for ious in iou_by_image}
    if len(lengths) != 1:
        raise ValueError(f"every image needs the same number of interactions, got lengths {sorted(lengths)}")
    penalty = lengths.pop() + 1
    reached = [clicks_to_reach(ious, threshold) for ious in iou_by_image]
    counts = [penalty if clicks is None else clicks for clicks in reached]
    return {"mean": float(np.mean(counts)), "never": reached.count(None), "n": len(counts)}


def bootstrap_ci(
    values: Sequence[float], *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` at confidence `level`; the same for the same seed."""
    values = np.asarray(values, float)
    if values.ndim != 1 or not len(values):
        raise ValueError("need a non-empty sequence of numbers")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)
