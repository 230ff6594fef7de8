"""The Hub model card: front matter, results tables, citations."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import yaml
from huggingface_hub.repocard_data import model_index_to_eval_results

from sam_demo.publishing.model_card import (
    ModelCardInputs,
    hub_dataset_id,
    metrics_table,
    render_model_card,
)

HUB_DATASET = "sayakpaul/sample-datasets/breast-cancer-dataset.tar.gz"


def scores(n: int, dice: float, iou: float, per_class: dict | None = None) -> dict:
    return {
        "n": n,
        "dice": {"mean": dice, "std": 0.1},
        "iou": {"mean": iou, "std": 0.12},
        "per_class": per_class or {},
    }


def metrics(shift: float = 0.0, classes: bool = False, calibration: dict | None = None) -> dict:
    def per_class(dice: float) -> dict | None:
        if not classes:
            return None
        return {
            "benign": {"n": 7, "dice": {"mean": dice + 0.05, "std": 0.08}, "iou": {"mean": dice - 0.05, "std": 0.09}},
            "malignant": {"n": 5, "dice": {"mean": dice - 0.07, "std": 0.11}, "iou": {"mean": dice - 0.17, "std": 0.1}},
        }

    return {
        "prompts": {
            "box": scores(12, 0.81234 + shift, 0.70049 + shift, per_class(0.81 + shift)),
            "point": scores(12, 0.61 + shift, 0.5 + shift, per_class(0.61 + shift)),
            "three_points": scores(12, 0.72 + shift, 0.6 + shift, per_class(0.72 + shift)),
        },
        "iou_calibration": calibration or {"pearson_r": 0.42, "mean_abs_error": 0.08, "n": 36},
    }


def card(**changes) -> ModelCardInputs:
    inputs = ModelCardInputs(
        repo_id="someone/sam-busi",
        base_model="facebook/sam-vit-large",
        dataset=HUB_DATASET,
        dataset_summary="21 pairs, 17 usable; 4 left out: empty mask (normal (1), normal (2))",
        split_sizes={"train": 11, "validation": 3, "test": 3},
        hyperparameters={"epochs": 20, "learning rate": 1e-5, "mixed precision": True, "loss weights": {"dice": 1.0}},
        test_metrics=metrics(),
        zero_shot_metrics=metrics(shift=-0.2),
        best_epoch=7,
        validation_dice=0.8,
        training_seconds=3725.0,
    )
    return dataclasses.replace(inputs, **changes)


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    head, _, _ = text[4:].partition("\n---\n")
    return yaml.safe_load(head)


def body(text: str) -> str:
    return text[4:].partition("\n---\n")[2]


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith(f"| {first_cell} |"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


# ---------------------------------------------------------------------------------------------------------
# front matter
# ---------------------------------------------------------------------------------------------------------


def test_front_matter_is_yaml_with_hub_metadata():
    meta = front_matter(render_model_card(card()))
    assert meta["license"] == "apache-2.0"
    assert meta["base_model"] == "facebook/sam-vit-large"
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "mask-generation"
    tags = {"segment-anything", "sam", "medical-imaging", "ultrasound", "breast-cancer", "tensorflow", "research-only"}
    assert tags <= set(meta["tags"])
    assert meta["datasets"] == ["sayakpaul/sample-datasets"]


def test_model_index_has_one_result_per_prompt_with_the_test_means():
    meta = front_matter(render_model_card(card()))
    (entry,) = meta["model-index"]
    assert entry["name"] == "sam-busi"
    results = entry["results"]
    assert len(results) == 3
    names = [[metric["name"] for metric in result["metrics"]] for result in results]
    assert names == [
        ["Dice (box prompt)", "IoU (box prompt)"],
        ["Dice (one-point prompt)", "IoU (one-point prompt)"],
        ["Dice (three-point prompt)", "IoU (three-point prompt)"],
    ]
    box = results[0]
    assert box["task"] == {"type": "image-segmentation", "name": "Prompted tumour segmentation"}
    assert box["dataset"]["type"] == "sayakpaul/sample-datasets" and box["dataset"]["name"]
    assert [(m["type"], m["value"]) for m in box["metrics"]] == [("dice", 0.8123), ("iou", 0.7005)]
    assert [m["value"] for m in results[2]["metrics"]] == [0.72, 0.6]
    # The Hub's own parser reads it: the schema is right.
    model_name, evals = model_index_to_eval_results(meta["model-index"])
    assert model_name == "sam-busi" and len(evals) == 6
    assert evals[0].metric_value == 0.8123 and evals[0].task_type == "image-segmentation"


@pytest.mark.parametrize("dataset", ["busi_sample", "BUSI", "/data/Dataset_BUSI_with_GT", "./data/x", "phantoms"])
def test_datasets_metadata_only_for_hub_ids(dataset):
    meta = front_matter(render_model_card(card(dataset=dataset)))
    assert "datasets" not in meta
    assert meta["model-index"][0]["results"][0]["dataset"]["type"] == dataset


def test_hub_dataset_ids():
    assert hub_dataset_id(HUB_DATASET) == "sayakpaul/sample-datasets"
    assert hub_dataset_id("owner/name") == "owner/name"
    assert hub_dataset_id("hf://datasets/owner/name/sub/file.zip") == "owner/name"
    assert hub_dataset_id("BUSI") is None
    assert hub_dataset_id("~/data/busi") is None
    assert hub_dataset_id("C:\\data\\busi") is None


def test_hub_dataset_id_is_not_a_local_folder(tmp_path, monkeypatch):
    (tmp_path / "data" / "busi").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert hub_dataset_id("data/busi") is None


def test_odd_dataset_names_keep_the_front_matter_valid():
    name = "weird: #name | with 'quotes' and \"more\""
    meta = front_matter(render_model_card(card(dataset=name)))
    assert meta["model-index"][0]["results"][0]["dataset"]["name"] == name


def test_no_model_index_without_scores():
    empty = {"prompts": {}, "iou_calibration": {}}
    meta = front_matter(render_model_card(card(test_metrics=empty, zero_shot_metrics=None)))
    assert "model-index" not in meta


# ---------------------------------------------------------------------------------------------------------
# body
# ---------------------------------------------------------------------------------------------------------


def test_warning_comes_first():
    first = body(render_model_card(card())).lstrip().splitlines()[0]
    assert "**Research demo, not for clinical use.**" in first
    assert "diagnosis" in first


def test_usage_names_the_repo_or_a_folder():
    text = render_model_card(card())
    assert 'load_sam("someone/sam-busi")' in text and "SamPredictor" in text
    assert "SAM_MODEL_ID=someone/sam-busi python app.py" in text
    local = render_model_card(card(repo_id=None))
    assert 'load_sam("path/to/this/folder")' in local
    assert front_matter(local)["model-index"][0]["name"] == "sam-breast-ultrasound"


def test_training_section():
    text = render_model_card(card())
    assert "21 pairs, 17 usable" in text
    assert table_rows(text, "train") == [["train", "11"]]
    assert table_rows(text, "test") == [["test", "3"]]
    assert table_rows(text, "learning rate") == [["learning rate", "1e-05"]]
    assert table_rows(text, "mixed precision") == [["mixed precision", "yes"]]
    assert "epoch 7" in text and "0.800" in text and "1 h 2 min" in text


def test_results_table_with_zero_shot():
    table = metrics_table(metrics(), metrics(shift=-0.2))
    assert "zero-shot" in table.splitlines()[0]
    assert table_rows(table, "box") == [
        ["box", "12", "0.812 ± 0.100", "0.700 ± 0.120", "0.612 ± 0.100", "0.500 ± 0.120"]
    ]
    assert table_rows(table, "one interior point")[0][2:4] == ["0.610 ± 0.100", "0.500 ± 0.120"]
    assert table_rows(table, "three interior points")[0][2] == "0.720 ± 0.100"
    # Rows in reporting order whatever the dictionary order.
    shuffled = {"prompts": dict(reversed(list(metrics()["prompts"].items())))}
    labels = [line.split(" | ")[0] for line in metrics_table(shuffled, None).splitlines()[2:]]
    assert labels == ["| box", "| one interior point", "| three interior points"]


def test_results_table_without_zero_shot():
    table = metrics_table(metrics(), None)
    assert "zero-shot" not in table
    assert table_rows(table, "box") == [["box", "12", "0.812 ± 0.100", "0.700 ± 0.120"]]
    assert "zero-shot" not in render_model_card(card(zero_shot_metrics=None))


def test_per_class_tables_only_with_classes():
    without = render_model_card(card())
    assert "By class" not in without
    with_classes = render_model_card(card(test_metrics=metrics(classes=True), zero_shot_metrics=metrics(-0.2, True)))
    assert "### By class" in with_classes and "**benign**" in with_classes and "**malignant**" in with_classes
    part = with_classes.split("**malignant**")[1].split("###")[0]
    assert table_rows(part, "box") == [["box", "5", "0.740 ± 0.110", "0.640 ± 0.100", "0.540 ± 0.110", "0.440 ± 0.100"]]


def test_calibration_and_undefined_values():
    text = render_model_card(card(zero_shot_metrics=None))
    assert table_rows(text, "Pearson correlation, predicted vs real IoU") == [
        ["Pearson correlation, predicted vs real IoU", "0.420"]
    ]
    assert "predicted IoU" in text and "app" in text
    undefined = metrics(calibration={"pearson_r": None, "mean_abs_error": math.nan, "n": 0})
    text = render_model_card(card(test_metrics=undefined, zero_shot_metrics=None))
    assert table_rows(text, "Pearson correlation, predicted vs real IoU")[0][1] == "n/a"
    assert table_rows(text, "mean absolute error, predicted − real IoU")[0][1] == "n/a"


def test_missing_scores_render_as_na():
    partial = {"prompts": {"box": {"n": 0, "dice": {"mean": None, "std": None}, "iou": {}}}}
    assert table_rows(metrics_table(partial, None), "box") == [["box", "0", "n/a", "n/a"]]


def test_pipes_in_free_text_are_escaped():
    text = render_model_card(
        card(dataset="a|b", split_sizes={"train|x": 1}, hyperparameters={"loss | weights": "dice|bce"})
    )
    assert "| train\\|x | 1 |" in text
    assert "| loss \\| weights | dice\\|bce |" in text
    # A class name with a pipe cannot break a table either.
    classes = metrics(classes=True)
    classes["prompts"]["box"]["per_class"]["a|b"] = classes["prompts"]["box"]["per_class"].pop("benign")
    assert "**a\\|b**" in render_model_card(card(test_metrics=classes, zero_shot_metrics=None))
    # Every row of every table has as many cells as its header.
    piped = card(dataset="x|y", split_sizes={"a|b": 1}, hyperparameters={"k|": "v|"}, test_metrics=classes)
    tables = [[]]
    for line in render_model_card(piped).splitlines():
        if line.startswith("|"):
            tables[-1].append(len(re.split(r"(?<!\\)\|", line)))
        elif tables[-1]:
            tables.append([])
    assert len(tables) > 5 and all(len(set(widths)) <= 1 for widths in tables)


def test_citations():
    busi = render_model_card(card(dataset="BUSI"))
    assert "Kirillov" in busi and "Segment Anything" in busi
    assert "Al-Dhabyani" in busi and "104863" in busi
    assert "Al-Dhabyani" in render_model_card(card(dataset="/data/Dataset_BUSI_with_GT"))
    other = render_model_card(card())
    assert "Kirillov" in other and "Al-Dhabyani" not in other
    assert "Al-Dhabyani" not in render_model_card(card(dataset="business-images"))


def test_limitations():
    text = render_model_card(card())
    limitations = text.split("## Limitations")[1].split("## Citation")[0]
    assert "Small dataset" in limitations and "Single-centre" in limitations
    assert "ground truth" in limitations and "predicted IoU" in limitations
    assert "phantom" not in limitations.lower()
    assert "phantom" in render_model_card(card(dataset="phantoms")).split("## Limitations")[1].lower()
