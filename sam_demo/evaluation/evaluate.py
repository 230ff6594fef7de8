"""A model's whole evaluation on a split: single prompts and the interactive loop, summary and per-image rows."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..core.predictor import SamPredictor
from ..data.examples import TrainingExample
from .interactive import (
    DEFAULT_MAX_CLICKS,
    PROTOCOLS,
    click_session,
    per_image_row,
    session_rows,
    summarise_interactive,
)
from .single_prompt import picks_best_candidate, single_prompt_answers, summarise_single_prompts

CSV_COLUMNS = ("model", "image", "class", "protocol", "click", "dice", "iou", "hd95", "nsd", "predicted_iou")


@dataclass(frozen=True)
class Evaluation:
    summary: dict  # {"prompts", "iou_calibration", "interactive"}: what metrics.json keeps per model
    rows: list[dict]  # one per image, protocol and interaction (see CSV_COLUMNS)


def evaluate(
    predictor: SamPredictor, examples: list[TrainingExample], max_clicks: int = DEFAULT_MAX_CLICKS
) -> Evaluation:
    """Every single-prompt kind, then every interactive protocol with up to `max_clicks` corrective clicks.

    Image by image, so that only one image's masks are held; the interactive protocols start from the single
    prompts' own answers (a tight box, one interior point), which are decoded and scored once.
    """
    if not examples:
        raise ValueError("nothing to evaluate: no example with a tumour mask")
    single_rows: list[dict] = []
    interactive_rows: list[dict] = []
    picked_best: dict[str, list[bool]] = defaultdict(list)
    for example in examples:
        answers = single_prompt_answers(predictor, example)
        for prompt_type, answer in answers.items():
            single_rows.append(per_image_row(example, prompt_type, 1, answer.shown))
            if len(answer.prediction.masks) > 1:
                picked_best[prompt_type].append(picks_best_candidate(answer.prediction, example.mask))
        for protocol in PROTOCOLS:
            session = click_session(predictor, example, protocol, max_clicks, first=answers[protocol.start.key])
            interactive_rows += session_rows(example, protocol, session)
    summary = summarise_single_prompts(single_rows, picked_best)
    summary["interactive"] = summarise_interactive(interactive_rows, max_clicks)
    return Evaluation(summary, single_rows + interactive_rows)


def write_per_image_csv(path: Path, evaluations: dict[str, Evaluation | None]) -> None:
    """One CSV for several models (the "model" column says which: e.g. fine_tuned, zero_shot)."""
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for model, evaluation in evaluations.items():
            if evaluation is not None:
                writer.writerows({"model": model, **row} for row in evaluation.rows)
