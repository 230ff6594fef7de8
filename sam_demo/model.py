"""Loading SAM checkpoints (Hub ids or local folders), and random SAMs for tests and benchmarks."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras
from huggingface_hub.errors import (
    GatedRepoError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import HTTPError
from transformers import (
    SamConfig,
    SamImageProcessor,
    SamMaskDecoderConfig,
    SamProcessor,
    SamPromptEncoderConfig,
    SamVisionConfig,
    TFSamModel,
)

DEFAULT_MODEL_ID = "facebook/sam-vit-large"

WEIGHT_FILES = (
    "tf_model.h5",
    "model.safetensors",
    "tf_model.h5.index.json",
    "model.safetensors.index.json",
)

# Vision-encoder sizes of Meta's released checkpoints; the prompt encoder and mask decoder are the same for all.
ARCHITECTURES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, global_attn_indexes=[2, 5, 8, 11]),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, global_attn_indexes=[5, 11, 17, 23]),
    "huge": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, global_attn_indexes=[7, 15, 23, 31]),
}


class ModelLoadError(RuntimeError):
    """A checkpoint could not be loaded; the message says what to do about it."""


def load_sam(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    mixed_precision: str | None = None,
) -> tuple[TFSamModel, SamProcessor]:
    """Load a TF SAM model and its processor from a Hub repo id or a local checkpoint folder.

    `token` defaults to `HF_TOKEN` or the saved `huggingface-cli login` (huggingface_hub's own lookup).
    `mixed_precision` ("float16" or "bfloat16") runs the vision encoder in that dtype with float32 weights
    (see `MIXED_PRECISION`); None keeps everything float32.
    Raises `ModelLoadError` with an actionable message when the checkpoint cannot be had.
    """
    source = str(name_or_path)
    local_dir = Path(source).expanduser()
    if local_dir.is_dir():
        _check_checkpoint_dir(local_dir)
        source = str(local_dir)
    elif local_dir.exists():
        raise ModelLoadError(f"{source} is a file; pass the folder that holds config.json and the weights.")
    elif _looks_like_path(source):
        raise ModelLoadError(f"No such checkpoint folder: {local_dir.resolve()}")

    kwargs = dict(revision=revision, token=token, local_files_only=local_files_only)
    try:
        with _built_with_policy(mixed_precision):
            model = TFSamModel.from_pretrained(source, **kwargs)
        processor = _load_processor(source, kwargs)
    except OSError as error:
        raise ModelLoadError(_explain_hub_error(source, error)) from error
    if model.config.model_type != "sam":
        raise ModelLoadError(f"{source} is a '{model.config.model_type}' model, not a SAM checkpoint.")
    if mixed_precision:
        _keep_float32(model.prompt_encoder, model.mask_decoder)
    return model, processor


def vision_encoder_fingerprint(model: TFSamModel) -> str:
    """A hash of the vision encoder's weights: equal fingerprints give equal image embeddings."""
    digest = hashlib.sha1()
    for weight in model.vision_encoder.weights:
        digest.update(weight.name.split("/", 1)[-1].encode())  # without the model's own name scope
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


# Mixed precision applies to the vision encoder, where nearly all the compute is. The prompt encoder and mask
# decoder stay float32: they are cheap, transformers' TF SAM mixes their float32 weights with activations
# without casting (it fails under a float16 policy), and the IoU head and Dice are better off in float32.
MIXED_PRECISION = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


@contextmanager
def _built_with_policy(precision: str | None) -> Iterator[None]:
    if precision is None:
        yield
        return
    if precision not in MIXED_PRECISION:
        raise ValueError(f"mixed precision must be one of {', '.join(MIXED_PRECISION)}, not {precision!r}")
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(MIXED_PRECISION[precision])
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def _keep_float32(*parts: tf_keras.layers.Layer) -> None:
    float32 = tf_keras.mixed_precision.Policy("float32")
    for part in parts:
        for layer in part._flatten_layers(include_self=True):
            layer._set_dtype_policy(float32)


def _looks_like_path(source: str) -> bool:
    # A Hub id is "name" or "namespace/name"; anything else can only be meant as a folder.
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or os.sep != "/" and os.sep in source


def _check_checkpoint_dir(folder: Path) -> None:
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{folder} is not a SAM checkpoint: it has no config.json.")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{config_file} is not valid JSON: {error}") from error
    if model_type != "sam":
        raise ModelLoadError(f"{folder} is not a SAM checkpoint: config.json says model_type={model_type!r}.")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ModelLoadError(
            f"{folder} has a SAM config.json but no weights (expected one of: {', '.join(WEIGHT_FILES)})."
        )


