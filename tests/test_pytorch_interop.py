"""Checkpoints cross between PyTorch transformers and this TensorFlow code with the same masks, both ways.

The reference (tests/data/sam-tiny-pytorch) was saved by PyTorch transformers 5.24 with PyTorch's outputs beside it
(tests/scripts/pytorch_reference.py regenerates both). The other direction runs PyTorch transformers 4.57 (the
pinned release, which has both frameworks) with the CPU torch wheel of requirements-dev.txt, in a subprocess so
that torch and TensorFlow never share a process. Every weight of the reference is random noise, so a weight left
unloaded or transposed the wrong way changes the outputs.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from sam_demo.core.model import load_sam, save_sam
from sam_demo.core.predictor import SamPredictor
from sam_demo.core.weight_files import pytorch_state_dict
from sam_demo.devtools.random_models import ARCHITECTURES

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "sam-tiny-pytorch"
SCRIPT = ROOT / "tests" / "scripts" / "pytorch_reference.py"
sys.path.insert(0, str(SCRIPT.parent))
from pytorch_reference import CASES, DEFAULT_IMAGE, unpack_masks  # noqa: E402

# Measured between TF and PyTorch on the reference (float32, different kernels): logits 2.9e-5, IoU 1.8e-6, no mask
# pixel of 2 million differs. A pixel whose logit is within rounding of 0 may flip on another machine.
LOGITS_ATOL = 1e-4
IOU_ATOL = 1e-5
MAX_FLIPPED_PIXELS = 1e-4


def replay(predictor: SamPredictor, outputs, case: str):
    """Our prediction for one of the reference's cases, with the same prompts."""
    kwargs = {"multimask_output": bool(outputs[f"{case}.multimask_output"])}
    if f"{case}.input_points" in outputs:
        kwargs["points"] = [tuple(point) for point in outputs[f"{case}.input_points"][0, 0]]
        kwargs["labels"] = list(outputs[f"{case}.input_labels"][0, 0])
    if f"{case}.input_boxes" in outputs:
        kwargs["box"] = tuple(outputs[f"{case}.input_boxes"][0, 0])
    if f"{case}.input_masks" in outputs:
        kwargs["mask_input"] = outputs[f"{case}.input_masks"][0, 0]
    return predictor.predict(**kwargs)


def assert_same_outputs(predictor: SamPredictor, outputs) -> None:
    for case in CASES:
        ours = replay(predictor, outputs, case)
        np.testing.assert_allclose(ours.iou_scores, outputs[f"{case}.iou_scores"][0, 0], atol=IOU_ATOL, err_msg=case)
        logits = outputs[f"{case}.pred_masks"][0, 0]
        np.testing.assert_allclose(ours.low_res_logits, logits, atol=LOGITS_ATOL, err_msg=case)
        masks = unpack_masks(outputs, case)[0, 0]
        assert ours.masks.shape == masks.shape, case
        assert 0.05 < masks.mean() < 0.95, case  # a mask that means something to compare
        assert np.mean(ours.masks != masks) <= MAX_FLIPPED_PIXELS, case


@pytest.fixture(scope="module")
def reference_outputs():
    return np.load(REFERENCE / "pytorch_outputs.npz")


@pytest.fixture(scope="module")
def reference_predictor():
    predictor = SamPredictor(*load_sam(REFERENCE), cache_size=1)
    predictor.set_image(DEFAULT_IMAGE)
    return predictor


def test_pytorch_checkpoint_gives_pytorch_masks(reference_predictor, reference_outputs):
    assert str(reference_outputs["image_sha256"]) and json.loads((REFERENCE / "pytorch_versions.json").read_text())[
        "transformers"
    ].startswith("5.")
    embedding = reference_predictor.image.embedding.numpy()[0]
    np.testing.assert_allclose(embedding[:, ::8, ::8], reference_outputs["image_embeddings_sample"], atol=1e-4)
    assert_same_outputs(reference_predictor, reference_outputs)


def test_round_trip_pytorch_tf_pytorch_is_exact(tmp_path):
    model, processor = load_sam(REFERENCE)
    save_sam(model, processor, tmp_path)
    original, again = load_file(str(REFERENCE / "model.safetensors")), load_file(str(tmp_path / "model.safetensors"))
    assert original.keys() == again.keys()
    for name, tensor in original.items():
        assert again[name].dtype == tensor.dtype and again[name].shape == tensor.shape, name
        assert again[name].tobytes() == tensor.tobytes(), name
    with safe_open(str(tmp_path / "model.safetensors"), "np") as saved:
        assert saved.metadata() == {"format": "pt"}


@pytest.fixture(scope="module")
def trained_here(tmp_path_factory, reference_predictor):
    """A checkpoint this project saved, with weights that are not PyTorch's: every weight moved by noise."""
    model, processor = load_sam(REFERENCE)
    rng = np.random.default_rng(7)
    for weight in model.weights:
        value = weight.numpy()
        weight.assign(value + 0.05 * (np.abs(value).mean() + 1e-3) * rng.standard_normal(value.shape))
    folder = tmp_path_factory.mktemp("trained-here")
    save_sam(model, processor, folder)
    return folder


def test_checkpoint_saved_here_loads_in_pytorch_with_no_key_problems_and_same_masks(trained_here, tmp_path):
    outputs_file = tmp_path / "pytorch.npz"
    command = [sys.executable, str(SCRIPT), "--check", str(trained_here), "--outputs", str(outputs_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    # --check loads with output_loading_info and fails on any missing, unexpected or mismatched key.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 missing keys, 0 unexpected keys, 0 mismatched keys" in result.stdout
    predictor = SamPredictor(*load_sam(trained_here), cache_size=1)
    predictor.set_image(DEFAULT_IMAGE)
    outputs = np.load(outputs_file)
    # The noise changed the model: PyTorch's outputs differ from the reference, and still equal ours.
    assert not np.allclose(outputs["point.pred_masks"], np.load(REFERENCE / "pytorch_outputs.npz")["point.pred_masks"])
    assert_same_outputs(predictor, outputs)


PYTORCH_SHAPES = """
import json, sys, torch
from transformers import SamConfig, SamModel, SamVisionConfig
shapes = {}
for size, vision in json.loads(sys.argv[1]).items():
    with torch.device("meta"):  # names and shapes only: nothing is allocated
        model = SamModel(SamConfig(vision_config=SamVisionConfig(**vision)))
    shapes[size] = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
print(json.dumps(shapes))
"""


@pytest.fixture(scope="module")
def pytorch_shapes() -> dict[str, dict[str, list[int]]]:
    """PyTorch SamModel's state-dict names and shapes for Meta's base, large and huge."""
    command = [sys.executable, "-c", PYTORCH_SHAPES, json.dumps(ARCHITECTURES)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("size", list(ARCHITECTURES))
def test_mapping_covers_every_weight_of_every_sam_size(size, pytorch_shapes):
    """The names and shapes we write for a real SAM size are exactly PyTorch SamModel's state dict."""
    from transformers import SamConfig, SamVisionConfig, TFSamModel

    expected = dict(pytorch_shapes[size])
    expected.pop("prompt_encoder.shared_embedding.positional_embedding")  # tied: PyTorch saves one copy
    model = TFSamModel(SamConfig(vision_config=SamVisionConfig(**ARCHITECTURES[size])))
    model.build_in_name_scope()
    ours = {name: list(tensor.shape) for name, tensor in pytorch_state_dict(model).items()}
    assert ours == expected
