"""What a run writes beside its model: metrics.json, results.md, training_curves.png, examples.png,
dice_by_click.png (when the run was evaluated interactively), README.md.

The figures draw on their own `Figure` with the Agg canvas, so they never touch pyplot's global backend and work on
headless training machines; matplotlib is imported inside them, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.masks import dice, mask_box, readable_iou
from ..core.predictor import SamPredictor
from ..data.examples import TrainingExample
from ..drawing.viz import BLUE, BLUISH_GREEN, ORANGE, REDDISH_PURPLE, SKY_BLUE, VERMILLION, display_box, display_mask
from ..evaluation.single_prompt import predict_with
from .markdown import finite_number
from .model_card import FINE_TUNED, ZERO_SHOT, ModelCardInputs, metrics_table, published_name, render_model_card

DICE_BY_CLICK_FIGURE = "dice_by_click.png"
# The settings in metrics.json that hold a model, dataset or folder given on the command line: a path there would
# go public with the folder, so each is written by its name only (`published_name`).
_LOCATED_SETTINGS = ("model", "dataset", "output_dir")

# Protocol colours in the evaluation's order (point, point_mask, box, box_mask): a dark and a light shade of one hue
# per first prompt, so the pairs with and without mask feedback read together; then spares for new protocols.
_PROTOCOL_COLOURS = (BLUE, SKY_BLUE, VERMILLION, ORANGE, BLUISH_GREEN, REDDISH_PURPLE)
# The line style tells the models apart, so each protocol keeps its colour in both.
_MODEL_STYLES = ((FINE_TUNED, "-"), (ZERO_SHOT, "--"))
_START_TITLES = {"point": "starting from one interior click", "box": "starting from a tight box"}

if TYPE_CHECKING:
    from matplotlib.figure import Figure  # noqa: F811 (imported for real inside the functions that draw)


def write_reports(
    folder: Path,
    metrics: dict,
    predictor: SamPredictor,
    test: list[TrainingExample],
    *,
    base_model: str,
    dataset: str,
    repo_id: str | None,
) -> None:
    """metrics.json, results.md, training_curves.png, examples.png, dice_by_click.png (when the metrics hold
    interactive results) and the model card README.md in `folder`.

    `metrics` is what the run measured (its "config" holds the hyperparameters); `test` the embedded test images.
    Every file is written to be published: local paths appear by their last part only.
    """
    (folder / "metrics.json").write_text(
        json.dumps({**metrics, "config": published_settings(metrics["config"])}, indent=2)
    )
    (folder / "results.md").write_text(metrics_table(metrics["test"], metrics["zero_shot_test"]) + "\n")
    plot_training_curves(metrics["history"], folder / "training_curves.png")
    save_examples_figure(predictor, test, folder / "examples.png")
    drew_dice_by_click = save_dice_by_click_figure(
        metrics["test"], metrics["zero_shot_test"], folder / DICE_BY_CLICK_FIGURE
    )
    hyperparameters = {
        key: value
        for key, value in metrics["config"].items()
        if key not in ("model", "dataset", "output_dir", "hub_model_id")
    }
    card = ModelCardInputs(
        repo_id=repo_id,
        base_model=base_model,
        dataset=dataset,
        dataset_summary=metrics["dataset"],
        split_sizes=metrics["split_sizes"],
        hyperparameters=hyperparameters,
        test_metrics=metrics["test"],
        zero_shot_metrics=metrics["zero_shot_test"],
        best_epoch=metrics["best_epoch"],
        validation_dice=metrics["best_validation_dice"],
        training_seconds=metrics["training_seconds"],
        dice_by_click_figure=DICE_BY_CLICK_FIGURE if drew_dice_by_click else None,
    )
    (folder / "README.md").write_text(render_model_card(card))


def published_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A run's settings as metrics.json publishes them: the model, dataset and output folder named, not located."""
    return {
        key: published_name(str(value)) if key in _LOCATED_SETTINGS and value is not None else value
        for key, value in settings.items()
    }


def box_caption(dice_score: float, predicted_iou: float) -> str:
    """The caption of a box prompt's mask in the examples figure (the predicted IoU as people read it)."""
    return f"box prompt: Dice {dice_score:.2f}, predicted IoU {readable_iou(predicted_iou):.2f}"


def save_examples_figure(predictor: SamPredictor, examples: list[TrainingExample], path: Path, count: int = 4) -> None:
    """Held-out images: ground truth beside the fine-tuned model's mask for a tight box prompt."""
    from matplotlib.figure import Figure

    shown = examples[:count]
    figure = Figure(figsize=(6, 3 * len(shown)), layout="constrained")
    for row, example in enumerate(shown):
        mask, predicted_iou = predict_with(predictor, example, "box")
        for column, (title, overlay_mask) in enumerate(
            [
                (f"{example.name}: ground truth", example.mask),
                (box_caption(dice(mask, example.mask), predicted_iou), mask),
            ]
        ):
            axes = figure.add_subplot(len(shown), 2, 2 * row + column + 1)
            axes.imshow(example.image.image)
            display_mask(overlay_mask, axes)
            if column == 1:
                display_box(mask_box(example.mask), axes)
            axes.set_title(title, fontsize=8)
            axes.axis("off")
    figure.suptitle("Held-out test images (research demo, not for clinical use)", fontsize=9)
    figure.savefig(path, dpi=100)


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


