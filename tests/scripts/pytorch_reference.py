"""PyTorch reference for the TF port: a tiny SAM checkpoint saved by transformers' PyTorch `SamModel`, and its
outputs on a real image, for tests that load PyTorch checkpoints in TF (and TF-saved checkpoints in PyTorch).

Runs under transformers 5.x (the layout of the Hub's checkpoints) and 4.57 with torch:

    python tests/scripts/pytorch_reference.py --make OUT_DIR
        the seeded tiny model saved with save_pretrained, reloaded strictly, and its outputs on the image in
        OUT_DIR/pytorch_outputs.npz (+ OUT_DIR/pytorch_versions.json)
    python tests/scripts/pytorch_reference.py --check FOLDER [--outputs FILE.npz]
        loads a checkpoint folder saved by anything else (e.g. the TF port) strictly; exits 1 on any missing,
        unexpected or mismatched key (or a safetensors format other than "pt", or tied keys that differ), else
        writes the outputs for the same prompts to FILE.npz

Layout of the .npz (cases: "point", "box", "points_box", "point_mask"; M = 3 masks with multimask output, else 1):
    image_size (2,) int64                  original (height, width)
    reshaped_input_size (2,) int64         (height, width) after resizing the longest edge to 1024
    image_sha256 str                       of the image file's bytes
    pixel_values_sample (3, 16, 16) f32    pixel_values[0, :, ::64, ::64]
    image_embeddings_sample (C, 8, 8) f32  image embeddings[0, :, ::8, ::8]
    cases (4,) str
    {case}.multimask_output () bool
    The prompts, each only in the cases that have it ("box" has no points, only "points_box" has both):
    {case}.input_points (1, 1, N, 2) f32   (x, y) in pixels of the original image
    {case}.input_labels (1, 1, N) int64    1 positive, 0 negative
    {case}.input_boxes (1, 1, 4) f32       (x0, y0, x1, y1) in pixels of the original image
    point_mask.input_masks (1, 1, 256, 256) f32  = point.pred_masks[:, 0, i:i+1] with i = argmax point.iou_scores
    {case}.model_input_points / model_input_labels / model_input_boxes: the same prompts as the processor handed
        them to the model (coordinates in the resized 1024 frame)
    The outputs:
    {case}.iou_scores (1, 1, M) f32
    {case}.pred_masks (1, 1, M, 256, 256) f32   low-resolution logits
    {case}.masks_packed (K,) uint8 + {case}.masks_shape (5,) int64: full-resolution boolean masks of shape
        (1, 1, M, height, width) from post_process_masks(binarize=True); see `unpack_masks`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import zlib
from pathlib import Path

if __name__ == "__main__":
    # As a script, keep transformers 4.x from importing TensorFlow too (slow, and not needed here). Not done on
    # import: a TF test process that imports this module needs transformers' TF classes.
    os.environ.setdefault("USE_TF", "0")

import numpy as np
import safetensors
import torch
import transformers
from PIL import Image
from torch import nn
from transformers import SamConfig, SamModel, SamProcessor

try:
    # transformers 5: the PIL backend computes what 4.x's SamImageProcessor (and so the TF port) computes; the
    # default backend needs torchvision, and 5.x falls back to this one without it anyway.
    from transformers import SamImageProcessorPil as _ImageProcessor
except ImportError:  # transformers 4.x
    from transformers import SamImageProcessor as _ImageProcessor

REPO = Path(__file__).resolve().parents[2]
DEFAULT_IMAGE = REPO / "examples" / "phantom_0.png"
OUTPUTS_FILE = "pytorch_outputs.npz"
VERSIONS_FILE = "pytorch_versions.json"
CASES = ("point", "box", "points_box", "point_mask")
# Tied in PyTorch (one shared Parameter in 5.x, buffers sharing storage in 4.57): the second takes the first's values.
SOURCE_KEY = "shared_image_embedding.positional_embedding"
TIED_KEY = "prompt_encoder.shared_embedding.positional_embedding"


def tiny_config() -> SamConfig:
    """The configuration of the project's `sam_demo.core.model.tiny_sam` (about 0.23 M parameters)."""
    return SamConfig(
        vision_config=dict(
            hidden_size=32,
            output_channels=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_dim=64,
            window_size=8,
            global_attn_indexes=[1],
            num_pos_feats=16,
        ),
        prompt_encoder_config=dict(hidden_size=32, mask_input_channels=8),
        mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32),
    )


