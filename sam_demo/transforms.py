"""The three frames SAM works in, and the moves between them.

* the original image, in its own pixels (what users click on and what masks are returned in);
* the model input: the image resized so that its longest side is 1024, then padded at the bottom and right
  to 1024 x 1024 (prompt coordinates live here);
* the low-resolution mask grid, 256 x 256, covering the padded model input (what the decoder predicts).

Everything here exists once and is shared by the predictor, training and evaluation.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from transformers import SamProcessor


def resized_size(original_size: tuple[int, int], longest_edge: int = 1024) -> tuple[int, int]:
    """(height, width) of the image inside the model input, rounded as the SAM image processor rounds it."""
    height, width = original_size
    scale = longest_edge / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def to_model_frame(
    coords: np.ndarray, original_size: tuple[int, int], resized: tuple[int, int]
) -> np.ndarray:
    """Map (..., 2) arrays of (x, y) original-image pixel coordinates into the model-input frame."""
    coords = np.asarray(coords, dtype=np.float32)
    scale = np.array([resized[1] / original_size[1], resized[0] / original_size[0]], dtype=np.float32)
    return coords * scale


def preprocess_image(processor: SamProcessor, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Pixel values (1, 3, 1024, 1024) for the vision encoder, and the resized (height, width) inside them.

    `image` is an HxWx3 uint8 RGB array (see `image_io.load_image`).
    """
    inputs = processor.image_processor(images=image, return_tensors="np")
    resized = tuple(int(v) for v in inputs["reshaped_input_sizes"][0])
    return inputs["pixel_values"].astype(np.float32), resized


def upscale_logits(
    low_res_logits: tf.Tensor, original_size: tf.Tensor, resized: tf.Tensor, pad_size: int = 1024
) -> tf.Tensor:
    """(N, 256, 256) low-resolution logits -> (N, H, W) logits at the original image size.

    Same steps as `SamImageProcessor.post_process_masks`: bilinear up to the padded input, crop the padding
    away, bilinear to the original size. Works inside a `tf.function` with tensor sizes.
    """
    logits = tf.image.resize(low_res_logits[..., None], (pad_size, pad_size), method="bilinear")
    logits = logits[:, : resized[0], : resized[1], :]
    logits = tf.image.resize(logits, original_size, method="bilinear")
    return logits[..., 0]