def _load_processor(source: str, kwargs: dict) -> SamProcessor:
    try:
        return SamProcessor.from_pretrained(source, **kwargs)
    except OSError:
        # Every SAM release uses the same preprocessing, so a checkpoint without a processor config
        # (e.g. weights saved without it) still works with the defaults.
        if Path(source).is_dir():
            return SamProcessor(SamImageProcessor())
        raise


def _explain_hub_error(source: str, error: OSError) -> str:
    cause = error.__cause__
    local_hint = (
        "To use a checkpoint on disk, pass its folder (the one holding config.json), "
        f"e.g. --model ./{source.split('/')[-1]}."
    )
    if isinstance(cause, GatedRepoError):
        return (
            f"{source} is gated or private and your token has no access: accept its terms on the Hub "
            "or pass a token (HF_TOKEN)."
        )
    if isinstance(cause, RepositoryNotFoundError):
        return (
            f"Model repo {source} was not found on the Hugging Face Hub. Check the id; if it is private, "
            f"set HF_TOKEN or run `huggingface-cli login`. No local folder named {source} exists either."
        )
    if isinstance(cause, RevisionNotFoundError):
        return f"{source} has no revision (branch, tag or commit) named as requested."
    if isinstance(cause, (LocalEntryNotFoundError, OfflineModeIsEnabled, RequestsConnectionError)) or (
        "offline" in str(error).lower() or "connect" in str(error).lower()
    ):
        return (
            f"Cannot download {source}: the Hugging Face Hub is unreachable (or offline mode is on) and no copy "
            f"is cached. {local_hint}"
        )
    if isinstance(cause, HTTPError):
        return f"The Hub refused {source}: {cause}"
    return f"Cannot load {source}: {error}"


def tiny_sam(seed: int = 0) -> tuple[TFSamModel, SamProcessor]:
    """A randomly initialised SAM with a tiny configuration (about 0.2 M parameters).

    For tests and benchmarks only: its masks mean nothing. It has the real classes, input size (1024) and
    embedding grid (64x64), so everything around the model behaves as with a real checkpoint.
    """
    decoder_width = 32
    config = SamConfig(
        vision_config=SamVisionConfig(
            hidden_size=32,
            output_channels=decoder_width,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_dim=64,
            window_size=8,
            global_attn_indexes=[1],
            # The positional encoding is shared with the prompt encoder: half of its width each for sin and cos.
            num_pos_feats=decoder_width // 2,
        ),
        prompt_encoder_config=SamPromptEncoderConfig(hidden_size=decoder_width, mask_input_channels=8),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=decoder_width, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32
        ),
    )
    model, processor = _random_model(config, seed)
    # transformers' TF port draws the random Fourier features of the positional encoding with a standard
    # deviation of half the vision width (16 here); Meta's SAM uses 1. With 16, nearby pixels get unrelated
    # encodings and a tiny model cannot learn where a box is within a few training steps.
    embedding = model.shared_image_embedding.positional_embedding
    embedding.assign(tf.random.stateless_normal(embedding.shape, seed=(seed, 1)))
    return model, processor


def sam_architecture(size: str, seed: int = 0) -> tuple[TFSamModel, SamProcessor]:
    """A randomly initialised SAM with the real `base`, `large` or `huge` dimensions (nothing is downloaded).

    For benchmarks: speed and memory are those of the released checkpoint, the masks are meaningless.
    """
    if size == "tiny":
        return tiny_sam(seed)
    if size not in ARCHITECTURES:
        raise ValueError(f"Unknown SAM size {size!r}: choose one of tiny, {', '.join(ARCHITECTURES)}.")
    return _random_model(SamConfig(vision_config=SamVisionConfig(**ARCHITECTURES[size])), seed)


def _random_model(config: SamConfig, seed: int) -> tuple[TFSamModel, SamProcessor]:
    tf_keras.utils.set_random_seed(seed)
    model = TFSamModel(config)
    model.build_in_name_scope()
    return model, SamProcessor(SamImageProcessor())
