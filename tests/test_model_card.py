"""The Hub model card: front matter, results tables (single prompts and corrective clicks), citations."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

from sam_demo.publishing.model_card import (
    ModelCardInputs,
    hub_dataset_id,
    hub_model_id,
    interactive_table,
    metrics_table,
    published_name,
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


PROTOCOLS = {
    "point": ("one interior click, then corrective clicks", "point", False),
    "point_mask": ("one interior click, then corrective clicks with the previous mask as prompt", "point", True),
    "box": ("tight box, then corrective clicks", "box", False),
    "box_mask": ("tight box, then corrective clicks with the previous mask as prompt", "box", True),
}


def click_run(key: str, first_dice: float, noc85: float, max_clicks: int = 10) -> dict:
    """One protocol's results: Dice rises by 0.03 per interaction from `first_dice`; 1 + max_clicks interactions."""
    label, start, feedback = PROTOCOLS[key]
    dice = [round(first_dice + 0.03 * k, 4) for k in range(max_clicks + 1)]
    return {
        "label": label,
        "start": start,
        "mask_feedback": feedback,
        "max_clicks": max_clicks,
        "n": 8,
        "dice_by_click": dice,
        "dice_ci95_by_click": [[d - 0.1, d + 0.05] for d in dice],
        "iou_by_click": [d - 0.1 for d in dice],
        "iou_ci95_by_click": [[d - 0.2, d - 0.05] for d in dice],
        "noc85": noc85,
        "noc90": noc85 + 1.9,
        "never85": 1,
        "never90": 3,
    }


def new_metrics(shift: float = 0.0) -> dict:
    """`metrics(shift)` with what the interactive evaluation adds: HD95 and NSD, the app's pick, corrective clicks."""
    result = metrics(shift)
    for offset, scores in enumerate(result["prompts"].values()):
        scores["hd95"] = {"mean": 12.34 + offset - 10 * shift, "std": 6.4}
        scores["nsd"] = {"mean": 0.71234 + shift, "std": 0.11}
    result["prompts"]["point"]["best_candidate_picked"] = 0.56 + shift
    result["interactive"] = {
        key: click_run(key, 0.6 + 0.02 * i + shift, 4.2 - 0.5 * i - 10 * shift) for i, key in enumerate(PROTOCOLS)
    }
    return result


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


def test_model_index_has_the_test_means_of_each_prompt():
    hub_card = ModelCard(render_model_card(card()))
    assert hub_card.data.model_name == "sam-busi"
    evals = hub_card.data.eval_results
    assert [(e.metric_name, e.metric_type, e.metric_value) for e in evals] == [
        ("Dice (box prompt)", "dice", 0.8123),
        ("IoU (box prompt)", "iou", 0.7005),
        ("Dice (one-point prompt)", "dice", 0.61),
        ("IoU (one-point prompt)", "iou", 0.5),
        ("Dice (three-point prompt)", "dice", 0.72),
        ("IoU (three-point prompt)", "iou", 0.6),
    ]
    for result in evals:
        assert (result.task_type, result.task_name) == ("image-segmentation", "Prompted tumour segmentation")
        assert result.dataset_type == "sayakpaul/sample-datasets" and result.dataset_name == HUB_DATASET
        assert result.dataset_split == "test"
    # One task on one dataset: huggingface_hub writes it as one result holding every prompt's metrics.
    (entry,) = front_matter(render_model_card(card()))["model-index"]
    assert entry["name"] == "sam-busi" and len(entry["results"]) == 1


