"""The report files a run writes beside its model: the training-curve and Dice-by-click figures, and the files
write_reports puts in the folder."""

import json
import math
from pathlib import Path

import matplotlib
import pytest
from huggingface_hub import ModelCard
from PIL import Image

from sam_demo.publishing import reports
from sam_demo.publishing.reports import (
    dice_by_click_figure,
    plot_training_curves,
    save_dice_by_click_figure,
    training_curves_figure,
)

HISTORY = [
    {"epoch": 1, "train_loss": 0.9, "val_dice": 0.41, "val_iou": 0.3},
    {"epoch": 2, "train_loss": 0.7, "val_dice": None, "val_iou": None},
    {"epoch": 3, "train_loss": 0.55},
    {"epoch": 4, "train_loss": 0.5, "val_dice": 0.62, "val_iou": 0.49},
    {"epoch": 5, "train_loss": 0.48, "val_dice": 0.6, "val_iou": math.nan},
]


def test_plot_training_curves_writes_a_png(tmp_path: Path):
    backend = matplotlib.get_backend()
    path = tmp_path / "curves.png"
    plot_training_curves(HISTORY, path)
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 600
    assert matplotlib.get_backend() == backend


def test_training_curves_figure():
    fig = training_curves_figure(HISTORY)
    loss_ax, val_ax = fig.axes
    assert len(fig.axes) == 2
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() and val_ax.get_ylabel()
    assert fig.get_suptitle()
    lines = {line.get_label(): line for line in val_ax.get_lines()}
    dice, iou = lines["Dice"], lines["IoU"]
    (best,) = [line for label, line in lines.items() if label.startswith("best")]
    assert list(dice.get_xdata()) == [1, 4, 5] and list(iou.get_xdata()) == [1, 4]
    assert list(best.get_xdata()) == [4] and "epoch 4" in best.get_label()
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4, 5]


def test_training_curves_without_validation(tmp_path: Path):
    path = tmp_path / "curves.png"
    plot_training_curves([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.8}], path)
    with Image.open(path) as image:
        assert image.format == "PNG"
    with pytest.raises(ValueError, match="empty"):
        training_curves_figure([])


# ---------------------------------------------------------------------------------------------------------
# Dice by click
# ---------------------------------------------------------------------------------------------------------

PROTOCOLS = {
    "point": ("one interior click, then corrective clicks", "point", False),
    "point_mask": ("one interior click, then corrective clicks with the previous mask as prompt", "point", True),
    "box": ("tight box, then corrective clicks", "box", False),
    "box_mask": ("tight box, then corrective clicks with the previous mask as prompt", "box", True),
}


def results(first_dice: float, interactive: bool = True) -> dict:
    """A results dictionary as sam_demo.evaluation produces it; without "interactive", as older runs wrote it."""
    scores = {"n": 8, "dice": {"mean": first_dice, "std": 0.1}, "iou": {"mean": first_dice - 0.1, "std": 0.1}}
    out = {
        "prompts": {"box": dict(scores), "point": dict(scores), "three_points": dict(scores)},
        "iou_calibration": {"pearson_r": 0.4, "mean_abs_error": 0.1, "n": 24},
    }
    if interactive:
        out["interactive"] = {}
        for i, (key, (label, start, feedback)) in enumerate(PROTOCOLS.items()):
            dice = [first_dice + 0.02 * i + 0.03 * k for k in range(11)]
            dice[4] = math.nan  # an undefined mean leaves a gap, not a crash
            out["interactive"][key] = {
                "label": label,
                "start": start,
                "mask_feedback": feedback,
                "max_clicks": 10,
                "n": 8,
                "dice_by_click": dice,
                "dice_ci95_by_click": [[d - 0.1, d + 0.05] for d in dice],
                "iou_by_click": [d - 0.1 for d in dice],
                "iou_ci95_by_click": [[d - 0.2, d - 0.05] for d in dice],
                "noc85": 4.2,
                "noc90": 6.1,
                "never85": 1,
                "never90": 3,
            }
    return out


