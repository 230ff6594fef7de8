"""The report files a run writes beside its model: the training-curve figure."""

import math
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from sam_demo.publishing.reports import plot_training_curves, training_curves_figure

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
