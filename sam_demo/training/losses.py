"""Training losses for SAM's mask decoder, on low-resolution (256 x 256) logits.

* `dice_loss`: MONAI's `DiceLoss(sigmoid=True, squared_pred=True)` as in the notebook this project grew from,
  but computed per example and then averaged, so its value does not depend on the batch size (the notebook
  pooled the whole batch into one Dice when the batch had more than one example).
* `bce_loss`: binary cross-entropy on the same logits, the pixel-wise term beside Dice (train.py weighs them 1:1,
  as MedSAM does). With Dice alone a decoder that cannot yet tell pixels apart settles at one constant probability
  below 0.5 everywhere: Dice's gradient is then nearly flat and the thresholded masks are empty (seen on the tiny
  model as validation Dice 0.13 -> 0.00); BCE pushes every pixel towards its own label from the first step.
* `iou_head_loss`: the notebook never trained SAM's IoU head, so the "IoU score" shown after fine-tuning meant
  nothing. This loss pulls each predicted IoU towards the real IoU of its mask, which calibrates the score the
  app displays and the choice among SAM's three candidates.

Every loss takes a `valid` weight map: the low-resolution grid covers the padded model input, and the padding
is not image, so it must not count.
"""

from __future__ import annotations

import tensorflow as tf


def _valid_or_ones(valid: tf.Tensor | None, like: tf.Tensor) -> tf.Tensor:
    return tf.ones_like(like) if valid is None else tf.cast(valid, like.dtype)


def dice_loss(logits: tf.Tensor, targets: tf.Tensor, valid: tf.Tensor | None = None, **options) -> tf.Tensor:
    """Mean over the batch of `dice_per_example` (same options)."""
    return tf.reduce_mean(dice_per_example(logits, targets, valid, **options))


def dice_per_example(
    logits: tf.Tensor,
    targets: tf.Tensor,
    valid: tf.Tensor | None = None,
    *,
    squared_pred: bool = True,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
) -> tf.Tensor:
    """(B,) 1 - (2 |P n T| + smooth_nr) / (|P| + |T| + smooth_dr), P = sigmoid(logits).

    logits, targets, valid: (B, H, W). With `squared_pred` the denominator sums squares (MONAI's option).
    """
    logits = tf.cast(logits, tf.float32)
    targets = tf.cast(targets, tf.float32)
    weights = _valid_or_ones(valid, targets)
    predictions = tf.sigmoid(logits) * weights
    targets = targets * weights
    axes = [1, 2]
    intersection = tf.reduce_sum(predictions * targets, axis=axes)
    if squared_pred:
        denominator = tf.reduce_sum(tf.square(predictions), axis=axes) + tf.reduce_sum(tf.square(targets), axis=axes)
    else:
        denominator = tf.reduce_sum(predictions, axis=axes) + tf.reduce_sum(targets, axis=axes)
    return 1.0 - (2.0 * intersection + smooth_nr) / (denominator + smooth_dr)


def bce_loss(logits: tf.Tensor, targets: tf.Tensor, valid: tf.Tensor | None = None) -> tf.Tensor:
    """Mean over the batch of `bce_per_example`."""
    return tf.reduce_mean(bce_per_example(logits, targets, valid))


def bce_per_example(logits: tf.Tensor, targets: tf.Tensor, valid: tf.Tensor | None = None) -> tf.Tensor:
    """(B,) binary cross-entropy of sigmoid(logits) against targets, averaged over each example's valid pixels."""
    logits = tf.cast(logits, tf.float32)
    targets = tf.cast(targets, tf.float32)
    weights = _valid_or_ones(valid, targets)
    per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    return tf.reduce_sum(per_pixel * weights, axis=[1, 2]) / tf.maximum(tf.reduce_sum(weights, axis=[1, 2]), 1.0)


def mask_iou(logits: tf.Tensor, targets: tf.Tensor, valid: tf.Tensor | None = None) -> tf.Tensor:
    """(B,) IoU of the thresholded masks (logits > 0) against the targets, over the valid region (1 if both empty)."""
    weights = _valid_or_ones(valid, tf.cast(targets, tf.float32))
    predicted = tf.cast(logits > 0, tf.float32) * weights
    target = tf.cast(targets, tf.float32) * weights
    intersection = tf.reduce_sum(predicted * target, axis=[1, 2])
    union = tf.reduce_sum(tf.maximum(predicted, target), axis=[1, 2])
    return tf.where(union > 0, intersection / tf.maximum(union, 1.0), tf.ones_like(union))


def iou_head_loss(
    predicted_iou: tf.Tensor, logits: tf.Tensor, targets: tf.Tensor, valid: tf.Tensor | None = None
) -> tf.Tensor:
    """Mean over the batch of `iou_head_errors`."""
    return tf.reduce_mean(iou_head_errors(predicted_iou, logits, targets, valid))


def iou_head_errors(
    predicted_iou: tf.Tensor, logits: tf.Tensor, targets: tf.Tensor, valid: tf.Tensor | None = None
) -> tf.Tensor:
    """(B,) squared error between the IoU head's predictions (B, N) and the real IoU of each of the N predicted
    masks (B, N, H, W), averaged over the N outputs.

    Every output's score is supervised, not only the mask that was trained (as SAM 2's fine-tuning does): the app
    shows the candidate with the highest predicted IoU, so the head must rank all of them. The real IoU is a
    target, not a path for gradients: it trains the head, not the masks.
    """
    count = tf.shape(logits)[1]
    flat = tf.reshape(logits, (-1, *logits.shape[2:]))
    repeat = lambda t: None if t is None else tf.repeat(t, count, axis=0)  # noqa: E731
    real_iou = tf.reshape(tf.stop_gradient(mask_iou(flat, repeat(targets), repeat(valid))), (-1, count))
    return tf.reduce_mean(tf.square(tf.cast(predicted_iou, tf.float32) - real_iou), axis=1)
