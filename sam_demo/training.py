"""Fine-tuning SAM's mask decoder on image/mask pairs, with the vision and prompt encoders frozen.

Because the vision encoder is frozen, each image's embedding is computed once (`embed_examples`) and every epoch
trains on those embeddings: the encoder, seconds per image, never runs twice for the same image. The uncached
route (`cached=False`) runs the frozen encoder inside every step, as the original notebook did; both give the
same loss for the same batch (a test checks it).

Prompts are drawn per batch (`sample_prompts`): a ground-truth box with random slack, or 1-3 points inside the
tumour, so that the fine-tuned model answers the app's clicks as well as its boxes. A single point is
ambiguous, so, as in SAM's own training, its three candidate masks are predicted and only the best one is
penalised; otherwise the single-mask output is trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tf_keras
from transformers import TFSamModel

from .data import LoadedExample
from .decoding import SamDecoder
from .losses import bce_loss, dice_per_example, iou_head_loss
from .predictor import EncodedImage, SamPredictor
from .prompt_sampling import perturbed_box, random_points
from .transforms import low_res_target, preprocess_image, to_model_frame


@dataclass(frozen=True, eq=False)
class TrainingExample:
    """One image/mask pair, ready for the decoder: the frozen encoder's output and the low-res target."""

    name: str
    label: str | None
    encoded: EncodedImage  # image, embedding (1, C, 64, 64), sizes
    mask: np.ndarray  # (H, W) bool at the original size, for prompts and metrics
    target: np.ndarray  # (256, 256) float32 in the decoder's frame
    valid: np.ndarray  # (256, 256) float32: 1 over the image, 0 over the padding


def embed_examples(predictor: SamPredictor, loaded: list[LoadedExample]) -> list[TrainingExample]:
    """Run the vision encoder once per image (the predictor's own preprocessing) and prepare targets."""
    examples = []
    for item in loaded:
        target, valid = low_res_target(item.mask)
        examples.append(
            TrainingExample(
                item.example.name, item.example.label, predictor.encode(item.image), item.mask, target, valid
            )
        )
    return examples


@dataclass(frozen=True)
class PromptBatch:
    """Prompts for a batch, in the model-input frame; every example has the same kind and number of prompts."""

    points: np.ndarray | None  # (B, N, 2)
    labels: np.ndarray | None  # (B, N)
    boxes: np.ndarray | None  # (B, 4)

    @property
    def ambiguous(self) -> bool:
        """A single point and nothing else: train the best of the three candidate masks."""
        return self.boxes is None and self.points is not None and self.points.shape[1] == 1


def sample_prompts(
    examples: list[TrainingExample],
    rng: np.random.Generator,
    point_share: float = 0.5,
    max_box_shift: int = 20,
    max_points: int = 3,
) -> PromptBatch:
    """A perturbed box for every example, or (with probability `point_share`) 1..max_points tumour points."""
    if rng.random() >= point_share:
        boxes = [
            to_model_frame(np.reshape(perturbed_box(e.mask, rng, max_box_shift), (2, 2)), *_sizes(e)).reshape(4)
            for e in examples
        ]
        return PromptBatch(None, None, np.stack(boxes).astype(np.float32))
    count = int(rng.integers(1, max_points + 1))
    points, labels = [], []
    for example in examples:
        xy, label = random_points(example.mask, rng, foreground=count)
        points.append(to_model_frame(xy, *_sizes(example)))
        labels.append(label)
    return PromptBatch(np.stack(points).astype(np.float32), np.stack(labels).astype(np.int32), None)


def _sizes(example: TrainingExample) -> tuple[tuple[int, int], tuple[int, int]]:
    return example.encoded.original_size, example.encoded.resized_size


