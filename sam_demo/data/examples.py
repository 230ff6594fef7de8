"""Examples ready for the mask decoder: an image with its embedding (or none yet), its mask and low-res target.

Training, validation and evaluation all work on these; each image's encoder run happens here, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..core.embedding_cache import image_key
from ..core.predictor import PreparedImage, SamPredictor
from ..core.transforms import low_res_target, resized_size
from .loading import LoadedExample


@dataclass(frozen=True, eq=False)
class TrainingExample:
    """One image/mask pair, ready for the decoder: the frozen encoder's output and the low-res target."""

    name: str
    label: str | None
    image: PreparedImage  # the image and its sizes: an EncodedImage, with its embedding, when embedded beforehand
    mask: np.ndarray  # (H, W) bool at the original size, for prompts and metrics
    target: np.ndarray  # (256, 256) float32 in the decoder's frame
    valid: np.ndarray  # (256, 256) float32: 1 over the image, 0 over the padding


def embed_examples(predictor: SamPredictor, loaded: Iterable[LoadedExample]) -> list[TrainingExample]:
    """Run the vision encoder once per image (the predictor's own preprocessing) and prepare targets."""
    return [_training_example(item, predictor.encode(item.image)) for item in loaded]


def unembedded_examples(loaded: list[LoadedExample], image_size: int) -> list[TrainingExample]:
    """Examples whose encoder runs in every training step: no embedding computed (it would go stale)."""
    return [
        _training_example(
            item,
            PreparedImage(image_key(item.image), item.image, resized_size(item.image.shape[:2], image_size)),
        )
        for item in loaded
    ]


def _training_example(item: LoadedExample, image: PreparedImage) -> TrainingExample:
    target, valid = low_res_target(item.mask)
    return TrainingExample(item.example.name, item.example.label, image, item.mask, target, valid)