def test_dice_by_click_figure_draws_both_models_per_protocol():
    fig = dice_by_click_figure(results(0.6), results(0.4))
    click_ax, box_ax = fig.axes
    assert (
        click_ax.get_title() == "starting from one interior click" and box_ax.get_title() == "starting from a tight box"
    )
    assert click_ax.get_xlabel() == "interaction (1 = first prompt)" and click_ax.get_ylabel() == "Dice"
    assert click_ax.get_ylim() == (0, 1) and list(click_ax.get_xticks()) == list(range(1, 12))
    lines = {line.get_label(): line for line in click_ax.get_lines()}
    assert set(lines) == {
        "point, fine-tuned",
        "point, base, zero-shot",
        "point_mask, fine-tuned",
        "point_mask, base, zero-shot",
    }
    assert {line.get_label() for line in box_ax.get_lines()} == {
        "box, fine-tuned",
        "box, base, zero-shot",
        "box_mask, fine-tuned",
        "box_mask, base, zero-shot",
    }
    solid, dashed = lines["point, fine-tuned"], lines["point, base, zero-shot"]
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
    assert solid.get_color() == dashed.get_color() != lines["point_mask, fine-tuned"].get_color()
    assert list(solid.get_xdata()) == list(range(1, 12))
    assert solid.get_ydata()[0] == pytest.approx(0.6) and dashed.get_ydata()[-1] == pytest.approx(0.7)
    assert math.isnan(solid.get_ydata()[4])
    assert len(click_ax.collections) == 4 and len(box_ax.collections) == 4  # a 95 % band per line
    # The legends name each protocol by its label, and each model by its line style.
    legend_texts = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert "tight box, then corrective clicks with the previous mask as prompt" in legend_texts
    assert {"fine-tuned", "base, zero-shot", "95 % interval"} <= set(legend_texts)
    assert "not for clinical use" in fig.get_suptitle()


def test_dice_by_click_figure_without_zero_shot_clicks():
    for zero_shot in (None, results(0.4, interactive=False)):
        fig = dice_by_click_figure(results(0.6), zero_shot)
        labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
        assert labels == ["point, fine-tuned", "point_mask, fine-tuned", "box, fine-tuned", "box_mask, fine-tuned"]
        assert all(line.get_linestyle() == "-" for ax in fig.axes for line in ax.get_lines())


