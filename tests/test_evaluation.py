"""Evaluation per prompt type and class, on phantoms with the tiny model."""

import numpy as np
import pytest

from sam_demo.core.masks import dice
from sam_demo.data.examples import embed_examples
from sam_demo.evaluation import single_prompt
from sam_demo.evaluation.single_prompt import PROMPT_TYPES, evaluate, iou_calibration


@pytest.fixture(scope="module")
def examples(predictor, load_phantoms):
    return embed_examples(predictor, load_phantoms(8, "busi", seed=2))


def test_metrics_per_prompt_type_and_class(predictor, examples):
    results = evaluate(predictor, examples)
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
    assert results["iou_calibration"]["n"] == 3 * len(examples)


def test_perfect_masks_score_one(predictor, examples, monkeypatch):
    monkeypatch.setattr(single_prompt, "predict_with", lambda _p, example, _t: (example.mask, 1.0))
    results = evaluate(predictor, examples)
    for metrics in results["prompts"].values():
        assert metrics["dice"] == {"mean": 1.0, "std": 0.0} and metrics["iou"]["mean"] == 1.0


def test_iou_calibration():
    real = np.array([0.2, 0.5, 0.9])
    assert iou_calibration(real * 0.5 + 0.1, real)["pearson_r"] == pytest.approx(1.0)
    assert iou_calibration(real, real)["mean_abs_error"] == 0.0
    assert iou_calibration(np.array([0.5, 0.5]), real[:2])["pearson_r"] is None


def test_nothing_to_evaluate(predictor):
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(predictor, [])
