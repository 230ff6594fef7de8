"""The training losses against values computed by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from sam_demo.training.losses import bce_loss, dice_loss, iou_head_loss, mask_iou


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_dice_by_hand_for_one_example():
    logits = tf.constant([[[0.0, 2.0], [-2.0, 1.0]]])
    targets = tf.constant([[[1.0, 1.0], [0.0, 0.0]]])
    p = [sigmoid(0.0), sigmoid(2.0), sigmoid(-2.0), sigmoid(1.0)]
    t = [1, 1, 0, 0]
    intersection = sum(a * b for a, b in zip(p, t))
    squared = 1 - (2 * intersection + 1e-5) / (sum(a * a for a in p) + sum(t) + 1e-5)
    plain = 1 - (2 * intersection + 1e-5) / (sum(p) + sum(t) + 1e-5)
    assert float(dice_loss(logits, targets)) == pytest.approx(squared, rel=1e-6)
    assert float(dice_loss(logits, targets, squared_pred=False)) == pytest.approx(plain, rel=1e-6)


def test_dice_is_a_mean_over_examples_whatever_the_batch_size():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 8, 8)).astype(np.float32)
    targets = (rng.random((4, 8, 8)) > 0.6).astype(np.float32)
    singles = [float(dice_loss(logits[i : i + 1], targets[i : i + 1])) for i in range(4)]
    assert float(dice_loss(logits, targets)) == pytest.approx(np.mean(singles), rel=1e-6)
    assert float(dice_loss(logits[:2], targets[:2])) == pytest.approx(np.mean(singles[:2]), rel=1e-6)


def test_perfect_and_opposite_predictions():
    targets = np.zeros((1, 6, 6), np.float32)
    targets[0, 2:4, 2:4] = 1
    confident = np.where(targets > 0, 30.0, -30.0).astype(np.float32)
    assert float(dice_loss(confident, targets)) == pytest.approx(0.0, abs=1e-6)
    assert float(dice_loss(-confident, targets)) == pytest.approx(1.0, abs=1e-6)
    assert float(bce_loss(confident, targets)) == pytest.approx(0.0, abs=1e-6)


def test_padding_does_not_count():
    targets = np.zeros((1, 4, 4), np.float32)
    targets[0, :2, :2] = 1
    logits = np.where(targets > 0, 30.0, -30.0).astype(np.float32)
    valid = np.zeros((1, 4, 4), np.float32)
    valid[0, :, :2] = 1  # the right half is padding
    garbage = logits.copy()
    garbage[0, :, 2:] = 30.0  # confident "tumour" in the padding
    assert float(dice_loss(garbage, targets, valid)) == pytest.approx(0.0, abs=1e-6)
    assert float(dice_loss(garbage, targets)) > 0.3
    assert float(mask_iou(garbage, targets, valid)[0]) == pytest.approx(1.0)
    assert float(bce_loss(garbage, targets, valid)) == pytest.approx(0.0, abs=1e-6)


def test_bce_by_hand():
    logits = tf.constant([[[0.0, 2.0]]])
    targets = tf.constant([[[1.0, 0.0]]])
    expected = (-math.log(sigmoid(0.0)) - math.log(1 - sigmoid(2.0))) / 2
    assert float(bce_loss(logits, targets)) == pytest.approx(expected, rel=1e-6)


def test_iou_head_loss_trains_the_head_towards_the_real_iou():
    targets = np.zeros((2, 4, 4), np.float32)
    targets[:, :2, :2] = 1  # 4 pixels
    logits = np.full((2, 4, 4), -5.0, np.float32)
    logits[0, :2, :] = 5.0  # predicts 8 pixels, 4 right: IoU 0.5
    logits[1, :2, :2] = 5.0  # exact: IoU 1
    np.testing.assert_allclose(mask_iou(logits, targets).numpy(), [0.5, 1.0])
    predicted = tf.Variable([[0.9], [0.6]])
    logits_variable = tf.Variable(logits[:, None])
    with tf.GradientTape() as tape:
        loss = iou_head_loss(predicted, logits_variable, targets)
    assert float(loss) == pytest.approx(((0.9 - 0.5) ** 2 + (0.6 - 1.0) ** 2) / 2)
    gradient_head, gradient_mask = tape.gradient(loss, [predicted, logits_variable])
    np.testing.assert_allclose(gradient_head.numpy(), [[0.4], [-0.4]], rtol=1e-5)
    assert gradient_mask is None  # the real IoU is a target, not a gradient path


def test_every_output_score_is_supervised():
    """Each of SAM's outputs gets its own real IoU as target, so the head learns to rank the candidates."""
    targets = np.zeros((1, 4, 4), np.float32)
    targets[:, :2, :2] = 1
    candidates = np.full((1, 3, 4, 4), -5.0, np.float32)
    candidates[0, 0, :2, :2] = 5.0  # IoU 1
    candidates[0, 1, :2, :] = 5.0  # IoU 0.5
    candidates[0, 2, :, :] = 5.0  # IoU 0.25
    predicted = tf.Variable([[0.0, 0.0, 0.0]])
    with tf.GradientTape() as tape:
        loss = iou_head_loss(predicted, candidates, targets)
    assert float(loss) == pytest.approx((1.0 + 0.25 + 0.0625) / 3)
    np.testing.assert_allclose(tape.gradient(loss, predicted).numpy(), [[-2 / 3, -1 / 3, -0.5 / 3]], rtol=1e-5)
