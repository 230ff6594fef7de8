"""Loading SAM checkpoints (Hub ids or local folders) and saving them in the Hub's layout."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tf_keras
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import RequestException, Timeout
from transformers import (
    SamConfig,
    SamImageProcessor,
    SamProcessor,
    TFSamModel,
)

from .onednn_matmul import encode_positions_without_broadcast
from .weight_files import (
    SAFETENSORS,
    WEIGHT_FILES,
    WeightFileError,
    find_weight_file,
    load_weights,
    save_pytorch_weights,
)

DEFAULT_MODEL_ID = "facebook/sam-vit-large"
# Every model loaded here may encode several prompt sets at once (`model(...)` on a batch): see the module.
encode_positions_without_broadcast()
CONFIG_FILE = "config.json"
PROCESSOR_FILE = "preprocessor_config.json"  # transformers 4 and Meta's repos
NESTED_PROCESSOR_FILE = "processor_config.json"  # transformers 5


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

    Reads every layout a SAM checkpoint comes in (see `sam_demo.core.weight_files`): PyTorch-layout safetensors, as in
    Meta's repos and what `train.py` saves, single or sharded; and the TF layouts (safetensors, `tf_model.h5`).
    `token` defaults to `HF_TOKEN` or the saved `hf auth login` (huggingface_hub's own lookup).
    `mixed_precision` ("float16" or "bfloat16") runs the vision encoder in that dtype with float32 weights
    (see `MIXED_PRECISION`); None keeps everything float32.
    Raises `ModelLoadError` with an actionable message when the checkpoint cannot be had.
    """
    source = str(name_or_path)
    local_dir = Path(source).expanduser()
    if local_dir.is_dir():
        folder = local_dir
    elif local_dir.exists():
        raise ModelLoadError(f"{source} is a file; pass the folder that holds config.json and the weights.")
    elif _looks_like_path(source):
        raise ModelLoadError(f"No such checkpoint folder: {local_dir.resolve()}")
    else:
        try:
            folder = _download_checkpoint(source, revision=revision, token=token, local_files_only=local_files_only)
        except (HfHubHTTPError, OSError, ValueError, RequestException) as error:
            raise ModelLoadError(_explain_hub_error(source, error)) from None
    config, weight_file = _check_checkpoint_dir(folder)

    with _built_with_policy(mixed_precision):
        model = TFSamModel(config)
        model.build_in_name_scope()
    try:
        load_weights(model, weight_file)
    except WeightFileError as error:
        raise ModelLoadError(str(error)) from error
    if mixed_precision:
        _keep_float32(model.prompt_encoder, model.mask_decoder)
    return model, _load_processor(folder)


def save_sam(model: TFSamModel, processor: SamProcessor, folder: Path) -> None:
    """Save a checkpoint as the Hub holds SAM: PyTorch-layout `model.safetensors`, config and processor config.

    PyTorch `SamModel.from_pretrained` (transformers 4.x and 5.x) and `load_sam` both read it. Every file is
    written beside its final name and renamed into place, so an interruption (Ctrl-C, a full disk) leaves each
    file either whole and new or whole and as it was: a folder that held the best model still loads.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".saving-", dir=folder) as staging:
        config = copy.deepcopy(model.config)
        config.architectures = ["SamModel"]  # the Hub's widgets and PyTorch users look for the PyTorch class
        config.save_pretrained(staging)
        processor.save_pretrained(staging)
        for path in sorted(Path(staging).iterdir()):
            os.replace(path, folder / path.name)
    save_pytorch_weights(model, folder / SAFETENSORS)


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


def _download_checkpoint(repo_id: str, **hub_options) -> Path:
    """Download a Hub checkpoint's config, processor config and one set of weights; return its snapshot folder."""
    folder = Path(hf_hub_download(repo_id, CONFIG_FILE, **hub_options)).parent
    for name in (PROCESSOR_FILE, NESTED_PROCESSOR_FILE):
        _download_if_present(repo_id, name, **hub_options)
    for name in WEIGHT_FILES:  # the first one the repo has: Meta's repos hold several copies of the same weights
        weights = _download_if_present(repo_id, name, **hub_options)
        if weights is None:
            continue
        if name.endswith(".index.json"):
            for shard in sorted(set(_read_json(Path(weights)).get("weight_map", {}).values())):
                hf_hub_download(repo_id, shard, **hub_options)
        break
    return folder


