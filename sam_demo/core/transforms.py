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
from PIL import Image
from transformers import SamProcessor

from .prompts import LOW_RES_SIZE


def resized_size(original_size: tuple[int, int], longest_edge: int = 1024) -> tuple[int, int]:
    """(height, width) of the image inside the model input, rounded as the SAM image processor rounds it."""
    height, width = original_size
    scale = longest_edge / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def to_model_frame(coords: np.ndarray, original_size: tuple[int, int], resized: tuple[int, int]) -> np.ndarray:
    """Map (..., 2) arrays of (x, y) original-image pixel coordinates into the model-input frame."""
    coords = np.asarray(coords, dtype=np.float32)
    scale = np.array([resized[1] / original_size[1], resized[0] / original_size[0]], dtype=np.float32)
    return coords * scale


def preprocess_image(processor: SamProcessor, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Pixel values (1, 3, 1024, 1024) for the vision encoder, and the resized (height, width) inside them.

    `image` is an HxWx3 uint8 RGB array (see `image_io.load_image`).
    """
    # Stated, not guessed: the processor takes an image 1 or 3 pixels high, (1|3, W, 3), for channels-first.
    inputs = processor.image_processor(images=image, return_tensors="np", input_data_format="channels_last")
    resized = tuple(int(v) for v in inputs["reshaped_input_sizes"][0])
    return inputs["pixel_values"].astype(np.float32), resized


def low_res_target(mask: np.ndarray, low_res_size: int = LOW_RES_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """A ground-truth mask in the decoder's low-resolution frame: (target, valid), both (256, 256) float32.

    The mask goes through the same resize (longest side to 256, as `SamImageProcessor` resizes segmentation
    maps) and bottom/right padding as the image; `valid` is 1 where the image is and 0 on the padding, which
    must not count in a loss.
    """
    height, width = resized_size(mask.shape, low_res_size)
    small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height), Image.BILINEAR)) >= 128
    target = np.zeros((low_res_size, low_res_size), np.float32)
    valid = np.zeros_like(target)
    target[:height, :width] = small
    valid[:height, :width] = 1.0
    return target, valid


def upscale_logits(
    low_res_logits: tf.Tensor, original_size: tf.Tensor, resized: tf.Tensor, pad_size: int = 1024
) -> tf.Tensor:
    """(N, 256, 256) low-resolution logits -> (N, H, W) logits at the original image size.

    The steps of `SamImageProcessor.post_process_masks`: bilinear up to the padded input, crop the padding away,
    bilinear to the original size. Bilinear resizing is linear and separable, so the three steps collapse into
    one (H x 256) matrix for the rows and one (W x 256) for the columns: same result, a third of the time
    (measured 7.5 ms instead of 21 ms for three masks of a 600x480 image). Works inside a `tf.function`.
    """
    low_res = tf.shape(low_res_logits)[1]
    rows = _bilinear_matrix(resized[0], original_size[0]) @ _bilinear_matrix(low_res, pad_size)[: resized[0]]
    cols = _bilinear_matrix(resized[1], original_size[1]) @ _bilinear_matrix(low_res, pad_size)[: resized[1]]
    return tf.einsum("hi,nij,wj->nhw", rows, low_res_logits, cols)


def _bilinear_matrix(in_size: tf.Tensor, out_size: tf.Tensor) -> tf.Tensor:
    """(out, in) matrix of `tf.image.resize(..., method="bilinear")` along one axis (half-pixel centres)."""
    scale = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
    source = (tf.cast(tf.range(out_size), tf.float32) + 0.5) * scale - 0.5
    below = tf.floor(source)
    weight_above = (source - below)[:, None]
    below = tf.cast(below, tf.int32)
    lower = tf.one_hot(tf.clip_by_value(below, 0, in_size - 1), in_size)
    upper = tf.one_hot(tf.clip_by_value(below + 1, 0, in_size - 1), in_size)
    return lower * (1.0 - weight_above) + upper * weight_above
