"""SAM weight files: read every layout users have, write the Hub's PyTorch layout.

Meta's `facebook/sam-vit-*` repos, and nearly every SAM fine-tune on the Hub, hold a PyTorch-layout
`model.safetensors`. transformers 4.57's TF loader cannot read one (huggingface/transformers#40028: it iterates a
`safe_open` handle), so this module opens the files itself and gives transformers' own PyTorch-to-TF mapping
(names, transposed dense and convolution kernels, layer-norm names) a plain mapping of tensors. Writing applies the
inverse of that same mapping, so PyTorch `SamModel` (transformers 4.x and 5.x) loads what `train.py` saves.
NumPy and TensorFlow only: no torch at run time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import tensorflow as tf
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file
from transformers import TFSamModel
from transformers.modeling_tf_pytorch_utils import (
    apply_transpose,
    convert_tf_weight_name_to_pt_weight_name,
    load_pytorch_state_dict_in_tf2_model,
)
from transformers.modeling_tf_utils import (
    load_tf_sharded_weights,
    load_tf_sharded_weights_from_safetensors,
    load_tf_weights,
)

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TF_H5 = "tf_model.h5"
TF_H5_INDEX = "tf_model.h5.index.json"
# In order of preference where a checkpoint holds several (Meta's repos hold model.safetensors).
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, TF_H5, TF_H5_INDEX)

# PyTorch's SamModel ties the prompt encoder's positional embedding to the image one; TF has one variable for both.
# A checkpoint may carry the tied copy too: it must then equal the one it is tied to.
TIED_KEYS = {"prompt_encoder.shared_embedding.positional_embedding": "shared_image_embedding.positional_embedding"}

_SHOWN_NAMES = 5  # names listed in an error message; the counts say how many there are in all


class WeightFileError(ValueError):
    """A weight file is unreadable or does not fit the model exactly; the message names the file."""


def find_weight_file(folder: Path) -> Path | None:
    """The weight file `load_weights` reads from `folder`, or None when it holds none."""
    return next((folder / name for name in WEIGHT_FILES if (folder / name).is_file()), None)


def load_weights(model: TFSamModel, weight_file: Path) -> None:
    """Set every weight of the built `model` from `weight_file` (one of `WEIGHT_FILES`, shards beside an index).

    Raises `WeightFileError` naming the file when it cannot be read, or when any model weight is missing from it,
    any tensor in it is left unused, or any shape does not fit.
    """
    weight_file = Path(weight_file)
    try:
        shards = _shard_files(weight_file)
        if weight_file.name in (TF_H5, TF_H5_INDEX):
            missing, unexpected, mismatched = _load_tf_layout(model, shards, h5=True)
        else:
            with ExitStack() as stack:
                handles = [stack.enter_context(safe_open(str(shard), framework="tf")) for shard in shards]
                if _is_pytorch_layout(handles):
                    missing, unexpected, mismatched = _load_pytorch_layout(model, _TensorsByName(handles))
                else:
                    missing, unexpected, mismatched = _load_tf_layout(model, shards, h5=False)
    except WeightFileError:
        raise
    except (OSError, ValueError, KeyError, SafetensorError, tf.errors.OpError) as error:
        raise WeightFileError(f"Cannot read the weights in {weight_file}: {type(error).__name__}: {error}") from error
    _require_exact_match(weight_file, missing, unexpected, mismatched)


def pytorch_state_dict(model: TFSamModel) -> dict[str, np.ndarray]:
    """The model's weights under PyTorch `SamModel`'s names and tensor layouts (the inverse of loading)."""
    state = {}
    for weight in model.weights:
        name, transpose = convert_tf_weight_name_to_pt_weight_name(weight.name, tf_weight_shape=weight.shape)
        if name in state:
            raise ValueError(f"Two TF weights map to the PyTorch name {name}; the mapping would lose one.")
        array = apply_transpose(transpose, weight.numpy(), pt_to_tf=False)
        state[name] = np.ascontiguousarray(array, dtype=weight.dtype.as_numpy_dtype)
    return state


def save_pytorch_weights(model: TFSamModel, path: Path) -> None:
    """Write `model.safetensors` in PyTorch layout; a reader never sees a half-written file at `path`."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        save_file(pytorch_state_dict(model), str(partial), metadata={"format": "pt"})
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


