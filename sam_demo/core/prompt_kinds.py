"""The prompt kinds: for each, how it is derived from a ground-truth mask and how reports name it.

Evaluation, training, the model card and the app share these definitions, and one rule for when SAM answers with
three candidates (`wants_multimask`). A new kind is one `PromptKind` here (and its tests); evaluation reports
every kind in `EVALUATION_KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .masks import mask_box
from .prompt_sampling import interior_points, perturbed_box, random_points

Box = tuple[float, float, float, float]


def wants_multimask(point_count: int, has_box: bool) -> bool:
    """One click alone is ambiguous (the lesion, or a part of it?): SAM answers with three candidate masks and the
    one with the highest predicted IoU is kept, as in SAM's own training. Any other prompt gets one mask."""
    return point_count == 1 and not has_box


@dataclass(frozen=True)
class DerivedPrompt:
    """A prompt in original-image pixels, as `SamPredictor.decode` takes it."""

    points: np.ndarray | None  # (N, 2) float32 (x, y), or None
    labels: np.ndarray | None  # (N,) int32: 1 tumour, 0 background
    box: Box | None

    @property
    def multimask(self) -> bool:
        return wants_multimask(0 if self.points is None else len(self.points), self.box is not None)


@dataclass(frozen=True)
class PromptKind:
    key: str  # its name in metrics.json
    label: str  # how reports name it ("one interior point")
    short: str  # the short form in the Hub's metric names ("Dice (one-point prompt)")
    derive: Callable[[np.ndarray, np.random.Generator | None], DerivedPrompt]

    def prompt(self, mask: np.ndarray, rng: np.random.Generator | None = None) -> DerivedPrompt:
        """The prompt for a ground-truth (H, W) bool mask; random kinds need `rng`."""
        return self.derive(mask, rng)


def _box_prompt(box: Box) -> DerivedPrompt:
    return DerivedPrompt(None, None, box)


def _points_prompt(points: np.ndarray, labels: np.ndarray | None = None) -> DerivedPrompt:
    return DerivedPrompt(points, np.ones(len(points), np.int32) if labels is None else labels, None)


# Deterministic kinds for evaluation: what a careful user gives, so that numbers are comparable between runs.
TIGHT_BOX = PromptKind("box", "box", "box", lambda mask, _: _box_prompt(mask_box(mask)))
INTERIOR_POINT = PromptKind(
    "point", "one interior point", "one-point", lambda mask, _: _points_prompt(interior_points(mask, 1))
)
THREE_INTERIOR_POINTS = PromptKind(
    "three_points", "three interior points", "three-point", lambda mask, _: _points_prompt(interior_points(mask, 3))
)
EVALUATION_KINDS = (TIGHT_BOX, INTERIOR_POINT, THREE_INTERIOR_POINTS)


# Random kinds for training: a user's box has some slack; clicks land anywhere inside the tumour.
def jittered_box(max_shift: int) -> PromptKind:
    """The mask's box with each side moved by noise of 10 % of its side, at most `max_shift` pixels."""
    return PromptKind(
        "jittered_box",
        f"box with noise of 10 % of its side (at most {max_shift} px)",
        "jittered-box",
        lambda mask, rng: _box_prompt(perturbed_box(mask, rng, max_shift)),
    )


def random_interior_points(count: int) -> PromptKind:
    """`count` clicks drawn at random inside the tumour."""
    return PromptKind(
        f"random_points_{count}",
        f"{count} random interior point{'s' if count > 1 else ''}",
        f"{count}-random-point",
        lambda mask, rng: _points_prompt(*random_points(mask, rng, foreground=count)),
    )


def evaluation_kind(key: str) -> PromptKind:
    """The evaluation kind named `key` ("box", "point", "three_points")."""
    for kind in EVALUATION_KINDS:
        if kind.key == key:
            return kind
    raise ValueError(f"unknown prompt type {key!r}; choose from {', '.join(k.key for k in EVALUATION_KINDS)}")
