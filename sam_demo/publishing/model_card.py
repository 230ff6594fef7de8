"""The model card (`README.md`) that goes next to fine-tuned weights on the Hub: text only.

`render_model_card` turns what a training run knows (`ModelCardInputs`) into Markdown with Hub front matter:
metadata, and a `model-index` with the test scores of each prompt type, which the Hub shows beside the model.
The metric dictionaries have the shape `sam_demo.evaluation.single_prompt` produces:

    {"prompts": {"box": {"n": 12, "dice": {"mean": .., "std": ..}, "iou": {...},
                         "per_class": {"benign": {"n": 7, "dice": {...}, "iou": {...}}, ...}},
                 "point": {...}, "three_points": {...}},
     "iou_calibration": {"pearson_r": .., "mean_abs_error": .., "n": ..}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # a dependency of huggingface_hub, which is pinned

from ..core.prompt_kinds import EVALUATION_KINDS
from .markdown import (
    code_span,
    count_text,
    duration_text,
    escape_cell,
    finite_number,
    markdown_table,
    mean_std_text,
    score_text,
    setting_text,
    table_cell,
)

__all__ = [
    "PROMPT_LABELS",
    "ModelCardInputs",
    "hub_dataset_id",
    "metrics_table",
    "render_model_card",
]

# Prompt types in the order they are reported, with how the card names them (long, and short for metric names).
PROMPT_LABELS: dict[str, str] = {kind.key: kind.label for kind in EVALUATION_KINDS}
_PROMPT_SHORT = {kind.key: kind.short for kind in EVALUATION_KINDS}

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
    base_model: str  # e.g. "facebook/sam-vit-large"
    dataset: str  # what --dataset was: "owner/repo/file.tar.gz" on the Hub, a folder name, or "BUSI"
    dataset_summary: str  # e.g. LoadReport.summary(): "21 pairs, 17 usable; 4 left out: ..."
    split_sizes: dict[str, int]  # train / validation / test
    hyperparameters: dict[str, object]
    test_metrics: dict  # sam_demo.evaluation.single_prompt's structure, fine-tuned model on the test split
    zero_shot_metrics: dict | None  # the same for the base model, or None when not measured
    best_epoch: int | None
    validation_dice: float | None
    training_seconds: float | None


# ---------------------------------------------------------------------------------------------------------
# the card
# ---------------------------------------------------------------------------------------------------------


def render_model_card(card: ModelCardInputs) -> str:
    """The model card as Markdown: YAML front matter for the Hub, then the sections a reader needs."""
    sections = [
        _front_matter(card),
        _introduction(card),
        _usage(card),
        _training(card),
        _results(card),
        _limitations(card),
        _citation(card),
    ]
    return "\n\n".join(section.rstrip("\n") for section in sections) + "\n"


def metrics_table(metrics: dict, zero_shot: dict | None) -> str:
    """Test Dice and IoU (mean ± std) by prompt type, with the zero-shot base model's beside them when given."""
    header = ["prompt", "n", "Dice", "IoU"]
    if zero_shot is not None:
        header = ["prompt", "n", "Dice (fine-tuned)", "IoU (fine-tuned)"]
        header += ["Dice (base, zero-shot)", "IoU (base, zero-shot)"]
    rows = []
    zero_shot_prompts = (zero_shot or {}).get("prompts", {})
    for key, scores in _ordered_prompts(metrics.get("prompts", {})):
        row = [
            table_cell(_prompt_label(key)),
            count_text(scores.get("n")),
            mean_std_text(scores, "dice"),
            mean_std_text(scores, "iou"),
        ]
        if zero_shot is not None:
            base = zero_shot_prompts.get(key, {})
            row += [mean_std_text(base, "dice"), mean_std_text(base, "iou")]
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


def _front_matter(card: ModelCardInputs) -> str:
    metadata: dict[str, Any] = {
        "license": "apache-2.0",
        "base_model": card.base_model,
        "library_name": "transformers",
        "pipeline_tag": "mask-generation",
        "tags": list(TAGS),
    }
    hub_id = hub_dataset_id(card.dataset)
    if hub_id is not None:
        metadata["datasets"] = [hub_id]
    results = _model_index_results(card.test_metrics, card.dataset, hub_id)
    if results:
        metadata["model-index"] = [{"name": _model_name(card), "results": results}]
    # safe_dump quotes whatever needs it (colons, '#', leading '*'), so any dataset name stays valid YAML.
    body = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{body}---"


def _model_index_results(metrics: dict, dataset: str, hub_id: str | None) -> list[dict[str, Any]]:
    """One result per prompt type (the Hub's model-index schema), holding its test Dice and IoU means."""
    results = []
    for key, scores in _ordered_prompts(metrics.get("prompts", {})):
        entries = []
        for metric, label in (("dice", "Dice"), ("iou", "IoU")):
            value = finite_number(scores.get(metric, {}).get("mean"))
            if value is not None:
                entries.append({"type": metric, "value": round(value, 4), "name": f"{label} ({_short(key)} prompt)"})
        if entries:
            results.append(
                {
                    "task": {"type": "image-segmentation", "name": "Prompted tumour segmentation"},
                    "dataset": {"name": _dataset_name(dataset), "type": hub_id or dataset, "split": "test"},
                    "metrics": entries,
                }
            )
    return results


def _introduction(card: ModelCardInputs) -> str:
    title = card.repo_id.split("/")[-1] if card.repo_id else "SAM fine-tuned for breast-ultrasound tumours"
    return f"""\
> **Research demo, not for clinical use.** This model must not inform diagnosis, treatment or any other decision
> about a person's care: it was trained and tested on a small research dataset and has not been validated clinically.

# {title}

Meta's [Segment Anything Model](https://segment-anything.com) (SAM,
[`{card.base_model}`](https://huggingface.co/{card.base_model})) with its **mask decoder fine-tuned** to outline
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
    lines = ["## Results", "", f"Dice and IoU on {where}, mean ± standard deviation over images. {prompts_from}"]
    if base is not None:
        lines[-1] += f" The zero-shot columns are the base model `{card.base_model}` on the same images and prompts."
    lines += ["", metrics_table(test, base)]

    classes = _classes(test)
    if classes:
        lines += ["", "### By class"]
        for name in classes:
            table = metrics_table(_class_metrics(test, name), _class_metrics(base, name))
            lines += ["", f"**{escape_cell(name)}**", "", table]

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


def _calibration_table(test: dict, base: dict | None) -> str:
    columns = [("fine-tuned", test)] + ([("base, zero-shot", base)] if base is not None else [])
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