class _TensorsByName(Mapping):
    """The tensors of one or more open safetensors files by name, each read only when asked for.

    transformers' loader takes any mapping; reading lazily keeps the peak memory at one copy of the weights.
    """

    def __init__(self, handles: list) -> None:
        self._handles: dict[str, object] = {}
        for handle in handles:
            for key in handle.keys():
                if key in self._handles:
                    raise WeightFileError(f"The tensor {key} is in more than one shard.")
                self._handles[key] = handle

    def __getitem__(self, key: str) -> tf.Tensor:
        return self._handles[key].get_tensor(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._handles)

    def __len__(self) -> int:
        return len(self._handles)


def _shard_files(weight_file: Path) -> list[Path]:
    if not weight_file.is_file():
        raise WeightFileError(f"The weight file {weight_file} does not exist.")
    if not weight_file.name.endswith(".index.json"):
        return [weight_file]
    try:
        weight_map = json.loads(weight_file.read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
        raise WeightFileError(
            f"{weight_file} is not a valid shard index (no 'weight_map' of names to files)."
        ) from error
    paths = [weight_file.parent / shard for shard in shards]
    absent = [path.name for path in paths if not path.is_file()]
    if absent:
        raise WeightFileError(f"{weight_file} names shards that are not beside it: {', '.join(absent)}.")
    return paths


def _is_pytorch_layout(handles: list) -> bool:
    # save_pretrained writes the layout into the metadata; files written by other tools may have none, and
    # then the names tell: TF's hold scopes separated by "/", PyTorch's are dotted.
    formats = {(handle.metadata() or {}).get("format") for handle in handles}
    if formats & {"flax", "mlx"}:
        raise WeightFileError(f"The weights are in {', '.join(sorted(formats - {None}))} format, not PyTorch or TF.")
    if "pt" in formats or "tf" in formats:
        return "pt" in formats
    return not any("/" in key for handle in handles for key in handle.keys())


def _load_pytorch_layout(model: TFSamModel, tensors: _TensorsByName) -> tuple[list, list, list]:
    _, info = load_pytorch_state_dict_in_tf2_model(
        model,
        tensors,
        tf_inputs=False,  # the model is built already; a dummy forward pass of ViT-L would cost seconds
        allow_missing_keys=True,  # reported, then refused below with the full list
        output_loading_info=True,
        ignore_mismatched_sizes=True,  # likewise
        skip_logger_warnings=True,
    )
    unexpected = []
    for key in info["unexpected_keys"]:
        tied_to = TIED_KEYS.get(key)
        if tied_to is None or tied_to not in tensors:
            unexpected.append(key)
        elif not np.array_equal(tensors[key].numpy(), tensors[tied_to].numpy()):
            raise WeightFileError(f"{key} differs from {tied_to}, but the model shares one weight between them.")
    return info["missing_keys"], unexpected, info["mismatched_keys"]


def _load_tf_layout(model: TFSamModel, shards: list[Path], *, h5: bool) -> tuple[list, list, list]:
    names = [str(shard) for shard in shards]
    if len(names) == 1:
        return load_tf_weights(model, names[0], ignore_mismatched_sizes=True)
    if h5:
        return load_tf_sharded_weights(model, names, ignore_mismatched_sizes=True)
    return load_tf_sharded_weights_from_safetensors(model, names, ignore_mismatched_sizes=True)


def _require_exact_match(weight_file: Path, missing: list, unexpected: list, mismatched: list) -> None:
    problems = []
    if missing:
        problems.append(f"{len(missing)} model weights are not in it ({_names(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} tensors in it belong to no model weight ({_names(unexpected)})")
    if mismatched:
        shapes = [
            f"{name}: {tuple(found)} in the file, {tuple(wanted)} in the model" for name, found, wanted in mismatched
        ]
        problems.append(f"{len(mismatched)} tensors have the wrong shape ({_names(shapes)})")
    if problems:
        raise WeightFileError(
            f"The weights in {weight_file} do not fit the SAM model its config.json describes: "
            + "; ".join(problems)
            + ". Is the config.json beside it the one these weights were saved with?"
        )


def _names(names: list) -> str:
    names = sorted(str(name) for name in names)
    more = f", and {len(names) - _SHOWN_NAMES} more" if len(names) > _SHOWN_NAMES else ""
    return ", ".join(names[:_SHOWN_NAMES]) + more
