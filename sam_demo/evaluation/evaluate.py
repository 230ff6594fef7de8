"""A model's whole evaluation on a split: single prompts and the interactive loop, summary and per-image rows."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..core.predictor import SamPredictor
from ..data.examples import TrainingExample
from .interactive import DEFAULT_MAX_CLICKS, evaluate_interactive
from .single_prompt import evaluate_single_prompts

CSV_COLUMNS = ("model", "image", "class", "protocol", "click", "dice", "iou", "hd95", "nsd", "predicted_iou")


@dataclass(frozen=True)
class Evaluation:
    summary: dict  # {"prompts", "iou_calibration", "interactive"}: what metrics.json keeps per model
    rows: list[dict]  # one per image, protocol and interaction (see CSV_COLUMNS)


def evaluate(
    predictor: SamPredictor, examples: list[TrainingExample], max_clicks: int = DEFAULT_MAX_CLICKS
) -> Evaluation:
    """Every single-prompt kind, then every interactive protocol with up to `max_clicks` corrective clicks."""
    summary, rows = evaluate_single_prompts(predictor, examples)
    summary["interactive"], interactive_rows = evaluate_interactive(predictor, examples, max_clicks)
    return Evaluation(summary, rows + interactive_rows)


def write_per_image_csv(path: Path, evaluations: dict[str, Evaluation | None]) -> None:
    """One CSV for several models (the "model" column says which: e.g. fine_tuned, zero_shot)."""
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for model, evaluation in evaluations.items():
            if evaluation is not None:
                writer.writerows({"model": model, **row} for row in evaluation.rows)
