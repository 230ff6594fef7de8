"""`SamPredictor`: embed an image once, then answer any number of prompts in milliseconds.

The API follows Meta's `segment_anything.SamPredictor` (`set_image`, `predict`). For servers with many users,
`encode` and `decode` do the same without per-predictor state: the embedding travels in an `EncodedImage`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from transformers import SamProcessor, TFSamModel

from .decoding import PromptDecoder
from .disk_cache import DiskEmbeddingStore, encoder_namespace
from .embedding_cache import EmbeddingCache, image_key
from .encoder_precision import encoder_path, resolve_encoder_precision, uses_xla
from .image_io import MAX_PIXELS, ImageSource, load_image
from .model import load_sam
from .prompts import BoxLike, LabelsLike, PointsLike, validate_mask_input, validate_prompts
from .transforms import preprocess_image, to_model_frame, upscale_logits

DEFAULT_DISK_CACHE_BYTES = 2 * 2**30  # about 500 ViT embeddings of 4 MB

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """An image as the model sees it, before its embedding (training whose encoder runs in every step stops here)."""

    key: str  # content hash of `image`
    image: np.ndarray  # HxWx3 uint8 RGB, as the model saw it
    resized_size: tuple[int, int]  # (height, width) inside the 1024 x 1024 model input

    @property
    def original_size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]


@dataclass(frozen=True, eq=False)
class EncodedImage(PreparedImage):
    """An image and its embedding, ready for prompts."""

    embedding: tf.Tensor  # (1, C, 64, 64)


@dataclass(frozen=True, eq=False)
class Prediction:
    """Masks for one prompt set, at the original image size."""

    masks: np.ndarray  # (N, H, W) bool; N = 3 with multimask output, else 1
    iou_scores: np.ndarray  # (N,) the model's predicted IoU of each mask
    low_res_logits: np.ndarray  # (N, 256, 256); pass one back as `mask_input` to refine

    @property
    def best_index(self) -> int:
        return int(np.argmax(self.iou_scores))

    @property
    def best(self) -> np.ndarray:
        """The (H, W) mask with the highest predicted IoU."""
        return self.masks[self.best_index]


class EncoderLock:
    """One vision-encoder run at a time, and background runs only when no other run is waiting.

    Two runs at once would each take about twice as long (each uses every core) and double the peak memory. A
    thread marked with `background()` (the examples encoded at startup) waits until nothing else waits, so a
    user's request waits behind at most the one background run already going.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._busy = False
        self._waiting = 0  # foreground threads waiting for the encoder
        self._local = threading.local()

    @property
    def busy(self) -> bool:
        """Whether a run is going on or waiting: a new request would wait (what a page can tell its user)."""
        with self._condition:
            return self._busy or self._waiting > 0

    @contextmanager
    def background(self) -> Iterator[None]:
        """Within this block, the calling thread's runs give way to every other waiting run."""
        self._local.background = True
        try:
            yield
        finally:
            self._local.background = False

    def __enter__(self) -> None:
        with self._condition:
            if getattr(self._local, "background", False):
                self._condition.wait_for(lambda: not self._busy and not self._waiting)
            else:
                self._waiting += 1
                self._condition.wait_for(lambda: not self._busy)
                self._waiting -= 1
            self._busy = True

    def __exit__(self, *exc_info: object) -> None:
        with self._condition:
            self._busy = False
            self._condition.notify_all()