def test_card_file_loads_with_huggingface_hub_and_has_hd95_and_nsd(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(render_model_card(card(test_metrics=new_metrics(), zero_shot_metrics=new_metrics(-0.2))))
    hub_card = ModelCard.load(path)
    assert hub_card.data.license == "apache-2.0" and hub_card.data.base_model == "facebook/sam-vit-large"
    assert hub_card.data.datasets == ["sayakpaul/sample-datasets"]
    assert "research-only" in hub_card.data.tags
    assert hub_card.text.lstrip().startswith("> **Research demo, not for clinical use.**")
    values = {e.metric_name: e.metric_value for e in hub_card.data.eval_results}
    assert len(values) == 12  # four metrics for each of the three prompts, of the fine-tuned model only
    assert values["Dice (box prompt)"] == 0.8123
    assert values["HD95, px (box prompt)"] == 12.34 and values["HD95, px (three-point prompt)"] == 14.34
    assert values["NSD at 2 px (one-point prompt)"] == 0.7123
    nsd = [e for e in hub_card.data.eval_results if e.metric_type == "nsd"]
    assert len(nsd) == 3 and all(e.metric_args == {"tolerance_px": 2} for e in nsd)
    # huggingface_hub writes back what it read: the card is stable under the Hub's own tools.
    assert str(hub_card) == path.read_text()


def test_model_index_leaves_out_undefined_scores():
    partial = metrics()
    partial["prompts"]["box"]["iou"] = {"mean": math.nan, "std": None}
    partial["prompts"]["point"]["hd95"] = {"mean": None, "std": None}
    names = [e.metric_name for e in ModelCard(render_model_card(card(test_metrics=partial))).data.eval_results]
    assert "IoU (box prompt)" not in names and "Dice (box prompt)" in names
    assert not any(name.startswith("HD95") for name in names)


@pytest.mark.parametrize(
    "dataset, named",
    [
        ("busi_sample", "busi_sample"),
        ("BUSI", "BUSI"),
        ("/data/Dataset_BUSI_with_GT", "Dataset_BUSI_with_GT"),
        ("./data/x", "x"),
        ("phantoms", "phantoms"),
    ],
)
def test_datasets_metadata_only_for_hub_ids(dataset, named):
    text = render_model_card(card(dataset=dataset))
    assert "datasets" not in front_matter(text)
    assert {e.dataset_type for e in ModelCard(text).data.eval_results} == {named}


def test_a_local_base_model_and_dataset_are_named_not_located(tmp_path, monkeypatch):
    """A folder is named by its name only: the rest of its path says where it sat on the machine that trained
    (a user name, a folder layout), and the card goes public."""
    base, data = tmp_path / "models" / "sam-tiny", tmp_path / "data" / "Dataset_BUSI_with_GT"
    base.mkdir(parents=True)
    data.mkdir(parents=True)
    for base_model, dataset in [
        (str(base), str(data)),
        ("/home/alice/models/sam-tiny/", "~/data/Dataset_BUSI_with_GT"),  # not on this machine: still paths
        ("C:\\Users\\alice\\sam-tiny", "D:\\scans\\Dataset_BUSI_with_GT"),
    ]:
        text = render_model_card(card(base_model=base_model, dataset=dataset))
        for private in (str(tmp_path), "/home/alice", "~/", "Users", "D:"):
            assert private not in text, (base_model, private)
        assert "`sam-tiny`" in body(text) and "Dataset_BUSI_with_GT" in body(text)
        meta = front_matter(text)
        assert "base_model" not in meta  # a folder on one machine is no model on the Hub
        assert "huggingface.co/sam-tiny" not in text
        assert {e.dataset_name for e in ModelCard(text).data.eval_results} == {"Dataset_BUSI_with_GT"}
        assert "(Breast Ultrasound Images, Al-Dhabyani" in body(text)  # still recognised by its name
    # A relative folder that exists here is a folder, not a Hub id, even when it looks like one.
    monkeypatch.chdir(tmp_path)
    text = render_model_card(card(base_model="models/sam-tiny", dataset="data/Dataset_BUSI_with_GT"))
    assert "base_model" not in front_matter(text) and "models/sam-tiny" not in text


def test_hub_ids_are_published_as_they_are(tmp_path):
    assert (
        published_name("facebook/sam-vit-large") == hub_model_id("facebook/sam-vit-large") == "facebook/sam-vit-large"
    )
    assert published_name(HUB_DATASET) == HUB_DATASET
    assert published_name("hf://datasets/owner/name/file.zip") == "hf://datasets/owner/name/file.zip"
    assert published_name(str(tmp_path / "run1")) == "run1" and hub_model_id(str(tmp_path)) is None
    assert published_name(".") == Path.cwd().name
    assert hub_model_id("/abs/sam") is None and hub_model_id("a/b/c") is None


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
    text = render_model_card(card(dataset=name))
    assert front_matter(text)["model-index"][0]["results"][0]["dataset"]["name"] == name
    assert ModelCard(text).data.eval_results[0].dataset_name == name


def test_no_model_index_without_scores():
    empty = {"prompts": {}, "iou_calibration": {}}
    text = render_model_card(card(test_metrics=empty, zero_shot_metrics=None))
    assert "model-index" not in front_matter(text)
    assert ModelCard(text).data.eval_results is None


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


# ---------------------------------------------------------------------------------------------------------
# boundary scores, the app's pick, corrective clicks (metrics of newer runs)
# ---------------------------------------------------------------------------------------------------------


def test_scores_table_gains_hd95_and_nsd_columns():
    table = metrics_table(new_metrics(), new_metrics(-0.2)).split("\n\n")[0]
    header = table.splitlines()[0]
    assert "HD95, px (fine-tuned)" in header and "NSD (base, zero-shot)" in header
    assert table_rows(table, "box") == [
        ["box", "12", "0.812 ± 0.100", "0.700 ± 0.120", "12.3 ± 6.4", "0.712 ± 0.110"]
        + ["0.612 ± 0.100", "0.500 ± 0.120", "14.3 ± 6.4", "0.512 ± 0.110"]
    ]
    alone = metrics_table(new_metrics(), None).split("\n\n")[0]
    assert alone.splitlines()[0] == "| prompt | n | Dice | IoU | HD95, px | NSD |"


def test_conventions_are_stated_beside_the_numbers():
    text = metrics_table(new_metrics(), None)
    assert "pixels of the original image" in text and "2-pixel tolerance" in text
    assert "interaction 1 is the first prompt" in text and "the first prompt counting as 1" in text
    assert "counts as 12, one more than the 11 interactions allowed" in text and "never" in text


def test_old_metrics_render_as_before():
    # metrics.json of a run from before HD95, NSD, the app's pick and corrective clicks were measured.
    table = metrics_table(metrics(), metrics(-0.2))
    assert all(line.startswith("|") for line in table.splitlines())
    assert "HD95" not in table and "NoC" not in table
    assert interactive_table(metrics(), metrics(-0.2)) == ""
    text = render_model_card(card())
    assert "HD95" not in text and "NSD" not in text and "Corrective clicks" not in text and "best of" not in text
    # A new fine-tuned run beside an old zero-shot one: the old model's missing scores are n/a, its rows absent.
    mixed = metrics_table(new_metrics(), metrics(-0.2))
    assert table_rows(mixed, "box")[0][6:] == ["0.612 ± 0.100", "0.500 ± 0.120", "n/a", "n/a"]
    assert "| model |" not in mixed and "base, zero-shot" not in interactive_table(new_metrics(), metrics(-0.2))


def test_how_often_the_apps_pick_was_the_best_candidate():
    both = metrics_table(new_metrics(), new_metrics(-0.2))
    assert (
        "With the prompt “one interior point”, SAM proposes three candidate masks and the app shows the one with "
        "the highest predicted IoU; that one was truly the best of the three for 56 % of the images with the "
        "fine-tuned model and 36 % with the base model (zero-shot)."
    ) in both
    assert "for 56 % of the images." in metrics_table(new_metrics(), None)
    assert "56 % of the images with the fine-tuned model." in metrics_table(new_metrics(), metrics(-0.2))
    assert "56 %" in render_model_card(card(test_metrics=new_metrics(), zero_shot_metrics=new_metrics(-0.2)))


def test_interactive_table_fine_tuned_beside_zero_shot():
    table = interactive_table(new_metrics(), new_metrics(-0.2))
    assert table.splitlines()[0] == (
        "| protocol | model | n | Dice after 1 | Dice after 3 | Dice after 5 | Dice after 11 | NoC@85 | NoC@90 "
        "| never ≥ 0.85 | never ≥ 0.90 |"
    )
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table.splitlines()[2:]]
    assert [row[0] for row in rows] == [
        "one interior click, then corrective clicks",
        "",
        "one interior click, then corrective clicks with the previous mask as prompt",
        "",
        "tight box, then corrective clicks",
        "",
        "tight box, then corrective clicks with the previous mask as prompt",
        "",
    ]
    assert [row[1] for row in rows] == ["fine-tuned", "base, zero-shot"] * 4
    assert rows[0][2:] == ["8", "0.600", "0.660", "0.720", "0.900", "4.2", "6.1", "1", "3"]
    assert rows[1][2:] == ["8", "0.400", "0.460", "0.520", "0.700", "6.2", "8.1", "1", "3"]
    assert rows[4][3] == "0.640" and rows[4][7] == "3.2"


