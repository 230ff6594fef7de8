"""Weight files in every layout: PyTorch's (the Hub's) and TF's, single and sharded; exact matching; clear errors."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import sam_demo.core.weight_files as weight_files
from sam_demo.core.model import ModelLoadError, load_sam, save_sam
from sam_demo.core.weight_files import WeightFileError, pytorch_state_dict
from sam_demo.devtools.random_models import tiny_sam


@pytest.fixture(scope="module")
def source_model():
    return tiny_sam(seed=5)


def assert_same_weights(left, right) -> None:
    assert len(left.weights) == len(right.weights)
    for a, b in zip(left.weights, right.weights):
        assert a.name.split("/", 1)[1] == b.name.split("/", 1)[1]  # without the model's own scope (tf_sam_model_N)
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)


def write_pytorch_shards(state: dict, folder: Path, parts: int = 3) -> None:
    """Sharded PyTorch-layout safetensors with an index, as PyTorch save_pretrained writes large models."""
    names = sorted(state)
    weight_map = {}
    for part in range(parts):
        shard = f"model-{part + 1:05d}-of-{parts:05d}.safetensors"
        chunk = names[part::parts]
        save_file({name: state[name] for name in chunk}, str(folder / shard), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(chunk, shard))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


@pytest.mark.parametrize(
    "layout", ["pytorch", "pytorch-sharded", "pytorch-no-metadata", "tf-safetensors", "tf-sharded", "tf-h5"]
)
def test_every_layout_loads_every_weight(source_model, tmp_path, layout):
    model, processor = source_model
    folder = tmp_path / layout
    save_sam(model, processor, folder)
    state = load_file(str(folder / "model.safetensors"))
    if layout == "pytorch-sharded":
        (folder / "model.safetensors").unlink()
        write_pytorch_shards(state, folder)
    elif layout == "pytorch-no-metadata":  # e.g. written by safetensors' own save_file, not save_pretrained
        save_file(state, str(folder / "model.safetensors"))
    elif layout.startswith("tf"):  # what this project saved before it wrote PyTorch's layout
        (folder / "model.safetensors").unlink()
        shard_size = "200KB" if layout == "tf-sharded" else "10GB"
        model.save_pretrained(folder, safe_serialization=layout != "tf-h5", max_shard_size=shard_size)
    loaded, _ = load_sam(folder)
    assert_same_weights(model, loaded)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_pytorch_weights_load_as_float32(source_model, tmp_path, dtype):
    """Fine-tunes are often published in half precision; numpy has no bfloat16, so they are read through TF."""
    import tensorflow as tf
    from safetensors.tensorflow import save_file as save_tf_file

    model, processor = source_model
    save_sam(model, processor, tmp_path)
    half = {name: tf.cast(value, dtype) for name, value in load_file(str(tmp_path / "model.safetensors")).items()}
    save_tf_file(half, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    loaded, _ = load_sam(tmp_path)
    expected = pytorch_state_dict(model)
    for name, value in pytorch_state_dict(loaded).items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, tf.cast(tf.cast(expected[name], dtype), tf.float32).numpy(), err_msg=name)


def test_saved_file_has_pytorch_names_layouts_and_metadata(source_model, tmp_path):
    model, processor = source_model
    save_sam(model, processor, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    assert len(state) == len(model.weights)
    assert not any("/" in name or ":" in name for name in state)
    # Dense kernels are stored (out, in) and convolution kernels (out, in, kh, kw), as in PyTorch.
    qkv = model.vision_encoder.layers[0].attn.qkv.kernel.numpy()
    np.testing.assert_array_equal(state["vision_encoder.layers.0.attn.qkv.weight"], qkv.T)
    patch = model.vision_encoder.patch_embed.projection.kernel.numpy()
    np.testing.assert_array_equal(state["vision_encoder.patch_embed.projection.weight"], patch.transpose(3, 2, 0, 1))
    with open(tmp_path / "config.json") as file:
        assert json.load(file)["architectures"] == ["SamModel"]
    assert not list(tmp_path.glob("*.partial"))


def test_tied_positional_embedding_copy_is_accepted_only_when_equal(source_model, tmp_path):
    model, processor = source_model
    save_sam(model, processor, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    tied = "prompt_encoder.shared_embedding.positional_embedding"
    state[tied] = state["shared_image_embedding.positional_embedding"].copy()
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    assert_same_weights(model, load_sam(tmp_path)[0])
    state[tied] = state[tied] + 1
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match="differs from shared_image_embedding"):
        load_sam(tmp_path)


def edit_weights(folder: Path, change) -> None:
    state = load_file(str(folder / "model.safetensors"))
    change(state)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda state: state.pop("mask_decoder.iou_token.weight"), "1 model weights are not in it"),
        (
            lambda state: state.update(extra=np.zeros(3, np.float32)),
            r"1 tensors in it belong to no model weight \(extra",
        ),
        (
            lambda state: state.update({"mask_decoder.iou_token.weight": np.zeros((1, 7), np.float32)}),
            "1 tensors have the wrong shape",
        ),
    ],
    ids=["missing", "unexpected", "wrong-shape"],
)
def test_weights_that_do_not_fit_are_refused_with_the_file_named(tiny_checkpoint, tmp_path, change, expected):
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    edit_weights(folder, change)
    with pytest.raises(ModelLoadError, match=expected) as raised:
        load_sam(folder)
    assert str(folder / "model.safetensors") in str(raised.value)


def test_weights_of_another_size_are_refused(tiny_checkpoint, tmp_path):
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    config["vision_config"]["mlp_dim"] = 96
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="wrong shape.*mlp.lin1.weight.*config.json"):
        load_sam(folder)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_unreadable_weight_file_is_named(tiny_checkpoint, tmp_path, damage):
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    weights = folder / "model.safetensors"
    content = weights.read_bytes()
    weights.write_bytes({"truncated": content[: len(content) // 2], "garbage": b"\x00" * 100, "empty": b""}[damage])
    with pytest.raises(ModelLoadError, match="Cannot read the weights in .*model.safetensors"):
        load_sam(folder)


def test_shard_index_naming_a_missing_shard(source_model, tmp_path):
    model, processor = source_model
    save_sam(model, processor, tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    (tmp_path / "model.safetensors").unlink()
    write_pytorch_shards(state, tmp_path)
    (tmp_path / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="names shards that are not beside it: model-00002-of-00003"):
        load_sam(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text("[]")
    with pytest.raises(ModelLoadError, match="not a valid shard index"):
        load_sam(tmp_path)


def test_flax_weights_are_refused(tiny_checkpoint, tmp_path):
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    save_file(load_file(str(folder / "model.safetensors")), str(folder / "model.safetensors"), {"format": "flax"})
    with pytest.raises(ModelLoadError, match="flax format"):
        load_sam(folder)


def test_interrupted_save_keeps_the_previous_weights(source_model, tmp_path, monkeypatch):
    model, processor = source_model
    save_sam(model, processor, tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    def fail_halfway(state, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(weight_files, "save_file", fail_halfway)
    with pytest.raises(OSError, match="No space left"):
        save_sam(tiny_sam(seed=6)[0], processor, tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert not list(tmp_path.glob("*.partial"))


def test_an_interruption_while_writing_the_configs_keeps_a_loadable_folder(source_model, tmp_path, monkeypatch):
    model, processor = source_model
    save_sam(model, processor, tmp_path)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    def interrupted(_processor, folder, *args, **kwargs):
        (Path(folder) / "preprocessor_config.json").write_text('{"half": ')
        raise KeyboardInterrupt

    monkeypatch.setattr(type(processor), "save_pretrained", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_sam(tiny_sam(seed=6)[0], processor, tmp_path)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before  # nothing torn, nothing left
    load_sam(tmp_path)


def test_export_is_the_inverse_of_loading(source_model, tmp_path):
    model, processor = source_model
    save_sam(model, processor, tmp_path)
    reloaded, _ = load_sam(tmp_path)
    first, second = pytorch_state_dict(model), pytorch_state_dict(reloaded)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].dtype == second[name].dtype == np.float32
        np.testing.assert_array_equal(first[name], second[name])


def test_load_weights_names_a_missing_file(source_model, tmp_path):
    with pytest.raises(WeightFileError, match="does not exist"):
        weight_files.load_weights(source_model[0], tmp_path / "model.safetensors")