class SamPredictor:
    """Prompted segmentation with a SAM model; image embeddings are cached by image content.

    `set_image` / `predict` keep a current image, like Meta's predictor. `encode` / `decode` keep none and are
    safe to call from many threads at once (a web server's sessions), which run the vision encoder one at a
    time (`encoder_lock`); so is the cache, which several predictors of the *same model* may share (pass
    `cache=`).

    `disk_cache_dir`: also keep embeddings in this folder (at most `disk_cache_bytes`), where other processes
    and later runs with the same encoder find them (see `disk_cache`).
    `encoder_precision`: "float32" or "bfloat16", checked against how the model was loaded
    (`load_sam(..., mixed_precision="bfloat16")` for bfloat16; "auto" is resolved for this CPU by
    `encoder_precision.resolve_encoder_precision` before loading); None takes the model as it is.
    """

    def __init__(
        self,
        model: TFSamModel,
        processor: SamProcessor,
        *,
        cache_size: int = 8,
        cache: EmbeddingCache[EncodedImage] | None = None,
        max_pixels: int = MAX_PIXELS,
        disk_cache_dir: str | os.PathLike | None = None,
        disk_cache_bytes: int = DEFAULT_DISK_CACHE_BYTES,
        encoder_precision: str | None = None,
    ):
        compute_dtype = model.vision_encoder.compute_dtype
        wanted = None if encoder_precision is None else resolve_encoder_precision(encoder_precision)
        if wanted is not None and wanted != compute_dtype:
            how = "load_sam(name)" if wanted == "float32" else f'load_sam(name, mixed_precision="{wanted}")'
            raise ValueError(
                f"Encoder precision {wanted} was asked for, but this model's vision encoder computes in "
                f"{compute_dtype}: load it with {how}."
            )
        self.model = model
        self.processor = processor
        self.cache: EmbeddingCache[EncodedImage] = cache if cache is not None else EmbeddingCache(cache_size)
        self.disk_cache = (
            None
            if disk_cache_dir is None
            else DiskEmbeddingStore(disk_cache_dir, encoder_namespace(model, processor), disk_cache_bytes)
        )
        self.max_pixels = max_pixels
        self.encoder_runs = 0
        self.encoder_s: float | None = None  # the last run's seconds; the first run (it compiles) is not counted
        self.encoder_lock = EncoderLock()
        self.encoder_path = encoder_path(compute_dtype)
        self._decoder = PromptDecoder(model)
        config = model.config.vision_config
        input_spec = tf.TensorSpec([1, config.num_channels, config.image_size, config.image_size], tf.float32)
        # XLA fuses the ViT's attention and normalisation ops: measured 37 s instead of 54 s for ViT-L on
        # 2 CPU cores (12.5 s instead of 18.6 s for ViT-B); the input shape never changes, so it compiles once.
        # bfloat16 is the exception: oneDNN runs it faster without XLA (see `encoder_precision`).
        self._encode_pixels = tf.function(
            lambda pixels: tf.cast(model.get_image_embeddings(pixels), tf.float32),  # as computed with mixed precision
            input_signature=[input_spec],
            jit_compile=uses_xla(compute_dtype),
        )
        self._current: EncodedImage | None = None

    @property
    def encoder_busy(self) -> bool:
        """Whether the vision encoder is running or awaited: an image to encode now would wait (for a page to say)."""
        return self.encoder_lock.busy

    @property
    def decoder_traces(self) -> int:
        """How many times the prompt decoder graph was traced (one after the first click, then constant)."""
        return self._decoder.trace_count

    def encode(self, image: ImageSource, key: str | None = None) -> EncodedImage:
        """Load `image` and compute its embedding, or take it from the cache if this image was seen.

        `key`: the image's `EncodedImage.key` from an earlier call, to skip reading and hashing it again on a
        cache hit (the app's clicks); the image is only read if the cache has let it go.
        """
        if key is None:
            pixels = load_image(image, max_pixels=self.max_pixels)
            key = image_key(pixels)
            return self.cache.get_or_compute(key, lambda: self._embed(key, pixels))
        return self.cache.get_or_compute(key, lambda: self._embed(key, load_image(image, max_pixels=self.max_pixels)))

    def _embed(self, key: str, pixels: np.ndarray) -> EncodedImage:
        original_size = pixels.shape[:2]
        stored = None if self.disk_cache is None else self.disk_cache.load(key, original_size)
        if stored is not None:
            embedding, resized = tf.constant(stored.embedding), stored.resized_size
        else:
            pixel_values, resized = preprocess_image(self.processor, pixels)
            embedding = self.embed_pixels(pixel_values)
            if self.disk_cache is not None:
                self.disk_cache.save(key, embedding.numpy(), resized, original_size)
        pixels.setflags(write=False)  # shared through the cache: nobody may change it
        return EncodedImage(key=key, image=pixels, resized_size=resized, embedding=embedding)

    def embed_pixels(self, pixel_values: np.ndarray) -> tf.Tensor:
        """Run the compiled vision encoder on (1, 3, 1024, 1024) pixel values, bypassing the cache."""
        pixels = tf.constant(pixel_values)
        with self.encoder_lock:  # only the run itself: reading, hashing and preprocessing go on meanwhile
            self.encoder_runs += 1
            start = time.perf_counter()
            embedding = self._encode_pixels(pixels)
            if self.encoder_runs > 1:
                self.encoder_s = time.perf_counter() - start
            return embedding

    def set_image(self, image: ImageSource) -> EncodedImage:
        """Make `image` the current image (PIL image, numpy array, path or bytes); embeds it unless cached."""
        self._current = self.encode(image)
        return self._current

    @property
    def image(self) -> EncodedImage | None:
        return self._current

    def predict(
        self,
        points: PointsLike = None,
        labels: LabelsLike = None,
        box: BoxLike = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
    ) -> Prediction:
        """Masks for prompts on the current image.

        points: (x, y) pixels of the original image, with labels 1 (foreground) / 0 (background);
        box: (x0, y0, x1, y1) pixels; mask_input: `low_res_logits[i]` of an earlier prediction, to refine it.
        With `multimask_output` three candidate masks come back, otherwise one.
        """
        if self._current is None:
            raise ValueError("predict() needs an image: call set_image(image) first.")
        return self.decode(self._current, points, labels, box, mask_input, multimask_output)

    def decode(
        self,
        encoded: EncodedImage,
        points: PointsLike = None,
        labels: LabelsLike = None,
        box: BoxLike = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        mask_size: tuple[int, int] | None = None,
    ) -> Prediction:
        """`predict` for an explicitly given encoded image (no predictor state involved).

        `mask_size`: (height, width) of the masks if not the image's own, e.g. a display copy's: upsampling the
        masks of a 12 MP image takes far longer than decoding them. Prompts stay in the image's own pixels.
        """
        prompts = validate_prompts(points, labels, box, encoded.original_size)
        mask_prompt = validate_mask_input(mask_input)
        original, resized = encoded.original_size, encoded.resized_size
        box_in_model = None if prompts.box is None else to_model_frame(prompts.box.reshape(2, 2), original, resized)
        decoded = self._decoder(
            encoded.embedding,
            to_model_frame(prompts.points, original, resized),
            prompts.labels,
            None if box_in_model is None else box_in_model.reshape(4),
            mask_prompt,
            multimask_output,
            mask_size or original,
            resized,
        )
        return Prediction(decoded.masks, decoded.iou_scores, decoded.low_res_logits)

    def full_size_masks(self, encoded: EncodedImage, low_res_logits: np.ndarray) -> np.ndarray:
        """(N, H, W) bool masks at the image's own size from (N, 256, 256) logits of `decode`: exactly the masks
        `decode` gives without `mask_size` (the same upsampling), for the candidates one needs at full size."""
        return (
            upscale_logits(
                tf.constant(low_res_logits),
                tf.constant(encoded.original_size),
                tf.constant(encoded.resized_size),
                self.model.config.prompt_encoder_config.image_size,
            ).numpy()
            > 0.0
        )

    def warm_up(self, image: ImageSource | None = None) -> None:
        """Trace the prompt decoder and compile the vision encoder now (seconds to a minute, once) rather than on
        the first click and the first upload. `image` is encoded into the cache as the encoder's first run, so
        that run is not wasted (an example the page offers, say)."""
        size = self.model.config.prompt_encoder_config.image_size
        channels = self.model.config.vision_config.output_channels
        grid = self.model.config.prompt_encoder_config.image_embedding_size
        blank = EncodedImage(
            key="warm-up",
            image=np.zeros((size, size, 3), np.uint8),
            resized_size=(size, size),
            embedding=tf.zeros((1, channels, grid, grid)),
        )
        self.decode(blank, points=[[size / 2, size / 2]], labels=[1])
        if image is not None:
            self.encode(image)
        if self.encoder_runs == 0:  # no image, or its embedding came from the disk cache: compile all the same
            self.embed_pixels(np.zeros((1, 3, size, size), np.float32))

    def encode_in_background(
        self, images: Sequence[ImageSource], on_done: Callable[[], None] | None = None
    ) -> threading.Thread:
        """Encode `images` into the cache (and the disk cache) in a daemon thread, so their first use is instant;
        then call `on_done` in that thread.

        Each run gives way to any other request for the encoder (see `EncoderLock`), and the job stops when
        the cache is full rather than evict an image someone is using. A failure is logged in one line.
        """
        thread = threading.Thread(target=self._encode_all, args=(list(images), on_done), name="encode-in-background")
        thread.daemon = True  # a process that exits does not wait for it
        thread.start()
        return thread

    def _encode_all(self, images: list[ImageSource], on_done: Callable[[], None] | None) -> None:
        start, done = time.monotonic(), 0
        with self.encoder_lock.background():
            for image in images:
                name = image if isinstance(image, (str, os.PathLike)) else type(image).__name__
                if len(self.cache) >= self.cache.max_items:
                    logger.info("Embedding cache full: %s and later images not encoded in the background.", name)
                    break
                try:
                    self.encode(image)
                    done += 1
                except Exception as error:  # a background job must not take the app down
                    logger.warning("Could not encode %s in the background: %s", name, error)
        logger.info("Encoded %d of %d images in the background in %.1f s.", done, len(images), time.monotonic() - start)
        if on_done is not None:
            on_done()


def load_predictor(model_name: str | os.PathLike, encoder_precision: str = "auto", **options) -> SamPredictor:
    """A `SamPredictor` on `model_name` (Hub id or folder) as the app loads it: the encoder precision resolved for
    this CPU first, since it decides how the model is built. `options`: `SamPredictor`'s keyword arguments.
    Raises `ModelLoadError` for a model that cannot be loaded, ValueError for an unknown precision."""
    precision = resolve_encoder_precision(encoder_precision)
    model, processor = load_sam(model_name, mixed_precision=None if precision == "float32" else precision)
    return SamPredictor(model, processor, encoder_precision=precision, **options)