def test_interactive_table_without_zero_shot_and_with_odd_runs():
    table = interactive_table(new_metrics(), None)
    assert "| model |" not in table and "zero-shot" not in table
    assert table_rows(table, "tight box, then corrective clicks")[0][1:6] == ["8", "0.640", "0.700", "0.760", "0.940"]
    odd = new_metrics()
    odd["interactive"] = {
        "point": click_run("point", 0.6, 4.0, max_clicks=3),
        "box": {**click_run("box", 0.7, 3.0), "label": "box | then clicks", "noc85": None, "never90": None},
    }
    table = interactive_table(odd, None)
    # Runs of different lengths: "the last" interaction; a run too short for the 5th has n/a there.
    assert "| Dice after the last |" in table
    assert table_rows(table, "one interior click, then corrective clicks")[0][2:6] == ["0.600", "0.660", "n/a", "0.690"]
    (box,) = table_rows(table, "box \\| then clicks")
    assert box[6] == "n/a" and box[9] == "n/a"
    assert all(len(re.split(r"(?<!\\)\|", line)) == 12 for line in table.splitlines())
    assert "counts as one more than the interactions allowed" in metrics_table(odd, None)
    # Sessions shorter than five interactions: no column repeats the last one.
    short = new_metrics()
    short["interactive"] = {"point": click_run("point", 0.6, 4.0, max_clicks=3)}
    header = interactive_table(short, None).splitlines()[0]
    assert header.startswith("| protocol | n | Dice after 1 | Dice after 3 | Dice after 4 | NoC@85 |")


