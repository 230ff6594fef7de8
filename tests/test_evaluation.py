"""Evaluation per prompt type and class and of the interactive loop, on phantoms with the tiny model."""

import csv

import numpy as np
import pytest

from sam_demo.core.masks import dice
from sam_demo.core.predictor import Prediction
from sam_demo.data.examples import embed_examples
from sam_demo.evaluation import single_prompt
from sam_demo.evaluation.evaluate import CSV_COLUMNS, evaluate, write_per_image_csv
from sam_demo.evaluation.interactive import PROTOCOLS, click_session
from sam_demo.evaluation.single_prompt import PROMPT_TYPES, iou_calibration, picks_best_candidate


@pytest.fixture(scope="module")
def examples(predictor, load_phantoms):
    return embed_examples(predictor, load_phantoms(8, "busi", seed=2))


def single_prompts(predictor, examples):
    """The single-prompt part of a whole evaluation: its summary and its rows."""
    evaluation = evaluate(predictor, examples, max_clicks=0)
    return evaluation.summary, [row for row in evaluation.rows if row["protocol"] in PROMPT_TYPES]


def test_metrics_per_prompt_type_and_class(predictor, examples):
    results, rows = single_prompts(predictor, examples)
    assert len(rows) == len(PROMPT_TYPES) * len(examples)
    assert set(results["prompts"]) == set(PROMPT_TYPES)
    labels = {e.label for e in examples}
    for prompt_type, metrics in results["prompts"].items():
        assert metrics["n"] == len(examples)
        assert set(metrics["per_class"]) == labels
        assert sum(c["n"] for c in metrics["per_class"].values()) == len(examples)
        shown = [single_prompt.predict_with(predictor, e, prompt_type)[0] for e in examples]
        expected = [dice(mask, e.mask) for mask, e in zip(shown, examples)]
        assert metrics["dice"]["mean"] == pytest.approx(np.mean(expected))
        assert metrics["dice"]["std"] == pytest.approx(np.std(expected))
        assert 0 <= metrics["iou"]["mean"] <= metrics["dice"]["mean"] + 1e-9  # IoU never exceeds Dice
        assert metrics["hd95"]["mean"] >= 0 and 0 <= metrics["nsd"]["mean"] <= 1
    assert 0 <= results["prompts"]["point"]["best_candidate_picked"] <= 1
    assert "best_candidate_picked" not in results["prompts"]["box"]  # one mask: nothing to pick
    assert results["iou_calibration"]["n"] == 3 * len(examples)


def perfect(_predictor, example, _prompt_type) -> Prediction:
    return Prediction(example.mask[None], np.ones(1, np.float32), np.zeros((1, 256, 256), np.float32))


def test_perfect_masks_score_one(predictor, examples, monkeypatch):
    monkeypatch.setattr(single_prompt, "prediction_for", perfect)
    results, _ = single_prompts(predictor, examples)
    for metrics in results["prompts"].values():
        assert metrics["dice"] == {"mean": 1.0, "std": 0.0} and metrics["iou"]["mean"] == 1.0
        assert metrics["hd95"]["mean"] == 0.0 and metrics["nsd"]["mean"] == 1.0


def test_the_apps_pick_is_checked_against_the_truly_best_candidate():
    target = np.zeros((10, 10), bool)
    target[2:6, 2:6] = True
    wrong, right = np.zeros_like(target), target.copy()
    masks = np.stack([wrong, right, wrong])
    low_res = np.zeros((3, 256, 256), np.float32)
    assert picks_best_candidate(Prediction(masks, np.array([0.1, 0.9, 0.2]), low_res), target)
    assert not picks_best_candidate(Prediction(masks, np.array([0.9, 0.1, 0.2]), low_res), target)


def test_a_click_session_adds_one_corrective_click_per_interaction(predictor, examples, monkeypatch):
    calls = []
    real = predictor.decode
    monkeypatch.setattr(predictor, "decode", lambda *args, **kwargs: calls.append(kwargs) or real(*args, **kwargs))
    point, point_mask, box, _ = PROTOCOLS
    session = click_session(predictor, examples[0], point, max_clicks=3)
    assert len(session) == 4 and all(0 <= step.dice <= 1 for step in session)
    assert [len(call["points"]) for call in calls] == [1, 2, 3, 4][: len(calls)]
    assert calls[0]["multimask_output"] and not any(call["multimask_output"] for call in calls[1:])
    assert all(call["mask_input"] is None for call in calls)
    calls.clear()
    click_session(predictor, examples[0], point_mask, max_clicks=2)
    assert calls[0]["mask_input"] is None and all(call["mask_input"].shape == (256, 256) for call in calls[1:])
    calls.clear()
    click_session(predictor, examples[0], box, max_clicks=2)
    assert calls[0]["points"] is None and calls[0]["box"] is not None and len(calls[1]["points"]) == 1


def test_a_perfect_mask_ends_the_session(predictor, examples, monkeypatch):
    monkeypatch.setattr(predictor, "decode", lambda _encoded, **_: perfect(None, examples[0], None))
    session = click_session(predictor, examples[0], PROTOCOLS[0], max_clicks=4)
    assert [step.iou for step in session] == [1.0] * 5


def test_whole_evaluation_summary_and_per_image_csv(predictor, examples, tmp_path, monkeypatch):
    decodes = []
    real = predictor.decode
    monkeypatch.setattr(predictor, "decode", lambda *args, **kwargs: decodes.append(1) or real(*args, **kwargs))
    evaluation = evaluate(predictor, examples[:3], max_clicks=2)
    # The protocols start from the single prompts' own answers: never decoded (nor scored) twice.
    assert len(decodes) == 3 * (len(PROMPT_TYPES) + 2 * len(PROTOCOLS))
    first = {(row["image"], row["protocol"]): row for row in evaluation.rows if row["click"] == 1}
    for protocol in PROTOCOLS:
        for example in examples[:3]:
            shared = first[(example.name, protocol.start.key)]
            assert {**first[(example.name, protocol.name)], "protocol": shared["protocol"]} == shared
    interactive = evaluation.summary["interactive"]
    assert list(interactive) == [protocol.key for protocol in PROTOCOLS]
    for entry in interactive.values():
        assert len(entry["dice_by_click"]) == len(entry["dice_ci95_by_click"]) == 3 and entry["n"] == 3
        assert all(
            low <= mean <= high for mean, (low, high) in zip(entry["dice_by_click"], entry["dice_ci95_by_click"])
        )
        assert 1 <= entry["noc85"] <= 4 and 0 <= entry["never90"] <= 3
    assert len(evaluation.rows) == 3 * len(PROMPT_TYPES) + 3 * 3 * len(PROTOCOLS)
    path = tmp_path / "per_image.csv"
    write_per_image_csv(path, {"fine_tuned": evaluation, "zero_shot": None})
    with path.open() as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(evaluation.rows)
    assert {row["model"] for row in rows} == {"fine_tuned"}
    assert {row["protocol"] for row in rows} == {*PROMPT_TYPES, *(f"interactive_{p.key}" for p in PROTOCOLS)}


def test_iou_calibration():
    real = np.array([0.2, 0.5, 0.9])
    assert iou_calibration(real * 0.5 + 0.1, real)["pearson_r"] == pytest.approx(1.0)
    assert iou_calibration(real, real)["mean_abs_error"] == 0.0
    assert iou_calibration(np.array([0.5, 0.5]), real[:2])["pearson_r"] is None


def test_nothing_to_evaluate(predictor):
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(predictor, [])
