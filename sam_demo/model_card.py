"""The model card (`README.md`) that goes next to fine-tuned weights on the Hub, and the training-curve figure.

`render_model_card` turns what a training run knows (`ModelCardInputs`) into Markdown with Hub front matter:
metadata, and a `model-index` with the test scores of each prompt type, which the Hub shows beside the model.
The metric dictionaries have the shape `sam_demo.evaluation` produces:

    {"prompts": {"box": {"n": 12, "dice": {"mean": .., "std": ..}, "iou": {...},
                         "per_class": {"benign": {"n": 7, "dice": {...}, "iou": {...}}, ...}},
                 "point": {...}, "three_points": {...}},
     "iou_calibration": {"pearson_r": .., "mean_abs_error": .., "n": ..}}

`plot_training_curves` draws on its own `Figure` with the Agg canvas, so it never touches pyplot's global backend
and works on headless training machines. matplotlib is imported inside it, so importing this module stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml  # a dependency of huggingface_hub, which is pinned

from .viz import BLUE, BLUISH_GREEN, VERMILLION

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PROMPT_LABELS",
    "ModelCardInputs",
    "hub_dataset_id",
    "metrics_table",
    "plot_training_curves",
    "render_model_card",
    "training_curves_figure",
]

# Prompt types in the order they are reported, with how the card names them.
PROMPT_LABELS: dict[str, str] = {
    "box": "box",
    "point": "one interior point",
    "three_points": "three interior points",
}
# The same, as the short form used in the Hub's metric names ("Dice (box prompt)").
_PROMPT_SHORT = {"box": "box", "point": "one-point", "three_points": "three-point"}

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
    test_metrics: dict  # sam_demo.evaluation's structure, fine-tuned model on the test split
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
        row = [_cell(_prompt_label(key)), _count(scores.get("n")), _mean_std(scores, "dice"), _mean_std(scores, "iou")]
        if zero_shot is not None:
            base = zero_shot_prompts.get(key, {})
            row += [_mean_std(base, "dice"), _mean_std(base, "iou")]
        rows.append(row)
    return _table(header, rows)


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
            value = _number(scores.get(metric, {}).get("mean"))
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
from sam_demo.model import load_sam
from sam_demo.predictor import SamPredictor

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
        lines.append(f"Dataset: {_code(card.dataset)} from the Hub dataset {link}.")
    else:
        busi = " (Breast Ultrasound Images, Al-Dhabyani et al. 2020; see the citation below)"
        known = busi if _is_busi(card.dataset) else ""
        lines.append(f"Dataset: {_code(card.dataset)}{known}.")
    if card.dataset_summary:
        lines += ["", f"Pairs of image and mask found: {card.dataset_summary.rstrip('.')}."]
    if card.split_sizes:
        lines += ["", "Images by split (each image in exactly one split):", ""]
        sizes = [[_cell(name), _count(size)] for name, size in card.split_sizes.items()]
        lines.append(_table(["split", "images"], sizes))
    lines += ["", "## Training", ""]
    facts = []
    if card.best_epoch is not None:
        dice = _number(card.validation_dice)
        after = f", where the validation Dice was {dice:.3f}" if dice is not None else ""
        facts.append(f"These weights are those of epoch {card.best_epoch}, the best on the validation split{after}.")
    elif (dice := _number(card.validation_dice)) is not None:
        facts.append(f"Validation Dice: {dice:.3f}.")
    seconds = _number(card.training_seconds)
    if seconds is not None:
        facts.append(f"Training took {_duration(seconds)}.")
    if facts:
        lines += [" ".join(facts), ""]
    if card.hyperparameters:
        values = [[_cell(str(key)), _cell(_value(value))] for key, value in card.hyperparameters.items()]
        lines.append(_table(["hyperparameter", "value"], values))
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
            lines += ["", f"**{_escape(name)}**", "", table]

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
            "(`sam_demo.phantom`): its numbers show that the pipeline works, not that the model segments real tumours."
        )
    r = _number((card.test_metrics.get("iou_calibration") or {}).get("pearson_r"))
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
        rows[0].append(_fmt(calibration.get("pearson_r")))
        rows[1].append(_fmt(calibration.get("mean_abs_error")))
        rows[2].append(_count(calibration.get("n")))
    return _table([""] + [label for label, _ in columns], rows)


def _model_name(card: ModelCardInputs) -> str:
    return card.repo_id.split("/")[-1] if card.repo_id else "sam-breast-ultrasound"


def _dataset_name(dataset: str) -> str:
    return "BUSI (Breast Ultrasound Images)" if dataset.strip().lower() == "busi" else dataset


def _is_busi(dataset: str) -> bool:
    # "BUSI", "Dataset_BUSI_with_GT", "data/busi-sample"; not "business".
    return re.search(r"(?<![a-z])busi(?![a-z])", dataset.lower()) is not None


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _escape(text: str) -> str:
    """Text safe inside a table cell: a bare '|' would end the cell, a newline the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _cell(text: str) -> str:
    return _escape(text) or " "


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _number(value: object) -> float | None:
    """`value` as a finite float, or None (missing, None, NaN: an undefined score)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: object) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.3f}"


def _count(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "n/a"


def _mean_std(scores: Mapping[str, Any], metric: str) -> str:
    summary = scores.get(metric) or {}
    mean, std = _number(summary.get("mean")), _number(summary.get("std"))
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _value(value: object) -> str:
    """A hyperparameter as a reader wants it: 1e-05 rather than 0.000, 'yes' rather than True."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value)
    return str(value)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