def test_metrics_table_ends_with_the_interactive_table():
    # train.py --evaluate-only writes this as evaluation.md: the corrective clicks belong there too.
    text = metrics_table(new_metrics(), new_metrics(-0.2))
    assert text.endswith(interactive_table(new_metrics(), new_metrics(-0.2)))
    assert text.index("| prompt |") < text.index("Interactive segmentation") < text.index("| protocol |")


def test_card_has_corrective_clicks_with_the_figure():
    inputs = card(test_metrics=new_metrics(), zero_shot_metrics=new_metrics(-0.2))
    without_figure = render_model_card(inputs)
    section = without_figure.split("### Corrective clicks")[1].split("###")[0]
    assert interactive_table(new_metrics(), new_metrics(-0.2)) in section
    assert "NoC@85" in section and "![" not in section
    results = render_model_card(dataclasses.replace(inputs, dice_by_click_figure="dice_by_click.png"))
    section = results.split("### Corrective clicks")[1].split("###")[0]
    (image,) = [line for line in section.splitlines() if line.startswith("![")]
    assert image.endswith("](dice_by_click.png)") and "zero-shot dashed" in image
    # The single-prompt scores, by class and the calibration keep their places around it.
    assert results.index("## Results") < results.index("### Corrective clicks") < results.index("trustworthy")
    assert "**Research demo, not for clinical use.**" in body(results).lstrip().splitlines()[0]