def dice_by_click_figure(test: Mapping[str, Any], zero_shot: Mapping[str, Any] | None) -> Figure | None:
    """Mean Dice after each interaction (1 = the first prompt), one colour per interactive protocol: the fine-tuned
    model solid, the zero-shot base model dashed, each with its 95 % interval shaded. A panel per first prompt (a
    click, a box), since eight overlapping intervals on one axes hide each other. None when neither results
    dictionary has "interactive" (runs from before it was measured)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    models = [
        (label, style, results["interactive"])
        for (label, style), results in zip(_MODEL_STYLES, (test, zero_shot))
        if results is not None and results.get("interactive")
    ]
    if not models:
        return None
    # Each protocol: its label, colour, marker (diamonds with the previous mask as prompt, circles without, so the
    # two lines of a panel stay apart without colour) and panel (its first prompt).
    protocols: dict[str, tuple[str, str, str, str]] = {}
    for _, _, runs in models:
        for key, run in runs.items():
            colour = _PROTOCOL_COLOURS[len(protocols) % len(_PROTOCOL_COLOURS)]
            start = str(run.get("start") or key)
            marker = "D" if run.get("mask_feedback") else "o"
            protocols.setdefault(key, (run.get("label") or key.replace("_", " "), colour, marker, start))
    starts = list(dict.fromkeys(start for *_, start in protocols.values()))

    fig = Figure(figsize=(5 * len(starts) + 1, 6), layout="constrained")
    FigureCanvasAgg(fig)  # an Agg canvas of its own: pyplot's backend is never consulted or changed
    panels = dict(zip(starts, fig.subplots(1, len(starts), sharey=True, squeeze=False)[0]))
    longest = 1
    for key, (_, colour, marker, start) in protocols.items():
        for label, style, runs in models:
            dice = [_plotted(value) for value in (runs.get(key) or {}).get("dice_by_click") or []]
            if not dice:
                continue
            clicks = list(range(1, len(dice) + 1))
            longest = max(longest, len(dice))
            ax = panels[start]
            ax.plot(clicks, dice, color=colour, linestyle=style, marker=marker, markersize=4, label=f"{key}, {label}")
            interval = runs[key].get("dice_ci95_by_click") or []
            if len(interval) == len(dice):
                low, high = ([_plotted((bounds or (None, None))[i]) for bounds in interval] for i in (0, 1))
                ax.fill_between(clicks, low, high, color=colour, alpha=0.15, linewidth=0)
    for start, ax in panels.items():
        ax.set(title=_START_TITLES.get(start, f"first prompt: {start}"), xlabel="interaction (1 = first prompt)")
        ax.set(ylim=(0, 1), xlim=(0.7, longest + 0.3), xticks=range(1, longest + 1))
        ax.grid(alpha=0.3)
    panels[starts[0]].set_ylabel("Dice")
    fig.suptitle("Dice after each interaction, test images (research demo, not for clinical use)")
    # Two legends below the panels, colour = protocol and line style = model, rather than one entry per pair.
    by_protocol = [
        Line2D([], [], color=colour, marker=marker, label=protocol)
        for protocol, colour, marker, _ in protocols.values()
    ]
    by_model = [Line2D([], [], color="0.3", linestyle=style, label=label) for label, style, _ in models]
    by_model.append(Patch(color="0.3", alpha=0.2, linewidth=0, label="95 % interval"))
    fig.legend(handles=by_protocol, title="protocol", loc="outside lower left", frameon=False)
    fig.legend(handles=by_model, title="model", loc="outside lower right", frameon=False)
    return fig


def save_dice_by_click_figure(test: Mapping[str, Any], zero_shot: Mapping[str, Any] | None, path: Path) -> bool:
    """Write `dice_by_click_figure(test, zero_shot)` to `path` as a PNG; False, and no file, when there is nothing
    to draw."""
    fig = dice_by_click_figure(test, zero_shot)
    if fig is None:
        return False
    fig.savefig(Path(path), format="png", dpi=120)
    return True


def _plotted(value: object) -> float:
    """A score as matplotlib takes it: NaN (a gap in the line) for a missing or undefined one."""
    number = finite_number(value)
    return math.nan if number is None else number


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(row["epoch"], finite_number(row.get(key))) for row in history]
    kept = [(epoch, value) for epoch, value in points if value is not None]
    return [epoch for epoch, _ in kept], [value for _, value in kept]
