"""Honest evaluation: Dice and IoU at the original resolution, per prompt type and per class.

Prompts are the deterministic kinds of `core.prompt_kinds.EVALUATION_KINDS`, derived from the ground truth the way
a careful user would give them:
* `box`: the tight box around the tumour (single-mask output);
* `point`: one click on the tumour's most interior pixel (SAM's three candidates, the one with the highest
  predicted IoU is taken, as the app shows it);
* `three_points`: three such clicks, spread over the tumour (single-mask output).
Alongside: how well the predicted IoU (the score the app displays) tracks the real IoU.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..core.masks import dice, iou
from ..core.predictor import Prediction, SamPredictor
from ..core.prompt_kinds import EVALUATION_KINDS, evaluation_kind
from ..data.examples import TrainingExample

PROMPT_TYPES = tuple(kind.key for kind in EVALUATION_KINDS)


def predict_with(predictor: SamPredictor, example: TrainingExample, prompt_type: str) -> tuple[np.ndarray, float]:
    """The mask shown for `prompt_type`, and the model's predicted IoU for it."""
    prompt = evaluation_kind(prompt_type).prompt(example.mask)
    prediction = predictor.decode(
        example.image, points=prompt.points, labels=prompt.labels, box=prompt.box, multimask_output=prompt.multimask
    )
    return _shown(prediction)


def _shown(prediction: Prediction) -> tuple[np.ndarray, float]:
    return prediction.best, float(prediction.iou_scores[prediction.best_index])


def _summary(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def evaluate(predictor: SamPredictor, examples: list[TrainingExample]) -> dict:
    """Metrics for every prompt type: {"prompts": {type: {n, dice, iou, per_class}}, "iou_calibration": {...}}."""
    if not examples:
        raise ValueError("nothing to evaluate: no example with a tumour mask")
    results: dict = {"prompts": {}}
    predicted_ious, real_ious = [], []
    for prompt_type in PROMPT_TYPES:
        scores: dict[str | None, dict[str, list[float]]] = defaultdict(lambda: {"dice": [], "iou": []})
        for example in examples:
            mask, predicted_iou = predict_with(predictor, example, prompt_type)
            for key in (None, example.label):
                scores[key]["dice"].append(dice(mask, example.mask))
                scores[key]["iou"].append(iou(mask, example.mask))
            predicted_ious.append(predicted_iou)
            real_ious.append(scores[None]["iou"][-1])
        overall = scores.pop(None)
        results["prompts"][prompt_type] = {
            "n": len(overall["dice"]),
            "dice": _summary(overall["dice"]),
            "iou": _summary(overall["iou"]),
            "per_class": {
                label: {"n": len(values["dice"]), "dice": _summary(values["dice"]), "iou": _summary(values["iou"])}
                for label, values in sorted(scores.items())
                if label is not None
            },
        }
    results["iou_calibration"] = iou_calibration(np.array(predicted_ious), np.array(real_ious))
    return results


def mean_scores(predictor: SamPredictor, examples: list[TrainingExample], prompt_type: str = "box") -> dict[str, float]:
    """Mean Dice and IoU for one prompt type: the per-epoch validation score during training."""
    shown = [predict_with(predictor, example, prompt_type)[0] for example in examples]
    return {
        "dice": float(np.mean([dice(m, e.mask) for m, e in zip(shown, examples)])),
        "iou": float(np.mean([iou(m, e.mask) for m, e in zip(shown, examples)])),
    }


def iou_calibration(predicted: np.ndarray, real: np.ndarray) -> dict[str, float | int | None]:
    """Pearson correlation and mean absolute error between predicted and real IoU (None where undefined)."""
    defined = len(predicted) > 1 and predicted.std() > 0 and real.std() > 0
    return {
        "pearson_r": float(np.corrcoef(predicted, real)[0, 1]) if defined else None,
        "mean_abs_error": float(np.mean(np.abs(predicted - real))) if len(predicted) else None,
        "n": int(len(predicted)),
    }
