"""What a run writes beside its model: metrics.json, results.md, training_curves.png, examples.png, README.md.

The figures draw on their own `Figure` with the Agg canvas, so they never touch pyplot's global backend and work on
headless training machines; matplotlib is imported inside them, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.masks import dice, mask_box
from ..core.predictor import SamPredictor
from ..data.examples import TrainingExample
from ..drawing.viz import BLUE, BLUISH_GREEN, VERMILLION, display_box, display_mask
from ..evaluation.single_prompt import predict_with
from .markdown import finite_number
from .model_card import ModelCardInputs, metrics_table, render_model_card

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
    """metrics.json, results.md, training_curves.png, examples.png and the model card README.md in `folder`.

    `metrics` is what the run measured (its "config" holds the hyperparameters); `test` the embedded test images.
    """
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (folder / "results.md").write_text(metrics_table(metrics["test"], metrics["zero_shot_test"]) + "\n")
    plot_training_curves(metrics["history"], folder / "training_curves.png")
    save_examples_figure(predictor, test, folder / "examples.png")
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
    )
    (folder / "README.md").write_text(render_model_card(card))


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
                (f"box prompt: Dice {dice(mask, example.mask):.2f}, predicted IoU {predicted_iou:.2f}", mask),
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


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(row["epoch"], finite_number(row.get(key))) for row in history]
    kept = [(epoch, value) for epoch, value in points if value is not None]
    return [epoch for epoch, _ in kept], [value for _, value in kept]
