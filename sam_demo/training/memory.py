"""Will training the vision encoder fit in this machine's memory? Estimated from the checkpoint's config, before a run.

With the encoder trained, a step keeps every image's activations for the backward pass: about 10 GB per image at
ViT-B. The figures below were measured on CPU with `python -m sam_demo.bench train-encoder` at ViT-B's width
(README, "Training the vision encoder"); other sizes scale them by width and depth, an estimate, not a measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf
from transformers import SamConfig, SamVisionConfig

# Measured at ViT-B's width (768) on CPU, per image (MB), with 3, 6 and 12 blocks (README): without checkpointing a
# step keeps about the same for every block, windowed or global, and its peak adds one global block's backward
# pass (its 4096 x 4096 attention maps) and what lies outside the blocks (patch embedding, neck, mask decoder).
# The peaks of two measurements of the whole ViT-B differed by up to 8 %; the figures are set to cover the higher.
KEPT_PER_BLOCK_MB = 790
GLOBAL_BLOCK_PEAK_MB = 2100
# With gradient checkpointing a block keeps little more than its input, and one global block is recomputed at a time.
CHECKPOINTED_KEPT_PER_BLOCK_MB = 45
RECOMPUTED_PEAK_MB = 2700
# Besides the images: the process before its model (TensorFlow, transformers), and per trained parameter the
# float32 weight, its gradient, AdamW's two moments and the update's temporaries (fitted on 1 to 12 blocks).
RUNTIME_MB = 1600
BYTES_PER_TRAINED_PARAMETER = 28
MEASURED_WIDTH = 768


class InsufficientMemoryError(RuntimeError):
    """The run would not fit in memory; the message says which flags would make it fit."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of training with the encoder trained: fixed_mb + per_image_mb x batch size."""

    fixed_mb: float
    per_image_mb: float

    def total_mb(self, batch_size: int) -> float:
        return self.fixed_mb + batch_size * self.per_image_mb

    def largest_batch(self, available_mb: float) -> int:
        """The largest batch size that fits in `available_mb` (0 if none does)."""
        return max(0, math.floor((available_mb - self.fixed_mb) / self.per_image_mb))


def encoder_training_estimate(vision: SamVisionConfig, gradient_checkpointing: bool) -> MemoryEstimate:
    """The estimate for a SAM whose vision encoder has `vision`'s settings (the prompt encoder and mask decoder
    are the same for all sizes). Other widths scale the ViT-B figures: Meta's sizes add heads with the width
    (64 wide each; ViT-H's are 80, so for it the estimate is on the high side)."""
    scale = vision.hidden_size / MEASURED_WIDTH
    blocks = vision.num_hidden_layers
    if gradient_checkpointing:
        per_image = RECOMPUTED_PEAK_MB + blocks * CHECKPOINTED_KEPT_PER_BLOCK_MB
    else:
        per_image = GLOBAL_BLOCK_PEAK_MB + blocks * KEPT_PER_BLOCK_MB
    fixed = RUNTIME_MB + _trained_parameters(vision) * BYTES_PER_TRAINED_PARAMETER / 2**20
    return MemoryEstimate(fixed, scale * per_image)


def _trained_parameters(vision: SamVisionConfig) -> int:
    """The encoder's blocks (attention and MLP matrices), its position embedding, and about 5.5 M more (the mask
    decoder, patch embedding and neck)."""
    width, grid = vision.hidden_size, vision.image_size // vision.patch_size
    return vision.num_hidden_layers * (4 * width * width + 2 * width * vision.mlp_dim) + grid * grid * width + 5_500_000


def shortfall(
    batch_size: int,
    gradient_checkpointing: bool,
    available_mb: float,
    plain: MemoryEstimate,
    checkpointed: MemoryEstimate,
) -> str | None:
    """One line saying why the run cannot fit and what would, or None when it fits."""
    chosen = checkpointed if gradient_checkpointing else plain
    if chosen.total_mb(batch_size) <= available_mb:
        return None
    flags = f"--batch-size {batch_size}" + (" and --gradient-checkpointing" if gradient_checkpointing else "")
    need = (
        f"training the vision encoder with {flags} needs about {_gb(chosen.total_mb(batch_size))} GB "
        f"({_gb(chosen.fixed_mb)} GB for the model and optimizer, {_gb(chosen.per_image_mb)} GB per image), "
        f"but {_gb(available_mb)} GB of memory are available"
    )
    return f"{need}; {_what_fits(batch_size, gradient_checkpointing, available_mb, plain, checkpointed)}."


def _what_fits(
    batch_size: int,
    gradient_checkpointing: bool,
    available_mb: float,
    plain: MemoryEstimate,
    checkpointed: MemoryEstimate,
) -> str:
    with_checkpointing = checkpointed.largest_batch(available_mb)
    if with_checkpointing == 0:
        return (
            "it does not fit even with --gradient-checkpointing and --batch-size 1: use a machine with more memory, "
            "or leave out --train-vision-encoder"
        )
    if gradient_checkpointing:
        return f"use --batch-size {with_checkpointing}"
    if with_checkpointing >= batch_size:
        return f"add --gradient-checkpointing (about {_gb(checkpointed.total_mb(batch_size))} GB)"
    return f"add --gradient-checkpointing and use --batch-size {with_checkpointing}"


def _gb(megabytes: float) -> str:
    return f"{megabytes / 1024:.1f}"


def available_memory_mb() -> float:
    """What this process may still use: /proc/meminfo's MemAvailable, or less if a cgroup limit says so."""
    available = _meminfo_mb("MemAvailable")
    limit, used = Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")
    try:
        if limit.read_text().strip() != "max":
            available = min(available, (int(limit.read_text()) - int(used.read_text())) / 2**20)
    except (OSError, ValueError):  # no cgroup v2 memory controller here
        pass
    return available


def _meminfo_mb(field: str) -> float:
    with open("/proc/meminfo") as meminfo:
        return next(int(line.split()[1]) for line in meminfo if line.startswith(field + ":")) / 1024


def check_encoder_training_memory(model: str, batch_size: int, gradient_checkpointing: bool) -> None:
    """Raise `InsufficientMemoryError` when training `model`'s encoder at `batch_size` cannot fit in memory.

    Only on CPU: on a GPU the activations live in the GPU's memory, which TensorFlow does not report before it
    allocates. A config that cannot be read is left to `load_sam`, which says why.
    """
    if tf.config.list_physical_devices("GPU"):
        return
    try:
        vision = SamConfig.from_pretrained(model).vision_config
    except (OSError, ValueError):
        return
    estimates = [encoder_training_estimate(vision, checkpointing) for checkpointing in (False, True)]
    message = shortfall(batch_size, gradient_checkpointing, available_memory_mb(), *estimates)
    if message:
        raise InsufficientMemoryError(message)
