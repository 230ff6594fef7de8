"""Fine-tuning SAM on batches from `TrainingPipeline`, on every replica of a `tf.distribute` strategy.

By default only the mask decoder (with its IoU head) learns: the vision and prompt encoders are frozen, so each
image's embedding is computed once and every epoch trains on those embeddings (`EncoderRoute.CACHED`). On the
other routes the batches hold pixel values and the step runs the encoder: frozen (`FROZEN_IN_STEP`, the
notebook's way, same loss, far slower) or trained (`TRAINED`).

A single point is ambiguous, so, as in SAM's own training, its three candidate masks are predicted and only
the best one is penalised; every other prompt trains the single-mask output. The IoU head learns the real IoU
of all four outputs.

Interactive rounds (`interactive_rounds` K > 1) simulate the app's click-after-click loop, as SAM was trained:
after the first prompt, K - 1 more decoder passes on the same embedding, each with one more corrective click
(`core.corrective_clicks`, drawn from the error region of the previous round's mask) and, for the examples the
pipeline marked, the previous round's logits as mask prompt. Each round's mask is penalised and the loss is the
mean over rounds, so its scale (and the learning rate that suits it) does not depend on K. The previous round's
logits enter the next round as data (no gradient flows back through them, as in SAM): each round learns to
improve the mask it is given. The rounds are unrolled in the one traced step.

Losses are summed per example and divided by the global batch size, so that N replicas with B examples each
take the same step as one device with N x B examples (the optimizer sums the replicas' gradients).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf
import tf_keras
from transformers import TFSamModel

from ..core.corrective_clicks import next_clicks
from ..core.decoding import SamDecoder
from ..core.prompts import LOW_RES_SIZE
from .encoder_route import EncoderRoute
from .gradient_checkpointing import checkpointed_image_embeddings
from .losses import bce_per_example, dice_per_example, iou_head_errors


class SamTrainer:
    """Trains `model`'s mask decoder (and, if asked, its vision encoder); the prompt encoder stays frozen.

    Create the model inside `strategy.scope()` (its variables must be the strategy's); the optimizer is made
    here, in the same scope. A model loaded with mixed precision float16 gets loss scaling. With
    `gradient_checkpointing`, a trained encoder's ViT blocks are recomputed in the backward pass instead of keeping
    their activations (module `gradient_checkpointing`): the same gradients for far less memory.
    """

    def __init__(
        self,
        model: TFSamModel,
        *,
        strategy: tf.distribute.Strategy | None = None,
        learning_rate: float = 1e-5,
        weight_decay: float = 0.0,
        bce_weight: float = 1.0,
        iou_weight: float = 1.0,
        route: EncoderRoute = EncoderRoute.CACHED,
        interactive_rounds: int = 1,
        gradient_checkpointing: bool = False,
    ):
        self.model = model
        self.strategy = strategy or tf.distribute.get_strategy()
        self.sam = SamDecoder(model)
        self.bce_weight = bce_weight
        self.iou_weight = iou_weight
        self.route = route
        self.interactive_rounds = interactive_rounds
        # Corrective clicks land on low-res cells; each covers (input size / 256)^2 pixels of the model input.
        self.cell_size = model.config.prompt_encoder_config.image_size / LOW_RES_SIZE
        model.prompt_encoder.trainable = False
        model.vision_encoder.trainable = route.trains_encoder
        self.variables = list(model.mask_decoder.trainable_variables)
        if route.trains_encoder:
            self.variables += model.vision_encoder.trainable_variables
        self.loss_scaling = model.vision_encoder.compute_dtype == "float16"  # float16 gradients underflow
        with self.strategy.scope():
            optimizer = tf_keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
            # Decay pulls weights towards 0: right for the matrices, wrong for layer norms (their scale is 1),
            # biases and the learned output tokens, as in BERT's and SAM's recipes. Only kernels decay.
            optimizer.exclude_from_weight_decay(var_list=[v for v in self.variables if not _decays(v)])
            if self.loss_scaling:
                optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
            optimizer.build(self.variables)  # slots exist now, so a checkpoint can restore them
        self.optimizer = optimizer
        self._step = tf.function(self._distributed_step, autograph=False)  # graph-safe code: traces faster
        # A frozen encoder is kept off the tape (see _replica_step): there is nothing of it to recompute.
        checkpointed = gradient_checkpointing and route.trains_encoder
        encode = checkpointed_image_embeddings(model) if checkpointed else model.get_image_embeddings
        # XLA fuses the ViT's attention and normalisation ops (about 1.5x faster on CPU; see SamPredictor).
        self._encode = tf.function(encode, jit_compile=True)

    def losses(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Mean loss terms of one batch from `TrainingPipeline`, without a step (on the current device)."""
        return self._weighted_means(self._embeddings(batch["inputs"]), batch, tf.reduce_sum(batch["weight"]))

    def distribute(self, dataset: tf.data.Dataset) -> Iterator:
        """An iterator over `dataset`'s global batches, each split among the strategy's replicas."""
        return iter(self.strategy.experimental_distribute_dataset(dataset))

    def train_epoch(
        self,
        batches: tf.data.Dataset | Iterator,
        on_step: Callable[[float], None] | None = None,
        steps: int | None = None,
    ) -> float:
        """One optimiser step per global batch; returns the mean training loss.

        `batches` is a dataset (all of it is the epoch) or an iterator from `distribute`, of which the next `steps`
        batches are the epoch (a run iterates one dataset of all its epochs). `on_step` receives the running mean
        loss after each step (for a progress bar).
        """
        if isinstance(batches, tf.data.Dataset):
            batches = self.distribute(batches)
        losses = []
        for batch in itertools.islice(batches, steps):
            losses.append(self.train_step(batch))
            if on_step is not None:
                on_step(float(np.mean(losses)))
        return float(np.mean(losses))

    def train_step(self, batch: dict[str, tf.Tensor]) -> float:
        """One optimiser step on one global batch (distributed by the strategy, or plain tensors on one device);
        returns its loss."""
        return float(self._step(batch)["loss"])

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
        """(B,) loss terms, the mean over the interactive rounds (a batch shares one prompt kind: see PromptSampler)."""
        targets, valid = batch["target"], batch["valid"]
        points, labels, boxes = batch["points"], batch["labels"], batch["boxes"]
        count = tf.reduce_max(batch["point_count"])  # the same for every example of the batch
        has_box = tf.reduce_any(batch["has_box"])
        no_mask = self.sam.no_mask_dense_embeddings(tf.shape(embeddings)[0])
        dense = no_mask
        rounds = []
        for round_index in range(self.interactive_rounds):
            sparse = self.sam.sparse_embeddings(points, labels, boxes, has_box, count)
            masks, predicted_iou = self.sam.all_masks(embeddings, sparse, dense)
            # `wants_multimask` (core.prompt_kinds): one point alone gets three candidates, the best one trained.
            multimask = tf.logical_and(count == 1, tf.logical_not(has_box))
            shown = tf.where(multimask, self._best_candidate(masks, targets, valid), masks[:, 0])
            rounds.append(self._round_terms(shown, masks, predicted_iou, targets, valid))
            if round_index + 1 < self.interactive_rounds:
                previous = tf.stop_gradient(shown)
                points, labels = self._with_corrective_click(points, labels, count, previous, batch, round_index)
                count += 1
                given = batch["mask_prompt"][:, round_index, None, None, None]
                dense = tf.where(given, self.sam.mask_dense_embeddings(previous), no_mask)
        return {name: tf.add_n([terms[name] for terms in rounds]) / len(rounds) for name in rounds[0]}

    def _round_terms(self, shown, masks, predicted_iou, targets, valid) -> dict[str, tf.Tensor]:
        terms = {"dice": dice_per_example(shown, targets, valid)}
        terms["iou_head"] = iou_head_errors(predicted_iou, masks, targets, valid)
        total = terms["dice"] + self.iou_weight * terms["iou_head"]
        if self.bce_weight:
            terms["bce"] = bce_per_example(shown, targets, valid)
            total += self.bce_weight * terms["bce"]
        terms["loss"] = total
        return terms

    def _with_corrective_click(self, points, labels, count, previous, batch, round_index):
        """The prompts with one simulated click in slot `count`, drawn from the error region of `previous`."""
        cells, click_labels = tf.numpy_function(
            _random_corrective_clicks,
            [previous > 0, batch["target"] > 0.5, batch["valid"] > 0.5, batch["click_seed"] + round_index],
            [tf.float32, tf.int32],
        )
        clicks = (tf.reshape(cells, (-1, 2)) + 0.5) * self.cell_size  # the cell's centre, model-input frame
        slot = tf.range(tf.shape(points)[1]) == count
        points = tf.where(slot[None, :, None], clicks[:, None, :], points)
        labels = tf.where(slot[None, :], tf.reshape(click_labels, (-1, 1)), labels)
        return points, labels

    @staticmethod
    def _best_candidate(masks, targets, valid):
        """Per example, the multimask candidate (1-3) with the lowest Dice loss."""
        candidates = masks[:, 1:]
        count = tf.shape(candidates)[1]
        flat = tf.reshape(candidates, (-1, *candidates.shape[2:]))
        repeat = lambda t: tf.repeat(t, count, axis=0)  # noqa: E731
        per_candidate = tf.reshape(dice_per_example(flat, repeat(targets), repeat(valid)), (-1, count))
        return tf.gather(candidates, tf.argmin(per_candidate, axis=1, output_type=tf.int32), batch_dims=1)


def _random_corrective_clicks(
    predicted: np.ndarray, target: np.ndarray, valid: np.ndarray, seeds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SAM's training clicks: a random pixel of each example's error region (label -1 where there is none)."""
    seed = int(np.random.SeedSequence(seeds.tolist()).generate_state(1)[0])
    points, labels = next_clicks(predicted, target, valid, seed=seed)
    return points.astype(np.float32), labels.astype(np.int32)


def _decays(variable: tf.Variable) -> bool:
    return variable.name.endswith("kernel:0")
