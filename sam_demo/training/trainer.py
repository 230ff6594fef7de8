"""Fine-tuning SAM on batches from `TrainingPipeline`, on every replica of a `tf.distribute` strategy.

By default only the mask decoder (with its IoU head) learns: the vision and prompt encoders are frozen, so each
image's embedding is computed once and every epoch trains on those embeddings (`EncoderRoute.CACHED`). On the
other routes the batches hold pixel values and the step runs the encoder: frozen (`FROZEN_IN_STEP`, the
notebook's way, same loss, far slower) or trained (`TRAINED`).

A single point is ambiguous, so, as in SAM's own training, its three candidate masks are predicted and only
the best one is penalised; every other prompt trains the single-mask output.

Losses are summed per example and divided by the global batch size, so that N replicas with B examples each
take the same step as one device with N x B examples (the optimizer sums the replicas' gradients).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras
from transformers import TFSamModel

from ..core.decoding import SamDecoder
from .encoder_route import EncoderRoute
from .losses import bce_per_example, dice_per_example, iou_head_errors


class SamTrainer:
    """Trains `model`'s mask decoder (and, if asked, its vision encoder); the prompt encoder stays frozen.

    Create the model inside `strategy.scope()` (its variables must be the strategy's); the optimizer is made
    here, in the same scope. A model loaded with mixed precision float16 gets loss scaling.
    """

    def __init__(
        self,
        model: TFSamModel,
        *,
        strategy: tf.distribute.Strategy | None = None,
        learning_rate: float = 1e-5,
        weight_decay: float = 0.0,
        bce_weight: float = 0.0,
        iou_weight: float = 1.0,
        route: EncoderRoute = EncoderRoute.CACHED,
    ):
        self.model = model
        self.strategy = strategy or tf.distribute.get_strategy()
        self.sam = SamDecoder(model)
        self.bce_weight = bce_weight
        self.iou_weight = iou_weight
        self.route = route
        model.prompt_encoder.trainable = False
        model.vision_encoder.trainable = route.trains_encoder
        self.variables = list(model.mask_decoder.trainable_variables)
        if route.trains_encoder:
            self.variables += model.vision_encoder.trainable_variables
        self.loss_scaling = model.vision_encoder.compute_dtype == "float16"  # float16 gradients underflow
        with self.strategy.scope():
            optimizer = tf_keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
            if self.loss_scaling:
                optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
            optimizer.build(self.variables)  # slots exist now, so a checkpoint can restore them
        self.optimizer = optimizer
        self._step = tf.function(self._distributed_step, autograph=False)  # graph-safe code: traces faster
        # XLA fuses the ViT's attention and normalisation ops (about 1.5x faster on CPU; see SamPredictor).
        self._encode = tf.function(model.get_image_embeddings, jit_compile=True)

    def losses(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Mean loss terms of one batch from `TrainingPipeline`, without a step (on the current device)."""
        return self._weighted_means(self._embeddings(batch["inputs"]), batch, tf.reduce_sum(batch["weight"]))

    def train_epoch(self, dataset: tf.data.Dataset, on_step: Callable[[float], None] | None = None) -> float:
        """One optimiser step per batch of `dataset` (global batches); returns the mean training loss.

        `on_step` receives the running mean loss after each step (for a progress bar).
        """
        losses = []
        for batch in self.strategy.experimental_distribute_dataset(dataset):
            losses.append(float(self._step(batch)["loss"]))
            if on_step is not None:
                on_step(float(np.mean(losses)))
        return float(np.mean(losses))

    def _distributed_step(self, batch):
        terms = self.strategy.run(self._replica_step, args=(batch,))
        return {
            name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for name, value in terms.items()
        }

    def _replica_step(self, batch):
        # Only real examples count (the last batch is filled up with weight-0 copies), on every replica.
        global_count = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, tf.reduce_sum(batch["weight"])
        )
        # A frozen encoder runs before the tape: its variables are still trainable tf.Variables (Keras'
        # `trainable=False` does not change that), so a tape would record its whole forward pass and keep every
        # activation for a gradient nobody takes (ViT-B ran out of 24 GB that way). Only a trained one is taped.
        frozen = None if self.route.trains_encoder else self._embeddings(batch["inputs"])
        with tf.GradientTape() as tape:
            embeddings = self._embeddings(batch["inputs"]) if frozen is None else frozen
            terms = self._weighted_means(embeddings, batch, global_count)
            loss = self.optimizer.get_scaled_loss(terms["loss"]) if self.loss_scaling else terms["loss"]
        gradients = tape.gradient(loss, self.variables)
        if self.loss_scaling:
            gradients = self.optimizer.get_unscaled_gradients(gradients)
        self.optimizer.apply_gradients(zip(gradients, self.variables))
        return terms

    def _weighted_means(
        self, embeddings: tf.Tensor, batch: dict[str, tf.Tensor], count: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Each loss term summed over the batch's real examples (weight 1, not the filler) and divided by count."""
        per_example = self._per_example(embeddings, batch)
        return {name: tf.reduce_sum(values * batch["weight"]) / count for name, values in per_example.items()}

    def _embeddings(self, inputs: tf.Tensor) -> tf.Tensor:
        """(B, C, 64, 64) float32: stored embeddings pass through; on the other routes pixels go through the encoder."""
        if self.route.encoder_in_step:
            inputs = self._encode(inputs)
        return tf.cast(inputs, tf.float32)

    def _per_example(self, embeddings: tf.Tensor, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """(B,) loss terms for the batch's prompts (all examples share one prompt kind: see PromptSampler)."""
        targets, valid = batch["target"], batch["valid"]
        count = tf.reduce_max(batch["point_count"])  # the same for every example of the batch
        sparse = self.sam.sparse_embeddings(batch["points"], batch["labels"], batch["boxes"], count == 0, count)
        masks, predicted_iou = self.sam.all_masks(
            embeddings, sparse, self.sam.no_mask_dense_embeddings(tf.shape(embeddings)[0])
        )
        chosen, chosen_iou = self._best_candidate(masks, predicted_iou, targets, valid)
        single_point = count == 1  # `wants_multimask` (core.prompt_kinds); a batch has points or a box, never both
        chosen = tf.where(single_point, chosen, masks[:, 0])
        chosen_iou = tf.where(single_point, chosen_iou, predicted_iou[:, 0])
        terms = {"dice": dice_per_example(chosen, targets, valid)}
        terms["iou_head"] = iou_head_errors(chosen_iou, chosen, targets, valid)
        total = terms["dice"] + self.iou_weight * terms["iou_head"]
        if self.bce_weight:
            terms["bce"] = bce_per_example(chosen, targets, valid)
            total += self.bce_weight * terms["bce"]
        terms["loss"] = total
        return terms

    @staticmethod
    def _best_candidate(masks, predicted_iou, targets, valid):
        """Per example, the multimask candidate (1-3) with the lowest Dice loss, and its predicted IoU."""
        candidates = masks[:, 1:]
        count = tf.shape(candidates)[1]
        flat = tf.reshape(candidates, (-1, *candidates.shape[2:]))
        repeat = lambda t: tf.repeat(t, count, axis=0)  # noqa: E731
        per_candidate = tf.reshape(dice_per_example(flat, repeat(targets), repeat(valid)), (-1, count))
        best = tf.argmin(per_candidate, axis=1, output_type=tf.int32)
        return tf.gather(candidates, best, batch_dims=1), tf.gather(predicted_iou[:, 1:], best, batch_dims=1)