def test_save_dice_by_click_figure(tmp_path: Path):
    backend = matplotlib.get_backend()
    path = tmp_path / "dice_by_click.png"
    assert save_dice_by_click_figure(results(0.6), results(0.4), path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 800
    assert matplotlib.get_backend() == backend
    old = tmp_path / "old.png"
    assert not save_dice_by_click_figure(results(0.6, interactive=False), results(0.4, interactive=False), old)
    assert not save_dice_by_click_figure(results(0.6, interactive=False), None, old)
    assert not old.exists()


# ---------------------------------------------------------------------------------------------------------
# write_reports
# ---------------------------------------------------------------------------------------------------------


def run_metrics(interactive: bool) -> dict:
    return {
        "test": results(0.6, interactive),
        "zero_shot_test": results(0.4, interactive),
        "best_epoch": 2,
        "best_validation_dice": 0.62,
        "training_seconds": 90.0,
        "split_sizes": {"train": 20, "validation": 4, "test": 8},
        "dataset": "32 pairs, 32 usable",
        "config": {"model": "facebook/sam-vit-base", "dataset": "BUSI", "epochs": 2, "learning_rate": 1e-5},
        "history": HISTORY,
    }


@pytest.fixture
def no_examples_figure(monkeypatch):
    # The examples figure needs a model; the rest of the folder does not.
    monkeypatch.setattr(reports, "save_examples_figure", lambda predictor, test, path: path.write_bytes(b"png"))


@pytest.mark.usefixtures("no_examples_figure")
def test_write_reports_draws_dice_by_click_and_names_it_in_the_card(tmp_path: Path):
    reports.write_reports(
        tmp_path, run_metrics(True), None, [], base_model="facebook/sam-vit-base", dataset="BUSI", repo_id=None
    )
    with Image.open(tmp_path / "dice_by_click.png") as image:
        assert image.format == "PNG"
    card = ModelCard.load(tmp_path / "README.md")
    assert "](dice_by_click.png)" in card.text and "### Corrective clicks" in card.text
    assert "not for clinical use" in card.text.lower()
    assert "| protocol | model |" in (tmp_path / "results.md").read_text()


@pytest.mark.usefixtures("no_examples_figure")
def test_write_reports_of_an_old_style_run_has_no_dice_by_click(tmp_path: Path):
    reports.write_reports(
        tmp_path, run_metrics(False), None, [], base_model="facebook/sam-vit-base", dataset="BUSI", repo_id=None
    )
    assert not (tmp_path / "dice_by_click.png").exists()
    assert {path.name for path in tmp_path.iterdir()} == {
        "metrics.json",
        "results.md",
        "training_curves.png",
        "examples.png",
        "README.md",
    }
    card = (tmp_path / "README.md").read_text()
    assert "dice_by_click" not in card and "Corrective clicks" not in card
    assert ModelCard(card).data.eval_results


@pytest.mark.usefixtures("no_examples_figure")
def test_published_reports_name_local_folders_without_their_paths(tmp_path: Path):
    """metrics.json and the card go to the Hub: a local model, dataset or output folder appears by its name only."""
    machine = tmp_path / "home" / "alice"
    local = {
        "model": str(machine / "models" / "sam-tiny"),
        "dataset": str(machine / "data" / "Dataset_BUSI_with_GT"),
        "output_dir": str(machine / "outputs" / "run1"),
    }
    metrics = run_metrics(True)
    metrics["config"] = {**metrics["config"], **local}
    folder = tmp_path / "run1"
    folder.mkdir()
    reports.write_reports(
        folder, metrics, None, [], base_model=local["model"], dataset=local["dataset"], repo_id="alice/sam-busi"
    )
    for path in folder.iterdir():
        assert str(machine).encode() not in path.read_bytes(), path.name
    saved = json.loads((folder / "metrics.json").read_text())["config"]
    assert (saved["model"], saved["dataset"], saved["output_dir"]) == ("sam-tiny", "Dataset_BUSI_with_GT", "run1")
    assert saved["learning_rate"] == 1e-5  # the hyperparameters as they were
    assert metrics["config"]["model"] == local["model"]  # the caller's dictionary is left alone


@pytest.mark.usefixtures("no_examples_figure")
def test_published_reports_keep_hub_ids(tmp_path: Path):
    metrics = run_metrics(False)
    metrics["config"] = {**metrics["config"], "dataset": None, "hub_model_id": "alice/sam-busi"}
    reports.write_reports(
        tmp_path, metrics, None, [], base_model="facebook/sam-vit-base", dataset="BUSI", repo_id="alice/sam-busi"
    )
    saved = json.loads((tmp_path / "metrics.json").read_text())["config"]
    assert saved["model"] == "facebook/sam-vit-base" and saved["dataset"] is None
    assert saved["hub_model_id"] == "alice/sam-busi"


def test_the_examples_figure_shows_the_predicted_iou_within_0_and_1():
    from sam_demo.publishing.reports import box_caption

    # The model's own estimate can stray outside [0, 1] (a random model gave -0.37 on a BUSI image).
    assert box_caption(0.47, -0.37) == "box prompt: Dice 0.47, predicted IoU 0.00"
    assert box_caption(0.9, 1.15) == "box prompt: Dice 0.90, predicted IoU 1.00"