def _download_if_present(repo_id: str, filename: str, **hub_options) -> str | None:
    try:
        return hf_hub_download(repo_id, filename, **hub_options)
    except EntryNotFoundError:  # also when offline and this file is not in the cache
        return None


def _check_checkpoint_dir(folder: Path) -> tuple[SamConfig, Path]:
    config_file = folder / CONFIG_FILE
    if not config_file.is_file():
        raise ModelLoadError(f"{folder} is not a SAM checkpoint: it has no config.json.")
    model_type = _read_json(config_file).get("model_type")
    if model_type != "sam":
        raise ModelLoadError(f"{folder} is not a SAM checkpoint: config.json says model_type={model_type!r}.")
    weight_file = find_weight_file(folder)
    if weight_file is None:
        raise ModelLoadError(
            f"{folder} has a SAM config.json but no weights (expected one of: {', '.join(WEIGHT_FILES)}). "
            "PyTorch's older pytorch_model.bin is a pickle that only torch can read: convert it once with PyTorch "
            "transformers, SamModel.from_pretrained(OLD).save_pretrained(NEW), and pass NEW."
        )
    try:
        config = SamConfig.from_pretrained(folder)
    except (OSError, ValueError, TypeError) as error:
        raise ModelLoadError(f"{config_file} does not describe a SAM model: {error}") from error
    return config, weight_file


def _read_json(path: Path) -> dict:
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(content, dict):
        raise ModelLoadError(f"{path} is not a JSON object.")
    return content


def _load_processor(folder: Path) -> SamProcessor:
    flat, nested = folder / PROCESSOR_FILE, folder / NESTED_PROCESSOR_FILE
    source = flat if flat.is_file() else nested if nested.is_file() else None
    if source is None:
        # Every SAM release uses the same preprocessing, so a checkpoint without a processor config
        # (e.g. weights saved without it) still works with the defaults.
        return SamProcessor(SamImageProcessor())
    settings = _read_json(source)
    if source == nested:  # transformers 5 nests the image processor's settings
        settings = settings.get("image_processor") or {}
    try:
        return SamProcessor(SamImageProcessor.from_dict(settings))
    except (ValueError, TypeError, AttributeError) as error:
        raise ModelLoadError(f"{source} is not a valid SAM processor config: {error}") from error


def _explain_hub_error(source: str, error: Exception) -> str:
    local_hint = (
        "To use a checkpoint on disk, pass its folder (the one holding config.json), "
        f"e.g. --model ./{source.split('/')[-1]}."
    )
    # Order matters: huggingface_hub's errors subclass one another (a gated repo is a "not found" repo,
    # a missing cache entry is an HTTP error).
    if isinstance(error, GatedRepoError):
        return (
            f"{source} is gated or private and your token has no access: accept its terms on the Hub "
            "or pass a token (HF_TOKEN)."
        )
    if isinstance(error, RepositoryNotFoundError):
        return (
            f"Model repo {source} was not found on the Hugging Face Hub. Check the id; if it is private, "
            f"set HF_TOKEN or run `hf auth login`. No local folder named {source} exists either."
        )
    if isinstance(error, RevisionNotFoundError):
        return f"{source} has no revision (branch, tag or commit) named as requested."
    if isinstance(error, (LocalEntryNotFoundError, OfflineModeIsEnabled, RequestsConnectionError, Timeout)):
        return (
            f"Cannot download {source}: the Hugging Face Hub is unreachable (or offline mode is on) and no copy "
            f"is cached. {local_hint}"
        )
    if isinstance(error, EntryNotFoundError):
        return f"{source} is not a SAM checkpoint: the repo has no config.json."
    if isinstance(error, HfHubHTTPError):
        return f"The Hub refused {source}: {error}"
    return f"Cannot load {source}: {type(error).__name__}: {error}"
