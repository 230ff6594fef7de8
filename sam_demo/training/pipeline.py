"""The tf.data input pipeline that feeds training examples to `SamTrainer`.

The pipeline is the keras-io SAM example's, done right:
epochs -> each epoch's shuffled example indices -> each example's arrays -> `batch` -> prompts -> `prefetch`.

* One dataset serves the whole run (`epochs`), iterated once: building a dataset and its iterator costs about
  0.2 s, and a dataset per epoch paid it every epoch (the cached route's epochs were 9-18 % slower than a hand-fed
  loop for that reason; see the README, "Input pipeline").
* What never changes between epochs is gathered by index with TensorFlow ops, no Python per example: the frozen
  encoder's embeddings are one tensor. When the encoder runs in every step, each image's preprocessed pixel values
  are made on first use and kept (resizing and normalising happen once per image). Not `from_generator`, as in the
  keras-io example: after a `from_generator` pipeline had run, every later step of the process page-faulted about
  twice as much.
* The random prompts are drawn per batch and per epoch, in NumPy by the same code the app and evaluation use
  (`core.prompt_kinds`). The notebook drew its perturbed box before `cache()`, so every epoch saw the same box;
  here each epoch sees new ones.
* Every example in a batch gets the same kind of prompt (a box, or 1-3 points), so the batch runs as one
  decoder call; the prompts are padded to fixed shapes, so one traced step serves every kind.
* Each epoch's order and each batch's prompts come from (seed, epoch, step): an interrupted run resumes with
  the same data, and iterating an epoch twice gives the same batches.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from transformers import SamProcessor

from ..core.prompt_kinds import jittered_box, random_interior_points
from ..core.transforms import preprocess_image, to_model_frame
from ..data.examples import TrainingExample
from .encoder_route import EncoderRoute

MAX_POINTS = 3  # of the first prompt; each interactive round adds one corrective click


class PromptSampler:
    """Random training prompts for a batch, in the model-input frame, padded to a fixed number of points.

    With probability `point_share` the batch gets 1..MAX_POINTS points drawn inside each tumour, otherwise each
    example's box with noise of 10 % of its side, at most `max_box_shift` px (`core.prompt_sampling`). With
    `interactive_rounds` K > 1 the points leave room for K - 1 corrective clicks (the trainer adds them), and
    each example is told, per later round, whether the previous round's logits go back in as a mask prompt
    (probability `mask_prompt_share`).
    """

    def __init__(
        self,
        examples: list[TrainingExample],
        point_share: float = 0.5,
        max_box_shift: int = 20,
        interactive_rounds: int = 1,
        mask_prompt_share: float = 0.5,
    ):
        self.examples = examples
        self.point_share = point_share
        self.max_box_shift = max_box_shift
        self.interactive_rounds = interactive_rounds
        self.mask_prompt_share = mask_prompt_share

    @property
    def point_slots(self) -> int:
        return MAX_POINTS + self.interactive_rounds - 1

    def __call__(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """points (B, slots, 2), labels (B, slots), boxes (B, 4), point_count (B,), has_box (B,),
        mask_prompt (B, K - 1) and click_seed (B,) (for the simulated corrective clicks)."""
        batch = [self.examples[i] for i in indices]
        points = np.zeros((len(batch), self.point_slots, 2), np.float32)
        labels = np.full((len(batch), self.point_slots), -1, np.int32)
        boxes = np.zeros((len(batch), 4), np.float32)
        count = 0 if rng.random() >= self.point_share else int(rng.integers(1, MAX_POINTS + 1))
        kind = jittered_box(self.max_box_shift) if count == 0 else random_interior_points(count)
        for row, example in enumerate(batch):
            sizes = example.image.original_size, example.image.resized_size
            prompt = kind.prompt(example.mask, rng)
            if prompt.box is not None:
                boxes[row] = to_model_frame(np.reshape(prompt.box, (2, 2)), *sizes).reshape(4)
            else:
                points[row, :count] = to_model_frame(prompt.points, *sizes)
                labels[row, :count] = prompt.labels
        mask_prompt = rng.random((len(batch), self.interactive_rounds - 1)) < self.mask_prompt_share
        return (
            points,
            labels,
            boxes,
            np.full(len(batch), count, np.int32),
            np.full(len(batch), count == 0),
            mask_prompt,
            rng.integers(0, 2**31, size=len(batch)).astype(np.int64),
        )


class TrainingPipeline:
    """Batches of {"index", "inputs", "target", "valid", "weight"} and the prompts of `PromptSampler`
    ("points", "labels", "boxes", "point_count", "has_box", "mask_prompt", "click_seed").

    "weight" is 0 for the copies that fill up the last batch (they must not count), 1 otherwise.
    "inputs" are the stored embeddings (C, 64, 64) on the `EncoderRoute.CACHED` route; on the routes whose encoder
    runs in every step, the (3, 1024, 1024) pixel values it takes, made once per image with `processor`.
    """

    def __init__(
        self,
        examples: list[TrainingExample],
        *,
        batch_size: int,
        seed: int,
        point_share: float = 0.5,
        max_box_shift: int = 20,
        route: EncoderRoute = EncoderRoute.CACHED,
        processor: SamProcessor | None = None,
        interactive_rounds: int = 1,
        mask_prompt_share: float = 0.5,
    ):
        if not examples:
            raise ValueError("no training examples")
        if route.encoder_in_step and processor is None:
            raise ValueError(f"the {route.value} route feeds pixel values: it needs the model's processor")
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed
        self.sample_prompts = PromptSampler(
            examples,
            point_share,
            max_box_shift,
            interactive_rounds=interactive_rounds,
            mask_prompt_share=mask_prompt_share,
        )
        self.route = route
        self.processor = processor
        self._targets = tf.constant(np.stack([example.target for example in examples]))
        self._valid = tf.constant(np.stack([example.valid for example in examples]))
        if route.encoder_in_step:
            self._pixel_values: dict[int, np.ndarray] = {}
            padded = processor.image_processor.pad_size  # every image is resized and padded to this size
            self._pixels_shape = (3, padded["height"], padded["width"])
        else:
            # One (N, C, 64, 64) tensor (4 MB per image at C = 256), gathered from by index inside the pipeline:
            # no Python call per example.
            self._embeddings = tf.constant(
                np.stack([np.asarray(example.image.embedding[0], np.float32) for example in examples])
            )

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.examples) // self.batch_size)

    def epoch(self, epoch: int) -> tf.data.Dataset:
        """The batches of one epoch; the same (seed, epoch) gives the same order and prompts, every time."""
        return self.epochs(epoch, epoch + 1)

    def epochs(self, first: int, last: int) -> tf.data.Dataset:
        """The batches of epochs first..last - 1, `steps_per_epoch` per epoch, each epoch as `epoch` gives it.

        Training iterates this once for the whole run: a dataset and its iterator cost about 0.2 s to build (its
        functions traced, its graph optimised), which a dataset per epoch paid every epoch.
        """
        specs = self.prompt_specs()

        def prompts(epoch: np.ndarray, step: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, ...]:
            # A generator per batch, from (seed, epoch, step): no state carried between batches or iterations.
            return self.sample_prompts(indices, np.random.default_rng([self.seed, int(epoch), int(step)]))

        def with_prompts(count: tf.Tensor, batch: dict) -> dict:
            batch = dict(batch)
            epoch, step = batch.pop("epoch")[0], count % self.steps_per_epoch
            values = tf.numpy_function(prompts, [epoch, step, batch["index"]], [spec.dtype for spec in specs.values()])
            for value, spec in zip(values, specs.values()):
                value.set_shape(spec.shape)
            return {**batch, **dict(zip(specs, values))}

        dataset = (
            tf.data.Dataset.range(first, last)
            .flat_map(self._epoch_order)
            .map(self._element)
            .batch(self.batch_size, drop_remainder=True)
            .enumerate()
            .map(with_prompts)
            .prefetch(tf.data.AUTOTUNE)
        )
        options = tf.data.Options()
        # Every worker builds the same batches from the same seed and takes its share of each (there are no files
        # to shard by).
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return dataset.with_options(options)

    def _epoch_order(self, epoch: tf.Tensor) -> tf.data.Dataset:
        """(epoch, index, weight) of one epoch: a shuffle drawn from (seed, epoch), then weight-0 copies of its first
        examples that fill up the last batch, so every batch has the same static shape (the step is traced once,
        and a strategy's replicas always get equal shares)."""
        count = len(self.examples)
        seed = tf.stack([tf.constant(self.seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=seed)
        order = tf.concat([order, order[: -count % self.batch_size]], axis=0)
        weight = tf.cast(tf.range(tf.size(order)) < count, tf.float32)
        return tf.data.Dataset.from_tensor_slices((tf.fill(tf.shape(order), epoch), order, weight))

    def _element(self, epoch: tf.Tensor, index: tf.Tensor, weight: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.route.encoder_in_step:
            inputs = tf.numpy_function(self._pixels, [index], tf.float32)  # stateful (its cache): run in order
            inputs.set_shape(self._pixels_shape)
        else:
            inputs = tf.gather(self._embeddings, index)
        return {
            "epoch": epoch,
            "index": tf.cast(index, tf.int32),
            "inputs": inputs,
            "target": tf.gather(self._targets, index),
            "valid": tf.gather(self._valid, index),
            "weight": weight,
        }

    def _pixels(self, index: np.ndarray) -> np.ndarray:
        """The encoder's (3, 1024, 1024) input of one example, made on first use and kept."""
        key = int(index)
        if key not in self._pixel_values:
            self._pixel_values[key] = preprocess_image(self.processor, self.examples[key].image.image)[0][0]
        return self._pixel_values[key]

    def prompt_specs(self) -> dict[str, tf.TensorSpec]:
        """Shapes and types of the prompt entries of a batch (the batch size left open)."""
        slots, rounds = self.sample_prompts.point_slots, self.sample_prompts.interactive_rounds
        return {
            "points": tf.TensorSpec([None, slots, 2], tf.float32),
            "labels": tf.TensorSpec([None, slots], tf.int32),
            "boxes": tf.TensorSpec([None, 4], tf.float32),
            "point_count": tf.TensorSpec([None], tf.int32),
            "has_box": tf.TensorSpec([None], tf.bool),
            "mask_prompt": tf.TensorSpec([None, rounds - 1], tf.bool),
            "click_seed": tf.TensorSpec([None], tf.int64),
        }