# ---------------------------------------------------------------------------------------------------------
# training curves
# ---------------------------------------------------------------------------------------------------------


def training_curves_figure(
    history: Sequence[Mapping[str, Any]], title: str = "Fine-tuning SAM's mask decoder"
) -> Figure:
    """Two panels against epoch: training loss, and validation Dice and IoU, with the best-Dice epoch marked.

    Rows are {"epoch", "train_loss", "val_dice", "val_iou"}; a missing, None or NaN value is left out of its
    curve (validation may run every few epochs only).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not history:
        raise ValueError("history is empty: there is no epoch to plot")
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)  # an Agg canvas of its own: pyplot's backend is never consulted or changed
    loss_ax, val_ax = fig.subplots(1, 2, sharex=True)  # the same epochs side by side, even if validation skips some

    epochs, losses = _series(history, "train_loss")
    loss_ax.plot(epochs, losses, color=BLUE, marker="o", markersize=4, label="training loss")
    loss_ax.set(title="Training loss", xlabel="epoch", ylabel="loss")

    dice_epochs, dice = _series(history, "val_dice")
    iou_epochs, iou = _series(history, "val_iou")
    # Line style and marker differ too, so the curves stay apart without colour.
    if dice:
        val_ax.plot(dice_epochs, dice, color=BLUISH_GREEN, marker="o", markersize=4, label="Dice")
    if iou:
        val_ax.plot(iou_epochs, iou, color=VERMILLION, marker="s", markersize=4, linestyle="--", label="IoU")
    val_ax.set(title="Validation Dice and IoU", xlabel="epoch", ylabel="score", ylim=(0, 1.02))
    if not dice and not iou:
        val_ax.text(0.5, 0.5, "no validation scores", transform=val_ax.transAxes, ha="center", va="center")

    if dice:
        best = max(range(len(dice)), key=lambda i: (dice[i], -i))  # the first of equal bests, as training keeps it
        marker = dict(color="0.45", linestyle=":", linewidth=1.2)
        loss_ax.axvline(dice_epochs[best], label=f"best validation Dice (epoch {dice_epochs[best]})", **marker)
        val_ax.axvline(dice_epochs[best], label="_nolegend_", **marker)  # the star below names it there
        val_ax.plot(
            [dice_epochs[best]],
            [dice[best]],
            linestyle="none",
            marker="*",
            markersize=14,
            color=BLUISH_GREEN,
            markeredgecolor="black",
            label=f"best Dice {dice[best]:.3f} (epoch {dice_epochs[best]})",
        )

    for ax in (loss_ax, val_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", frameon=False)
    fig.suptitle(title)
    return fig


def plot_training_curves(history: list[dict], path: Path) -> None:
    """Write `training_curves_figure(history)` to `path` as a PNG."""
    fig = training_curves_figure(history)
    fig.savefig(Path(path), format="png", dpi=120)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(row["epoch"], _number(row.get(key))) for row in history]
    kept = [(epoch, value) for epoch, value in points if value is not None]
    return [epoch for epoch, _ in kept], [value for _, value in kept]
