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
from .interactive import Answer, answer

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


def single_prompt_answers(predictor: SamPredictor, example: TrainingExample) -> dict[str, Answer]:
    """{prompt type: SAM's answer and the shown mask's scores} for one image."""
    return {key: answer(prediction_for(predictor, example, key), example.mask) for key in PROMPT_TYPES}


def picks_best_candidate(prediction: Prediction, target: np.ndarray) -> bool:
    """Whether the candidate the app shows (highest predicted IoU) is truly the best (highest real IoU)."""
    real = [iou(mask, target) for mask in prediction.masks]
    return real[prediction.best_index] >= max(real)


def _summary(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def summarise_single_prompts(rows: list[dict], picked_best: dict[str, list[bool]]) -> dict:
    """{"prompts": {type: {n, dice, iou, hd95, nsd, per_class}}, "iou_calibration": {...}} from the per-image rows
    of the single prompts; `picked_best[type]`: per image with several candidates, whether the shown one is truly
    the best ("best_candidate_picked", the share of those images)."""
    results: dict = {"prompts": {}}
    for prompt_type in PROMPT_TYPES:
        mine = [row for row in rows if row["protocol"] == prompt_type]
        by_class = defaultdict(list)
        for row in mine:
            by_class[row["class"]].append(row)
        results["prompts"][prompt_type] = {
            **_scores(mine),
            "per_class": {label: _scores(by_class[label]) for label in sorted(by_class) if label},
        }
        if picked_best.get(prompt_type):
            results["prompts"][prompt_type]["best_candidate_picked"] = float(np.mean(picked_best[prompt_type]))
    predicted = np.array([row["predicted_iou"] for row in rows])
    results["iou_calibration"] = iou_calibration(predicted, np.array([row["iou"] for row in rows]))
    return results


def _scores(rows: list[dict]) -> dict:
    return {"n": len(rows), **{name: _summary([row[name] for row in rows]) for name in METRICS}}


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
