"""The predictor on real BUSI images and masks (skipped unless BUSI_SAMPLE_DIR is set)."""

import csv

import numpy as np

from sam_demo.core.masks import mask_box
from sam_demo.data.layouts import find_examples
from sam_demo.data.loading import load_examples


def test_predictor_on_real_images(busi_dir, predictor):
    # Pairing, mask merging and skipping of broken masks belong to sam_demo.data; this test runs the predictor.
    report = load_examples(find_examples(busi_dir))
    assert len(report.examples) + len(report.left_out) >= 10
    assert all(name.startswith("normal/") for name in report.left_out)  # no lesion, nothing to prompt
    prompted = 0
    for item in report.examples:
        height, width = item.image.shape[:2]
        predictor.set_image(item.image)
        rows, cols = np.nonzero(item.mask)
        centre = (float(cols[len(cols) // 2]), float(rows[len(rows) // 2]))
        for prediction in (
            predictor.predict(box=mask_box(item.mask), multimask_output=False),
            predictor.predict(points=[centre], labels=[1]),
        ):
            assert prediction.masks.shape[1:] == (height, width)
            assert np.isfinite(prediction.iou_scores).all()
        prompted += 1
    assert prompted >= 10
    if (busi_dir / "benign" / "benign (4)_mask_1.png").exists():
        assert any("benign (4)_mask_1.png" in skipped for skipped in report.skipped_masks)  # 555x465 on 416x416


def test_training_and_evaluation_on_real_images(busi_dir, tiny_checkpoint, tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import train

    output = tmp_path / "busi-run"
    common = ["--model", str(tiny_checkpoint), "--dataset", str(busi_dir), "--output-dir", str(output)]
    training = ["--epochs", "1", "--batch-size", "2", "--learning-rate", "1e-3", "--interactive-rounds", "3"]
    metrics = train.main([*common, *training, "--max-clicks", "2"])
    report = load_examples(find_examples(busi_dir))
    assert sum(metrics["split_sizes"].values()) == len(report.examples)  # "normal" images left out
    per_class = metrics["test"]["prompts"]["box"]["per_class"]
    assert set(per_class) <= {"benign", "malignant"} and per_class
    assert "left out" in metrics["dataset"] or not report.left_out
    assert metrics["config"]["interactive_rounds"] == 3
    evaluation = tmp_path / "evaluation"
    results = train.main(
        ["--evaluate-only", *common[:4], "--output-dir", str(evaluation), "--base-model", str(tiny_checkpoint)]
        + ["--max-clicks", "3"]
    )
    assert results["test_size"] == metrics["split_sizes"]["test"]  # the run's own split, reused
    saved = json.loads((evaluation / "evaluation.json").read_text())
    assert saved["zero_shot_test"] is None
    interactive = saved["test"]["interactive"]
    assert set(interactive) == {"point", "point_mask", "box", "box_mask"}
    for entry in interactive.values():
        assert len(entry["dice_by_click"]) == 4 and entry["n"] == results["test_size"]
        assert 1 <= entry["noc85"] <= 5 and 1 <= entry["noc90"] <= 5
    with (evaluation / "per_image.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {"image", "class", "protocol", "click", "dice", "iou", "hd95", "nsd", "predicted_iou"} <= set(rows[0])
    assert len(rows) == results["test_size"] * (3 + 4 * 4)  # three single prompts, four protocols of 4 interactions
    assert {row["class"] for row in rows} <= {"benign", "malignant"}
    assert all(float(row["hd95"]) >= 0 and 0 <= float(row["nsd"]) <= 1 for row in rows)
    assert (evaluation / "dice_by_click.png").stat().st_size > 0
