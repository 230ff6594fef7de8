"""The model card (`README.md`) that goes next to fine-tuned weights on the Hub: text only.

`render_model_card` turns what a training run knows (`ModelCardInputs`) into Markdown with Hub front matter:
metadata, and a `model-index` with the test scores of each prompt type, which the Hub shows beside the model.
The front matter is built with huggingface_hub's own `ModelCardData` and `EvalResult`, and the whole card is read
back by its `ModelCard` before it is returned, so the Hub parses what is written. A local base model or dataset
appears by its name only (`published_name`), never by its path: the card goes public.
The metric dictionaries have the shape `sam_demo.evaluation.single_prompt` produces:

    {"prompts": {"box": {"n": 12, "dice": {"mean": .., "std": ..}, "iou": {...},
                         "hd95": {...}, "nsd": {...},
                         "per_class": {"benign": {"n": 7, "dice": {...}, "iou": {...}}, ...}},
                 "point": {..., "best_candidate_picked": 0.56}, "three_points": {...}},
     "iou_calibration": {"pearson_r": .., "mean_abs_error": .., "n": ..},
     "interactive": {"point": {"label": .., "start": "point", "mask_feedback": False, "max_clicks": 10, "n": 8,
                               "dice_by_click": [..], "dice_ci95_by_click": [[lo, hi], ..],
                               "iou_by_click": [..], "iou_ci95_by_click": [..],
                               "noc85": .., "noc90": .., "never85": .., "never90": ..},
                     "point_mask": {...}, "box": {...}, "box_mask": {...}}}

"hd95", "nsd", "best_candidate_picked" and "interactive" are missing from older runs' metrics.json; whatever is
missing is left out of the card rather than shown as a hole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..core.prompt_kinds import EVALUATION_KINDS
from ..evaluation.surface_distance import NSD_TOLERANCE_PX
from .markdown import (
    code_span,
    count_text,
    duration_text,
    escape_cell,
    finite_number,
    markdown_table,
    mean_std_text,
    percent_text,
    score_text,
    setting_text,
    table_cell,
)

__all__ = [
    "FINE_TUNED",
    "PROMPT_LABELS",
    "ZERO_SHOT",
    "ModelCardInputs",
    "hub_dataset_id",
    "hub_model_id",
    "interactive_table",
    "metrics_table",
    "published_name",
    "render_model_card",
]

# Prompt types in the order they are reported, with how the card names them (long, and short for metric names).
PROMPT_LABELS: dict[str, str] = {kind.key: kind.label for kind in EVALUATION_KINDS}
_PROMPT_SHORT = {kind.key: kind.short for kind in EVALUATION_KINDS}

# The single-prompt scores: key in the metrics, column name, decimals, name on the Hub. HD95 and NSD only exist in
# newer runs.
_SCORES = (
    ("dice", "Dice", 3, "Dice"),
    ("iou", "IoU", 3, "IoU"),
    ("hd95", "HD95, px", 1, "HD95, px"),
    ("nsd", "NSD", 3, f"NSD at {NSD_TOLERANCE_PX:g} px"),
)
_OPTIONAL_SCORES = ("hd95", "nsd")
# The interactions (1 = the first prompt) whose Dice the interactive table shows, besides the last one.
_INTERACTIONS_SHOWN = (1, 3, 5)

# How tables and figures name the two models.
FINE_TUNED, ZERO_SHOT = "fine-tuned", "base, zero-shot"
_MODEL_NAMES = {FINE_TUNED: "the fine-tuned model", ZERO_SHOT: "the base model (zero-shot)"}

TAGS = ("segment-anything", "sam", "medical-imaging", "ultrasound", "breast-cancer", "tensorflow", "research-only")

# Hub repo names: letters, digits, '-', '_', '.'; at most 96 characters (huggingface_hub's validate_repo_id).
_HUB_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_HUB_DATASET = re.compile(rf"(?P<id>{_HUB_NAME}/{_HUB_NAME})(?:/.*)?")
_HUB_PREFIXES = ("hf://datasets/", "https://huggingface.co/datasets/", "datasets/")

SAM_CITATION = """\
@inproceedings{kirillov2023segment,
  title     = {Segment Anything},
  author    = {Kirillov, Alexander and Mintun, Eric and Ravi, Nikhila and Mao, Hanzi and Rolland, Chloe and
               Gustafson, Laura and Xiao, Tete and Whitehead, Spencer and Berg, Alexander C. and Lo, Wan-Yen and
               Doll{\\'a}r, Piotr and Girshick, Ross},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  pages     = {4015--4026},
  year      = {2023},
  note      = {arXiv:2304.02643}
}"""

BUSI_CITATION = """\
@article{aldhabyani2020dataset,
  title   = {Dataset of breast ultrasound images},
  author  = {Al-Dhabyani, Walid and Gomaa, Mohammed and Khaled, Hussien and Fahmy, Aly},
  journal = {Data in Brief},
  volume  = {28},
  pages   = {104863},
  year    = {2020},
  doi     = {10.1016/j.dib.2019.104863}
}"""


@dataclass(frozen=True)
class ModelCardInputs:
    """Everything a training run knows that the card reports."""

    repo_id: str | None  # the Hub repo the weights are pushed to; None when they stay on disk
    base_model: str  # what --model was: e.g. "facebook/sam-vit-large", or a folder (the card names it, no path)
    dataset: str  # what --dataset was: "owner/repo/file.tar.gz" on the Hub, a folder (named, no path), or "BUSI"
    dataset_summary: str  # e.g. LoadReport.summary(): "21 pairs, 17 usable; 4 left out: ..."
    split_sizes: dict[str, int]  # train / validation / test
    hyperparameters: dict[str, object]
    test_metrics: dict  # sam_demo.evaluation.single_prompt's structure, fine-tuned model on the test split
    zero_shot_metrics: dict | None  # the same for the base model, or None when not measured
    best_epoch: int | None
    validation_dice: float | None
    training_seconds: float | None
    dice_by_click_figure: str | None = None  # the figure's file name beside the card, when the run drew it


# ---------------------------------------------------------------------------------------------------------
# the card
# ---------------------------------------------------------------------------------------------------------


def render_model_card(card: ModelCardInputs) -> str:
    """The model card as Markdown: YAML front matter for the Hub, then the sections a reader needs.

    A local base model or dataset is named by its folder's name only (`published_name`); the Hub ids stay.
    """
    # Decided before renaming: once "/home/alice/sam-tiny" is "sam-tiny", it would pass for a Hub id.
    hub_base = hub_model_id(card.base_model)
    card = replace(card, base_model=published_name(card.base_model), dataset=published_name(card.dataset))
    sections = [
        _introduction(card, hub_base),
        _usage(card),
        _training(card),
        _results(card),
        _limitations(card),
        _citation(card),
    ]
    body = "\n\n".join(section.rstrip("\n") for section in sections) + "\n"
    # ModelCard parses the front matter back (model-index included) and raises if the Hub could not read it.
    return str(ModelCard(f"---\n{_card_data(card, hub_base).to_yaml()}\n---\n\n{body}"))


def metrics_table(metrics: dict, zero_shot: dict | None) -> str:
    """The test scores as Markdown, with the zero-shot base model's beside them when given (results.md and
    evaluation.md): Dice and IoU (mean ± std) by prompt type, HD95 and NSD when measured, how often the app's pick
    among SAM's candidates was the best, then the interactive table when the run has one."""
    parts = [_scores_table(metrics, zero_shot), *_score_notes(metrics, zero_shot)]
    interactive = interactive_table(metrics, zero_shot)
    if interactive:
        parts += [_interactive_explanation(metrics, zero_shot), interactive]
    return "\n\n".join(parts)


def interactive_table(test: dict, zero_shot: dict | None) -> str:
    """Interactive segmentation by protocol, a row per model: Dice after the 1st, 3rd, 5th and last interaction
    (the first prompt is interaction 1), NoC@85 and NoC@90, and how many images never reached IoU 0.85 or 0.90.

    `test` and `zero_shot` are results dictionaries of the fine-tuned and the base model; a model without
    "interactive" has no rows, and the table is "" when neither has it.
    """
    models = _interactive_models(test, zero_shot)
    if not models:
        return ""
    protocols = list(dict.fromkeys(key for _, runs in models for key in runs))
    lengths = {len(run.get("dice_by_click") or []) for _, runs in models for run in runs.values()} - {0}
    # The last interaction has a column of its own; a shorter session has no 5th (and so on) to show.
    shown = [k for k in _INTERACTIONS_SHOWN if k < max(lengths, default=0)]
    last = f"Dice after {next(iter(lengths))}" if len(lengths) == 1 else "Dice after the last"
    # The fine-tuned model's rows alone need no model column, as in the other tables; anything else does.
    by_model = [label for label, _ in models] != [FINE_TUNED]
    header = ["protocol", *(["model"] if by_model else []), "n"]
    header += [f"Dice after {k}" for k in shown] + [last]
    header += ["NoC@85", "NoC@90", "never ≥ 0.85", "never ≥ 0.90"]
    rows = []
    for key in protocols:
        label = next(
            (runs[key]["label"] for _, runs in models if runs.get(key, {}).get("label")), key.replace("_", " ")
        )
        for index, (model, runs) in enumerate(models):
            run = runs.get(key, {})
            dice = run.get("dice_by_click") or []
            # The protocol's long label once, on its first row: the rows below it are the same protocol.
            row = [table_cell(label if index == 0 else ""), *([model] if by_model else []), count_text(run.get("n"))]
            row += [score_text(dice[k - 1]) if len(dice) >= k else "n/a" for k in shown]
            row += [score_text(dice[-1]) if dice else "n/a"]
            row += [score_text(run.get("noc85"), 1), score_text(run.get("noc90"), 1)]
            row += [count_text(run.get("never85")), count_text(run.get("never90"))]
            rows.append(row)
    return markdown_table(header, rows)


def hub_dataset_id(dataset: str) -> str | None:
    """The Hub dataset repo ("owner/name") that `dataset` names, or None for a local folder or a plain name.

    "owner/name" and "owner/name/file.tar.gz" count as the Hub unless such a path exists here: a relative
    path such as "data/busi" looks exactly like a repo id, and the card is rendered where --dataset was read.
    """
    text = dataset.strip()
    for prefix in _HUB_PREFIXES:
        if text.startswith(prefix):
            match = _HUB_DATASET.fullmatch(text[len(prefix) :])
            return match["id"] if match else None
    match = _HUB_DATASET.fullmatch(text)
    if match is None or text.startswith(".") or "\\" in text or Path(text).expanduser().exists():
        return None
    return match["id"]


def hub_model_id(source: str) -> str | None:
    """The Hub model repo ("owner/name" or "name") that `source` names, or None for a local folder or a path.

    As `core.model.load_sam` decides: a folder that exists here is a folder, even when its name looks like an id.
    """
    text = source.strip()
    if Path(text).expanduser().exists():
        return None
    try:
        validate_repo_id(text)
    except HFValidationError:
        return None
    return text


def published_name(source: str) -> str:
    """How a file that goes public names a model or dataset: a Hub reference as it is, a local path by its last
    part only (the folder's or file's name). The rest of a path says where it sat on the machine that trained (a
    user name, a folder layout) and means nothing to a reader of the Hub."""
    text = source.strip()
    if hub_model_id(text) is not None or hub_dataset_id(text) is not None:
        return text
    local = Path(text).expanduser()
    if local.exists():  # "." or "../busi" are named by the folder they are
        return Path(os.path.abspath(local)).name
    # A path of another machine, POSIX or Windows: its last part.
    return re.split(r"[\\/]", text.rstrip("\\/"))[-1] or text


def _card_data(card: ModelCardInputs, hub_base: str | None) -> ModelCardData:
    hub_id = hub_dataset_id(card.dataset)
    results = _eval_results(card.test_metrics, card.dataset, hub_id)
    return ModelCardData(
        license="apache-2.0",
        base_model=hub_base,  # a local folder is no model the Hub can link to
        datasets=[hub_id] if hub_id is not None else None,
        library_name="transformers",
        pipeline_tag="mask-generation",
        tags=list(TAGS),
        # No results, no model-index: an empty one would not parse.
        model_name=_model_name(card) if results else None,
        eval_results=results or None,
    )


def _eval_results(metrics: dict, dataset: str, hub_id: str | None) -> list[EvalResult]:
    """The test means for the Hub's model-index: Dice and IoU of each prompt type, and HD95 and NSD when measured.

    They share one task and dataset, so huggingface_hub groups them into one result; the metric names tell the
    prompt types apart.
    """
    results = []
    for key, scores in _ordered_prompts(metrics.get("prompts", {})):
        for metric, _, _, name in _SCORES:
            value = finite_number((scores.get(metric) or {}).get("mean"))
            if value is None:
                continue
            results.append(
                EvalResult(
                    task_type="image-segmentation",
                    task_name="Prompted tumour segmentation",
                    dataset_type=hub_id or dataset,
                    dataset_name=_dataset_name(dataset),
                    dataset_split="test",
                    metric_type=metric,
                    metric_value=round(value, 4),
                    metric_name=f"{name} ({_short(key)} prompt)",
                    metric_args={"tolerance_px": NSD_TOLERANCE_PX} if metric == "nsd" else None,
                )
            )
    return results


def _introduction(card: ModelCardInputs, hub_base: str | None) -> str:
    title = card.repo_id.split("/")[-1] if card.repo_id else "SAM fine-tuned for breast-ultrasound tumours"
    if hub_base is not None:
        base = f"[`{hub_base}`](https://huggingface.co/{hub_base})"
    else:
        base = f"{code_span(card.base_model)}, a checkpoint folder of the machine that trained it"
    return f"""\
> **Research demo, not for clinical use.** This model must not inform diagnosis, treatment or any other decision
> about a person's care: it was trained and tested on a small research dataset and has not been validated clinically.

# {title}

Meta's [Segment Anything Model](https://segment-anything.com) (SAM,
{base}) with its **mask decoder fine-tuned** to outline
breast tumours in ultrasound images. The vision encoder and the prompt encoder are frozen, exactly as in the base
model; only the mask decoder (including its IoU head, which predicts how good each mask is) was trained.
The model is prompted: give it a box around the lesion or points on it, and it returns the lesion's mask with a
predicted IoU. It does not find lesions on its own.

The weights are an ordinary `transformers` SAM checkpoint in the Hub's PyTorch layout (`model.safetensors` with
its `SamProcessor` config), trained with TensorFlow: PyTorch `SamModel` and this project's TensorFlow code both load
them."""


def _usage(card: ModelCardInputs) -> str:
    source = card.repo_id or "path/to/this/folder"
    app = f"SAM_MODEL_ID={card.repo_id} python app.py" if card.repo_id else f"python app.py --model {source}"
    return f"""\
## How to use

With PyTorch `transformers` (4.x or 5.x):

```python
import torch
from PIL import Image
from transformers import SamModel, SamProcessor

model = SamModel.from_pretrained("{source}").eval()
processor = SamProcessor.from_pretrained("{source}")

image = Image.open("ultrasound.png").convert("RGB")
inputs = processor(image, input_boxes=[[[195, 150, 292, 222]]], return_tensors="pt")  # (x0, y0, x1, y1) pixels
with torch.no_grad():
    outputs = model(**inputs, multimask_output=False)
masks = processor.post_process_masks(outputs.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"])
mask = masks[0][0, 0].numpy()  # H x W bool, at the image's own size
predicted_iou = outputs.iou_scores[0, 0, 0].item()
```

With TensorFlow and the `sam_demo` package of the project that trained it:

```python
from sam_demo import SamPredictor, load_sam

model, processor = load_sam("{source}")
predictor = SamPredictor(model, processor)

predictor.set_image("ultrasound.png")                    # runs the image encoder once
prediction = predictor.predict(box=(195, 150, 292, 222), multimask_output=False)  # (x0, y0, x1, y1) pixels
mask, predicted_iou = prediction.best, prediction.iou_scores[prediction.best_index]
clicked = predictor.predict(points=[(243, 186)], labels=[1])  # a click on the tumour: three candidate masks
```

Or in the project's web app, which takes clicks and boxes in the browser:

```bash
{app}
```

A private repo needs `HF_TOKEN`."""


def _training(card: ModelCardInputs) -> str:
    lines = ["## Training data", ""]
    hub_id = hub_dataset_id(card.dataset)
    if hub_id is not None:
        link = f"[`{hub_id}`](https://huggingface.co/datasets/{hub_id})"
        lines.append(f"Dataset: {code_span(card.dataset)} from the Hub dataset {link}.")
    else:
        busi = " (Breast Ultrasound Images, Al-Dhabyani et al. 2020; see the citation below)"
        known = busi if _is_busi(card.dataset) else ""
        lines.append(f"Dataset: {code_span(card.dataset)}{known}.")
    if card.dataset_summary:
        lines += ["", f"Pairs of image and mask found: {card.dataset_summary.rstrip('.')}."]
    if card.split_sizes:
        lines += ["", "Images by split (each image in exactly one split):", ""]
        sizes = [[table_cell(name), count_text(size)] for name, size in card.split_sizes.items()]
        lines.append(markdown_table(["split", "images"], sizes))
    lines += ["", "## Training", ""]
    facts = []
    if card.best_epoch is not None:
        dice = finite_number(card.validation_dice)
        after = f", where the validation Dice was {dice:.3f}" if dice is not None else ""
        facts.append(f"These weights are those of epoch {card.best_epoch}, the best on the validation split{after}.")
    elif (dice := finite_number(card.validation_dice)) is not None:
        facts.append(f"Validation Dice: {dice:.3f}.")
    seconds = finite_number(card.training_seconds)
    if seconds is not None:
        facts.append(f"Training took {duration_text(seconds)}.")
    if facts:
        lines += [" ".join(facts), ""]
    if card.hyperparameters:
        values = [
            [table_cell(str(key)), table_cell(setting_text(value))] for key, value in card.hyperparameters.items()
        ]
        lines.append(markdown_table(["hyperparameter", "value"], values))
    else:
        lines.append("No hyperparameters were recorded.")
    return "\n".join(lines)


def _results(card: ModelCardInputs) -> str:
    test, base = card.test_metrics, card.zero_shot_metrics
    n_test = card.split_sizes.get("test")
    where = f"the {n_test} test images" if n_test is not None else "the test split"
    prompts_from = (
        "Prompts are made from each test image's ground-truth mask: its bounding box, one point inside the lesion, "
        "or three points inside it."
    )
    lines = ["## Results", "", f"Scores on {where}, mean ± standard deviation over images. {prompts_from}"]
    if base is not None:
        lines[-1] += f" The zero-shot columns are the base model `{card.base_model}` on the same images and prompts."
    lines += ["", _scores_table(test, base)]
    for note in _score_notes(test, base):
        lines += ["", note]

    classes = _classes(test)
    if classes:
        lines += ["", "### By class"]
        for name in classes:
            table = _scores_table(_class_metrics(test, name), _class_metrics(base, name))
            lines += ["", f"**{escape_cell(name)}**", "", table]

    interactive = interactive_table(test, base)
    if interactive:
        lines += ["", "### Corrective clicks", "", _interactive_explanation(test, base)]
        if card.dice_by_click_figure:
            alt = "Dice after each interaction by protocol: fine-tuned solid, zero-shot dashed, 95 % intervals shaded"
            lines += ["", f"![{alt}]({card.dice_by_click_figure})"]
        lines += ["", interactive]

    lines += ["", "### Is the predicted IoU trustworthy?", ""]
    lines.append(
        "The app shows, next to each mask, the IoU that the model itself predicts for it, so users can tell a "
        "confident mask from a doubtful one; below is how well that prediction follows the real IoU on the test images."
    )
    lines += ["", _calibration_table(test, base)]
    return "\n".join(lines)


def _limitations(card: ModelCardInputs) -> str:
    n_train, n_test = card.split_sizes.get("train"), card.split_sizes.get("test")
    size = f" ({n_train} training images, {n_test} test images)" if n_train is not None and n_test is not None else ""
    items = [
        f"**Small dataset{size}.** The standard deviations are wide and the means uncertain; a dataset "
        "of this size cannot cover the variety of lesions, breast tissue and image quality seen in practice.",
        "**Single-centre data.** Public breast-ultrasound sets such as BUSI come from one hospital and few scanners; "
        "how the model does on other machines, presets, operators and populations is unknown.",
    ]
    if "phantom" in card.dataset.lower():
        items.append(
            "**Synthetic phantoms.** This run was trained and tested on synthetic ultrasound phantoms "
            "(`sam_demo.devtools.phantom`): its numbers show that the pipeline works, not that the model segments "
            "real tumours."
        )
    r = finite_number((card.test_metrics.get("iou_calibration") or {}).get("pearson_r"))
    calibration = f" (correlation with the real IoU: {r:.3f})" if r is not None else ""
    items += [
        f"**The predicted IoU is an estimate{calibration}.** It can be confidently wrong; it ranks masks, it does not "
        "certify one.",
        "**Prompts from the ground truth are optimistic.** The test prompts come from the true mask (its exact box, "
        "points well inside the lesion); a user's box or clicks are less precise, so expect lower scores in use.",
        "**Not a detector, not a classifier.** It outlines what it is pointed at; benign and malignant classes, "
        "where reported, are only used to break the scores down.",
    ]
    return "## Limitations\n\n" + "\n".join(f"- {item}" for item in items)


def _citation(card: ModelCardInputs) -> str:
    lines = ["## Citation", "", "Segment Anything (Kirillov et al., 2023):", "", "```bibtex", SAM_CITATION, "```"]
    if _is_busi(card.dataset):
        lines += [
            "",
            'The BUSI dataset (W. Al-Dhabyani, M. Gomaa, H. Khaled, A. Fahmy, "Dataset of breast ultrasound images", '
            "*Data in Brief* 28 (2020) 104863):",
            "",
            "```bibtex",
            BUSI_CITATION,
            "```",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# pieces of the card
# ---------------------------------------------------------------------------------------------------------


def _ordered_prompts(prompts: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Known prompt types in reporting order, then any others in their given order (an evaluation may add some)."""
    known = [key for key in PROMPT_LABELS if key in prompts]
    return [(key, prompts[key]) for key in known + [key for key in prompts if key not in PROMPT_LABELS]]


def _prompt_label(key: str) -> str:
    return PROMPT_LABELS.get(key, key.replace("_", " "))


def _short(key: str) -> str:
    return _PROMPT_SHORT.get(key, key.replace("_", " "))


def _classes(metrics: dict) -> list[str]:
    """Class names in order of first appearance over the prompt types."""
    names: dict[str, None] = {}
    for _, scores in _ordered_prompts(metrics.get("prompts", {})):
        names.update(dict.fromkeys(scores.get("per_class") or {}))
    return list(names)


def _class_metrics(metrics: dict | None, name: str) -> dict | None:
    """`metrics` restricted to one class, in the same structure, so `metrics_table` can show it."""
    if metrics is None:
        return None
    by_prompt = {key: scores.get("per_class") or {} for key, scores in metrics.get("prompts", {}).items()}
    return {"prompts": {key: classes[name] for key, classes in by_prompt.items() if name in classes}}


def _models(test: dict, zero_shot: dict | None) -> list[tuple[str, dict]]:
    """The models a report compares, with how tables name them."""
    return [(FINE_TUNED, test)] + ([(ZERO_SHOT, zero_shot)] if zero_shot is not None else [])


def _interactive_models(test: dict, zero_shot: dict | None) -> list[tuple[str, dict]]:
    """The models evaluated interactively, with their "interactive" results (older runs have none)."""
    return [(label, model["interactive"]) for label, model in _models(test, zero_shot) if model.get("interactive")]


def _scores_table(metrics: dict, zero_shot: dict | None) -> str:
    """Single-prompt scores (mean ± std) by prompt type: Dice and IoU always, HD95 and NSD when either model has
    them; each model's columns side by side."""
    models = _models(metrics, zero_shot)
    columns = [
        (metric, name, digits)
        for metric, name, digits, _ in _SCORES
        if metric not in _OPTIONAL_SCORES or any(_measured(m, metric) for _, m in models)
    ]
    header = ["prompt", "n"]
    for label, _ in models:
        header += [name if zero_shot is None else f"{name} ({label})" for _, name, _ in columns]
    rows = []
    for key, scores in _ordered_prompts(metrics.get("prompts", {})):
        row = [table_cell(_prompt_label(key)), count_text(scores.get("n"))]
        for _, model in models:
            model_scores = model.get("prompts", {}).get(key, {})
            row += [mean_std_text(model_scores, metric, digits) for metric, _, digits in columns]
        rows.append(row)
    return markdown_table(header, rows)


def _measured(metrics: dict, metric: str) -> bool:
    return any(metric in scores for scores in metrics.get("prompts", {}).values())


def _score_notes(metrics: dict, zero_shot: dict | None) -> list[str]:
    """What a reader of the scores table needs besides it: the units of HD95 and NSD, and how often the mask the
    app shows for an ambiguous prompt was the best of SAM's candidates."""
    models = _models(metrics, zero_shot)
    notes = []
    if any(_measured(m, metric) for _, m in models for metric in _OPTIONAL_SCORES):
        notes.append(
            "HD95 is the 95th-percentile Hausdorff distance between the predicted and the true outline, the larger "
            "of both directions (lower is better; an empty prediction counts as the image's diagonal). NSD, the "
            f"normalised surface Dice at a {NSD_TOLERANCE_PX:g}-pixel tolerance, is the share of both outlines that "
            "lies within that distance of the other (higher is better). Both are measured in pixels of the original "
            "image."
        )
    for key, _ in _ordered_prompts(metrics.get("prompts", {})):
        picked = [(label, m.get("prompts", {}).get(key, {}).get("best_candidate_picked")) for label, m in models]
        shown = [
            (_MODEL_NAMES[label], percent_text(value)) for label, value in picked if finite_number(value) is not None
        ]
        if not shown:
            continue
        (first_model, first), *others = shown
        how_often = f"{first} of the images" + (f" with {first_model}" if zero_shot is not None else "")
        how_often += "".join(f" and {text} with {model}" for model, text in others)
        notes.append(
            f"With the prompt “{escape_cell(_prompt_label(key))}”, SAM proposes three candidate masks and the app "
            f"shows the one with the highest predicted IoU; that one was truly the best of the three for {how_often}."
        )
    return notes


def _interactive_explanation(test: dict, zero_shot: dict | None) -> str:
    """How to read the interactive table: what an interaction is, and how NoC counts an image that never gets there."""
    models = _interactive_models(test, zero_shot)
    max_clicks = {run.get("max_clicks") for _, runs in models for run in runs.values()}
    limit = max_clicks.pop() if len(max_clicks) == 1 else None
    if isinstance(limit, int) and not isinstance(limit, bool):
        clicks = f"up to {limit} corrective clicks"
        never = f"counts as {limit + 2}, one more than the {limit + 1} interactions allowed"
    else:
        clicks = "a number of corrective clicks"
        never = "counts as one more than the interactions allowed"
    return (
        f"Interactive segmentation: after the first prompt, {clicks}, one at a time, each on the most interior "
        "pixel of the largest region where the mask on display is wrong (a simulated user who knows the ground "
        "truth, so more precise than a real one); the model sees every prompt so far each time. Dice after k is the "
        "mean over images after k interactions; interaction 1 is the first prompt alone. NoC@85 and NoC@90 are the "
        "mean number of interactions, the first prompt counting as 1, until IoU reaches 0.85 or 0.90; an image that "
        f"never gets there {never}, and the never columns count those images."
    )


def _calibration_table(test: dict, base: dict | None) -> str:
    columns = _models(test, base)
    rows = [
        ["Pearson correlation, predicted vs real IoU"],
        ["mean absolute error, predicted − real IoU"],
        ["masks"],
    ]
    for _, metrics in columns:
        calibration = metrics.get("iou_calibration") or {}
        rows[0].append(score_text(calibration.get("pearson_r")))
        rows[1].append(score_text(calibration.get("mean_abs_error")))
        rows[2].append(count_text(calibration.get("n")))
    return markdown_table([""] + [label for label, _ in columns], rows)


def _model_name(card: ModelCardInputs) -> str:
    return card.repo_id.split("/")[-1] if card.repo_id else "sam-breast-ultrasound"


def _dataset_name(dataset: str) -> str:
    return "BUSI (Breast Ultrasound Images)" if dataset.strip().lower() == "busi" else dataset


def _is_busi(dataset: str) -> bool:
    # "BUSI", "Dataset_BUSI_with_GT", "data/busi-sample"; not "business".
    return re.search(r"(?<![a-z])busi(?![a-z])", dataset.lower()) is not None
