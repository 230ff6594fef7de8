"""Honest evaluation: Dice and IoU at the original resolution, per prompt type and per class.

Prompts are the deterministic kinds of `core.prompt_kinds.EVALUATION_KINDS`, derived from the ground truth the way
a careful user would give them:
* `box`: the tight box around the tumour (single-mask output);
* `point`: one click on the tumour's most interior pixel (SAM's three candidates, the one with the highest
  predicted IoU is taken, as the app shows it);
* `three_points`: three such clicks, spread over the tumour (single-mask output).
Alongside: HD95 and NSD, how well the predicted IoU (the score the app displays) tracks the real IoU, and how
often the app's pick among the three candidates is the truly best one.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..core.masks import dice, iou
from ..core.predictor import Prediction, SamPredictor
from ..core.prompt_kinds import EVALUATION_KINDS, evaluation_kind
from ..data.examples import TrainingExample
from .interactive import Interaction, per_image_row

PROMPT_TYPES = tuple(kind.key for kind in EVALUATION_KINDS)
METRICS = ("dice", "iou", "hd95", "nsd")


def prediction_for(predictor: SamPredictor, example: TrainingExample, prompt_type: str) -> Prediction:
    """SAM's answer to `prompt_type` on the example: three candidates for one point, else one mask."""
    prompt = evaluation_kind(prompt_type).prompt(example.mask)
    return predictor.decode(
        example.image, points=prompt.points, labels=prompt.labels, box=prompt.box, multimask_output=prompt.multimask
    )


def predict_with(predictor: SamPredictor, example: TrainingExample, prompt_type: str) -> tuple[np.ndarray, float]:
    """The mask shown for `prompt_type` (the candidate with the highest predicted IoU), and that score."""
    prediction = prediction_for(predictor, example, prompt_type)
    return prediction.best, float(prediction.iou_scores[prediction.best_index])


def picks_best_candidate(prediction: Prediction, target: np.ndarray) -> bool:
    """Whether the candidate the app shows (highest predicted IoU) is truly the best (highest real IoU)."""
    real = [iou(mask, target) for mask in prediction.masks]
    return real[prediction.best_index] >= max(real)


def _summary(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def evaluate_single_prompts(predictor: SamPredictor, examples: list[TrainingExample]) -> tuple[dict, list[dict]]:
    """({"prompts": {type: {n, dice, iou, hd95, nsd, per_class}}, "iou_calibration": {...}}, per-image rows).

    HD95 and NSD (2-pixel tolerance) are in pixels of the original image. For the one-point prompt,
    "best_candidate_picked" is the share of images where the shown candidate is truly the best of the three.
    """
    if not examples:
        raise ValueError("nothing to evaluate: no example with a tumour mask")
    results: dict = {"prompts": {}}
    rows: list[dict] = []
    predicted_ious, real_ious = [], []
    for prompt_type in PROMPT_TYPES:
        scores: dict[str | None, dict[str, list[float]]] = defaultdict(lambda: {name: [] for name in METRICS})
        picked_best = []
        for example in examples:
            prediction = prediction_for(predictor, example, prompt_type)
            mask, predicted_iou = prediction.best, float(prediction.iou_scores[prediction.best_index])
            step = Interaction(mask, dice(mask, example.mask), iou(mask, example.mask), predicted_iou)
            row = per_image_row(example, prompt_type, 1, step)
            rows.append(row)
            for key in (None,) if example.label is None else (None, example.label):
                for name in METRICS:
                    scores[key][name].append(row[name])
            if len(prediction.masks) > 1:
                picked_best.append(picks_best_candidate(prediction, example.mask))
            predicted_ious.append(predicted_iou)
            real_ious.append(step.iou)
        overall = scores.pop(None)
        results["prompts"][prompt_type] = {
            "n": len(overall["dice"]),
            **{name: _summary(overall[name]) for name in METRICS},
            "per_class": {
                label: {"n": len(values["dice"]), **{name: _summary(values[name]) for name in METRICS}}
                for label, values in sorted(scores.items())
                if label is not None
            },
        }
        if picked_best:
            results["prompts"][prompt_type]["best_candidate_picked"] = float(np.mean(picked_best))
    results["iou_calibration"] = iou_calibration(np.array(predicted_ious), np.array(real_ious))
    return results, rows


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
