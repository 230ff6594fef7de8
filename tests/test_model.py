"""load_sam: a saved checkpoint loads; every way it can fail says what to do."""

import json
import shutil

import pytest
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
from transformers import TFSamModel

import sam_demo.core.model
from sam_demo.core.model import ModelLoadError, load_sam
from sam_demo.devtools.random_models import sam_architecture, tiny_sam


def test_tiny_model_is_tiny_and_real_shaped(tiny_model):
    model, processor = tiny_model
    assert isinstance(model, TFSamModel)
    assert 50_000 < model.count_params() < 1_000_000
    assert model.config.vision_config.image_size == 1024
    assert processor.image_processor.size["longest_edge"] == 1024


def test_checkpoint_without_processor_config_still_loads(tiny_checkpoint, tmp_path):
    folder = tmp_path / "weights-only"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "preprocessor_config.json").unlink()
    _, processor = load_sam(folder)
    assert processor.image_processor.size["longest_edge"] == 1024


def test_folder_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_sam(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelLoadError, match="model_type='bert'"):
        load_sam(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "sam"}))
    with pytest.raises(ModelLoadError, match="no weights"):
        load_sam(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_sam(tmp_path)


def test_missing_local_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="No such checkpoint folder"):
        load_sam(tmp_path / "outputs" / "nothing-here")
    with pytest.raises(ModelLoadError, match="is a file"):
        (tmp_path / "model.h5").write_text("x")
        load_sam(tmp_path / "model.h5")


def test_offline_without_cache_explains_local_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as raised:
        load_sam("someone/sam-that-was-never-downloaded")
    message = str(raised.value)
    assert "unreachable" in message and "pass its folder" in message


@pytest.mark.parametrize(
    "error, expected",
    [
        (RepositoryNotFoundError("404 Client Error: Repository Not Found"), "not found on the Hugging Face Hub"),
        (GatedRepoError("403 Client Error: gated"), "HF_TOKEN"),
    ],
    ids=["not-found", "private"],
)
def test_hub_errors_are_explained(monkeypatch, error, expected):
    def refuse(*args, **kwargs):
        raise error

    # The Hub boundary: load_sam's own download code runs unchanged up to huggingface_hub's download.
    monkeypatch.setattr(sam_demo.core.model, "hf_hub_download", refuse)
    with pytest.raises(ModelLoadError, match=expected):
        load_sam("someone/private-sam")


def test_random_architectures_are_deterministic():
    a, _ = tiny_sam(seed=3)
    b, _ = tiny_sam(seed=3)
    for left, right in zip(a.weights, b.weights):
        assert (left.numpy() == right.numpy()).all()
    with pytest.raises(ValueError, match="tiny, base, large, huge"):
        sam_architecture("gigantic")


def test_vision_encoder_fingerprint_tells_encoders_apart(tiny_checkpoint):
    from sam_demo.core.model import load_sam, vision_encoder_fingerprint
    from sam_demo.devtools.random_models import tiny_sam

    loaded, _ = load_sam(tiny_checkpoint)
    again, _ = load_sam(tiny_checkpoint)
    other, _ = tiny_sam(seed=9)
    assert vision_encoder_fingerprint(loaded) == vision_encoder_fingerprint(again)
    assert vision_encoder_fingerprint(loaded) != vision_encoder_fingerprint(other)