def make_model(seed: int = 0) -> SamModel:
    """The tiny SAM with every parameter and persistent buffer drawn from seeded noise.

    Each tensor is drawn from a generator seeded by `seed` and the tensor's name, so the weights do not depend
    on the transformers version's own initialisation (4.57 and 5.x give identical models). None is constant,
    zero or symmetric (PyTorch's init leaves zero positional embeddings and biases and unit layer norms), so a
    transposed or unloaded tensor changes the outputs; the scales keep activations of order 1.
    """
    torch.manual_seed(seed)
    model = SamModel(tiny_config()).eval()
    drawn = set()
    with torch.no_grad():
        for module_name, module in model.named_modules():
            tensors = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
            for leaf, tensor in tensors:
                name = f"{module_name}.{leaf}" if module_name else leaf
                if name == TIED_KEY:
                    continue
                tensor.copy_(_draw(name, module, leaf, tuple(tensor.shape), seed))
                drawn.add(name)
        tied = model.prompt_encoder.shared_embedding.positional_embedding
        tied.copy_(model.shared_image_embedding.positional_embedding)  # a no-op where the storage is shared
    undrawn = set(model.state_dict()) - drawn - {TIED_KEY}
    if undrawn:
        raise RuntimeError(f"tensors left at their default initialisation: {sorted(undrawn)}")
    return model