class DecoderTrainer:
    """Trains the mask decoder (and its IoU head) of `model`; everything else stays frozen."""

    def __init__(
        self,
        model: TFSamModel,
        *,
        learning_rate: float = 1e-5,
        weight_decay: float = 0.0,
        bce_weight: float = 0.0,
        iou_weight: float = 1.0,
    ):
        self.model = model
        self.sam = SamDecoder(model)
        self.bce_weight = bce_weight
        self.iou_weight = iou_weight
        model.vision_encoder.trainable = False
        model.prompt_encoder.trainable = False
        self.variables = model.mask_decoder.trainable_variables
        self.optimizer = tf_keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
        self._train_step = tf.function(self._step, reduce_retracing=True)

    def losses(
        self, embeddings: tf.Tensor, prompts: PromptBatch, targets: tf.Tensor, valid: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """The loss terms for one batch; `embeddings` (B, C, 64, 64) from the frozen vision encoder."""
        return self._losses(
            embeddings, *_prompt_tensors(prompts), tf.constant(targets), tf.constant(valid), prompts.ambiguous
        )

    def _losses(self, embeddings, points, labels, boxes, targets, valid, ambiguous: bool) -> dict[str, tf.Tensor]:
        sparse = self.sam.batch_sparse_embeddings(points, labels, boxes)
        dense = self.sam.no_mask_dense_embeddings(tf.shape(embeddings)[0])
        masks, predicted_iou = self.sam.all_masks(embeddings, sparse, dense)
        if ambiguous:
            candidates = masks[:, 1:]
            count = tf.shape(candidates)[1]
            flat = tf.reshape(candidates, (-1, *candidates.shape[2:]))
            repeat = lambda t: tf.repeat(t, count, axis=0)  # noqa: E731
            per_candidate = tf.reshape(dice_per_example(flat, repeat(targets), repeat(valid)), (-1, count))
            best = tf.argmin(per_candidate, axis=1, output_type=tf.int32)
            chosen = tf.gather(candidates, best, batch_dims=1)
            chosen_iou = tf.gather(predicted_iou[:, 1:], best, batch_dims=1)
        else:
            chosen, chosen_iou = masks[:, 0], predicted_iou[:, 0]
        terms = {"dice": tf.reduce_mean(dice_per_example(chosen, targets, valid))}
        terms["iou_head"] = iou_head_loss(chosen_iou, chosen, targets, valid)
        total = terms["dice"] + self.iou_weight * terms["iou_head"]
        if self.bce_weight:
            terms["bce"] = bce_loss(chosen, targets, valid)
            total += self.bce_weight * terms["bce"]
        terms["loss"] = total
        return terms

    def _step(self, embeddings, points, labels, boxes, targets, valid, ambiguous: bool):
        with tf.GradientTape() as tape:
            terms = self._losses(embeddings, points, labels, boxes, targets, valid, ambiguous)
        gradients = tape.gradient(terms["loss"], self.variables)
        self.optimizer.apply_gradients(zip(gradients, self.variables))
        return terms

    def train_step(
        self, batch: list[TrainingExample], prompts: PromptBatch, embeddings: tf.Tensor | None = None
    ) -> dict[str, float]:
        """One optimiser step; `embeddings` default to the cached ones (pass fresh ones for the uncached route)."""
        cached, targets, valid = stack_batch(batch)
        embeddings = cached if embeddings is None else embeddings
        terms = self._train_step(embeddings, *_prompt_tensors(prompts), targets, valid, prompts.ambiguous)
        return {name: float(value) for name, value in terms.items()}


def stack_batch(batch: list[TrainingExample]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(embeddings, targets, valid) tensors of a batch of prepared examples."""
    return (
        tf.concat([e.encoded.embedding for e in batch], axis=0),
        tf.constant(np.stack([e.target for e in batch])),
        tf.constant(np.stack([e.valid for e in batch])),
    )


def embeddings_without_cache(predictor: SamPredictor, batch: list[TrainingExample]) -> tf.Tensor:
    """The notebook's route: run the frozen vision encoder on the batch's pixels again."""
    return tf.concat(
        [predictor.embed_pixels(preprocess_image(predictor.processor, e.encoded.image)[0]) for e in batch], axis=0
    )


def _prompt_tensors(prompts: PromptBatch) -> tuple[tf.Tensor | None, ...]:
    return tuple(None if a is None else tf.constant(a) for a in (prompts.points, prompts.labels, prompts.boxes))


def train_epoch(
    trainer: DecoderTrainer,
    examples: list[TrainingExample],
    rng: np.random.Generator,
    batch_size: int,
    point_share: float = 0.5,
    max_box_shift: int = 20,
    embed: Callable[[list[TrainingExample]], tf.Tensor] | None = None,
    on_step: Callable[[float], None] | None = None,
) -> float:
    """One pass over `examples` in a random order; returns the mean training loss.

    `embed` recomputes a batch's embeddings (the uncached route, e.g. `embeddings_without_cache`); by default
    the cached ones are used. `on_step` receives the running mean loss after each step (for a progress bar).
    """
    order = rng.permutation(len(examples))
    losses = []
    for start in range(0, len(order), batch_size):
        batch = [examples[i] for i in order[start : start + batch_size]]
        prompts = sample_prompts(batch, rng, point_share, max_box_shift)
        embeddings = None if embed is None else embed(batch)
        losses.append(trainer.train_step(batch, prompts, embeddings)["loss"])
        if on_step is not None:
            on_step(float(np.mean(losses)))
    return float(np.mean(losses))