def _draw(name: str, module: nn.Module, leaf: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    noise = torch.randn(shape, generator=generator)
    if isinstance(module, nn.LayerNorm) or "LayerNorm" in type(module).__name__:
        return 1 + 0.1 * noise if leaf == "weight" else 0.1 * noise
    if leaf == "bias":
        return 0.1 * noise
    if isinstance(module, nn.ConvTranspose2d):  # (in, out, k, k) with stride k: each output sees `in` inputs
        return noise / math.sqrt(shape[0])
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        return noise / math.sqrt(math.prod(shape[1:]))
    if leaf == "positional_embedding":
        return noise  # the random Fourier features: standard deviation 1 as in Meta's SAM and tiny_sam
    if leaf in ("pos_embed", "rel_pos_h", "rel_pos_w"):
        return 0.3 * noise
    if isinstance(module, nn.Embedding):
        return noise
    raise ValueError(f"no initialisation rule for {name} ({type(module).__name__})")


def make_processor() -> SamProcessor:
    """SamProcessor with the image processor's defaults (longest edge 1024, padded to 1024 x 1024)."""
    return SamProcessor(image_processor=_ImageProcessor())


def load_image(path: str | os.PathLike = DEFAULT_IMAGE) -> Image.Image:
    return Image.open(path).convert("RGB")


def reference_prompts(width: int, height: int) -> dict[str, dict]:
    """The prompts of each case, in (x, y) pixels of the original image; `input_masks` is filled in later."""
    centre = [round(0.52 * width), round(0.47 * height)]
    box = [round(width / 3), round(height / 3), round(2 * width / 3), round(2 * height / 3)]
    negative = [box[0] + (box[2] - box[0]) // 5, box[1] + (box[3] - box[1]) // 4]
    return {
        "point": dict(input_points=[[[centre]]], input_labels=[[[1]]], multimask_output=True),
        "box": dict(input_boxes=[[box]], multimask_output=False),
        "points_box": dict(
            input_points=[[[centre, negative]]], input_labels=[[[1, 0]]], input_boxes=[[box]], multimask_output=True
        ),
        "point_mask": dict(input_points=[[[centre]]], input_labels=[[[1]]], multimask_output=False),
    }


@torch.no_grad()
def predict_reference(model: SamModel, processor: SamProcessor, image: Image.Image) -> dict[str, np.ndarray]:
    """The model's float32 outputs for each case of `reference_prompts`, with the prompts (layout: module doc)."""
    model = model.float().eval()
    width, height = image.size
    base = processor(images=image, return_tensors="pt")
    pixel_values = base["pixel_values"].float()
    embeddings = model.get_image_embeddings(pixel_values)
    out: dict[str, np.ndarray] = {
        "image_size": base["original_sizes"][0].numpy().astype(np.int64),
        "reshaped_input_size": base["reshaped_input_sizes"][0].numpy().astype(np.int64),
        "pixel_values_sample": pixel_values[0, :, ::64, ::64].numpy(),
        "image_embeddings_sample": embeddings[0, :, ::8, ::8].numpy(),
        "cases": np.array(CASES),
    }
    for case, prompts in reference_prompts(width, height).items():
        multimask = prompts.pop("multimask_output")
        inputs = processor(images=image, return_tensors="pt", **prompts)
        model_prompts = {key: inputs[key] for key in ("input_points", "input_labels", "input_boxes") if key in inputs}
        if case == "point_mask":  # (a)'s best candidate's low-resolution logits as the mask prompt
            best = int(np.argmax(out["point.iou_scores"][0, 0]))
            model_prompts["input_masks"] = torch.from_numpy(out["point.pred_masks"][:, 0, best : best + 1].copy())
            out[f"{case}.input_masks"] = model_prompts["input_masks"].numpy()
        result = model(image_embeddings=embeddings, multimask_output=multimask, **model_prompts)
        masks = processor.image_processor.post_process_masks(
            result.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"], binarize=True
        )
        out[f"{case}.multimask_output"] = np.array(multimask)
        for key, value in prompts.items():
            dtype = np.int64 if key == "input_labels" else np.float32
            out[f"{case}.{key}"] = np.array(value, dtype=dtype)
            out[f"{case}.model_{key}"] = model_prompts[key].numpy().astype(dtype)
        out[f"{case}.iou_scores"] = result.iou_scores.float().numpy()
        out[f"{case}.pred_masks"] = result.pred_masks.float().numpy()
        out[f"{case}.masks"] = torch.stack(masks).numpy().astype(bool)
    return out


def check_not_degenerate(outputs: dict[str, np.ndarray]) -> None:
    """Raise unless every mask has foreground and background and the IoU scores differ."""
    scores = np.concatenate([outputs[f"{case}.iou_scores"].ravel() for case in CASES])
    if np.ptp(scores) < 1e-3:
        raise RuntimeError(f"IoU scores are (nearly) all equal: {scores}")
    for case in CASES:
        masks = outputs[f"{case}.masks"]
        coverage = masks.reshape(-1, *masks.shape[-2:]).mean(axis=(1, 2))
        if not np.all((coverage > 0.01) & (coverage < 0.99)):
            raise RuntimeError(f"{case}: a mask is (nearly) all foreground or background: coverage {coverage}")


def save_outputs(path: str | os.PathLike, outputs: dict[str, np.ndarray], image_path: Path) -> None:
    """np.savez_compressed, with the boolean masks bit-packed (`{case}.masks_packed` and `{case}.masks_shape`)."""
    arrays = {}
    for key, value in outputs.items():
        if value.dtype == bool and value.ndim > 0:
            arrays[f"{key}_packed"] = np.packbits(value.ravel())
            arrays[f"{key}_shape"] = np.array(value.shape, dtype=np.int64)
        else:
            arrays[key] = value
    arrays["image_sha256"] = np.array(hashlib.sha256(Path(image_path).read_bytes()).hexdigest())
    np.savez_compressed(path, **arrays)


def unpack_masks(npz, case: str) -> np.ndarray:
    """The full-resolution boolean masks of a case from a loaded .npz: (1, 1, M, height, width)."""
    shape = tuple(int(n) for n in npz[f"{case}.masks_shape"])
    return np.unpackbits(npz[f"{case}.masks_packed"], count=math.prod(shape)).reshape(shape).astype(bool)


def versions() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "image_processor": _ImageProcessor.__name__,
    }


def load_strict(folder: str | os.PathLike) -> tuple[SamModel | None, dict[str, list]]:
    """SamModel.from_pretrained(folder) and its loading problems: missing, unexpected and mismatched keys, and
    those of `inspect_weights` (then nothing is loaded: the model is None).

    Mismatched shapes are reported (ignore_mismatched_sizes) rather than raised, to be listed with the rest.
    """
    problems = inspect_weights(Path(folder) / "model.safetensors")
    if any(problems.values()):
        return None, problems
    model, info = SamModel.from_pretrained(str(folder), output_loading_info=True, ignore_mismatched_sizes=True)
    for kind in ("missing_keys", "unexpected_keys"):
        problems[kind] = sorted(map(str, info.get(kind) or []))
    problems["mismatched_keys"] = sorted(  # (key, checkpoint shape, model shape) in 5.x, the key alone in 4.57
        " ".join(map(str, entry)) if isinstance(entry, tuple) else str(entry)
        for entry in info.get("mismatched_keys") or []
    )
    return model.eval(), problems


def inspect_weights(weights: Path) -> dict[str, list]:
    """What loading would hide: a safetensors format other than the Hub's "pt" (transformers 4.57 converts TF
    names, 5.x cannot), and both tied keys present with different values (loading keeps one of them)."""
    problems = {"not_pt_format": [], "tied_keys_differing": []}
    if not weights.is_file():  # e.g. sharded, or no safetensors at all: left to from_pretrained
        print(f"{weights}: not there")
        return problems
    with safetensors.safe_open(weights, framework="np") as file:
        metadata = file.metadata() or {}
        print(f"{weights}: metadata {metadata}")
        if metadata.get("format") != "pt":
            problems["not_pt_format"] = [f"format {metadata.get('format')!r}"]
        pair = [SOURCE_KEY, TIED_KEY]
        if set(pair) <= set(file.keys()) and not np.array_equal(*map(file.get_tensor, pair)):
            problems["tied_keys_differing"] = pair
    return problems


def report_problems(folder, problems: dict[str, list]) -> bool:
    """Print the counts (and names) of the loading problems; True if there are none."""
    print(f"{folder}: " + ", ".join(f"{len(keys)} {kind.replace('_', ' ')}" for kind, keys in problems.items()))
    for kind, keys in problems.items():
        for key in keys:
            print(f"  {kind}: {key}")
    return not any(problems.values())


def make_reference(out_dir: Path, image_path: Path, seed: int = 0) -> None:
    model, processor = make_model(seed), make_processor()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    loaded, problems = load_strict(out_dir)
    if not report_problems(out_dir, problems):
        raise SystemExit(1)
    saved = model.state_dict()
    differing = [key for key, value in loaded.state_dict().items() if not torch.equal(value, saved[key])]
    if differing:
        raise SystemExit(f"reloaded tensors differ from the saved model: {differing}")
    outputs = predict_reference(loaded, processor, load_image(image_path))
    check_not_degenerate(outputs)
    save_outputs(out_dir / OUTPUTS_FILE, outputs, image_path)
    (out_dir / VERSIONS_FILE).write_text(json.dumps(dict(versions(), seed=seed), indent=2) + "\n")
    print(f"wrote {out_dir} with transformers {transformers.__version__}")


def check_checkpoint(folder: Path, image_path: Path, outputs_path: Path | None) -> int:
    model, problems = load_strict(folder)
    if not report_problems(folder, problems):
        return 1
    if outputs_path is not None:
        outputs = predict_reference(model, make_processor(), load_image(image_path))
        save_outputs(outputs_path, outputs, image_path)
        print(f"wrote {outputs_path} with transformers {transformers.__version__}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--make", type=Path, metavar="OUT_DIR", help="save the reference checkpoint and outputs")
    action.add_argument("--check", type=Path, metavar="FOLDER", help="load a checkpoint folder strictly")
    parser.add_argument("--outputs", type=Path, metavar="FILE.npz", help="with --check: where to write the outputs")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="default: examples/phantom_0.png")
    parser.add_argument("--seed", type=int, default=0, help="with --make: the weights' seed (default 0)")
    args = parser.parse_args(argv)
    if args.outputs is not None and args.check is None:
        parser.error("--outputs goes with --check")
    if args.make is not None:
        make_reference(args.make, args.image, args.seed)
        return 0
    return check_checkpoint(args.check, args.image, args.outputs)


if __name__ == "__main__":
    sys.exit(main())
