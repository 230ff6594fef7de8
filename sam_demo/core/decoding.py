"""Prompts -> masks on precomputed image embeddings: SAM's prompt encoder and mask decoder, compiled once.

`TFSamModel.call` chooses its graph with Python branches (box or not, mask prompt or not, how many masks),
so calling it per click would retrace. Here the model's own layers and weights are composed into functions
whose inputs are all tensors: the number of points, the presence of a box or a mask prompt and the multimask
switch are data, so one trace serves every click. The results equal `TFSamModel.call` followed by
`SamImageProcessor.post_process_masks` (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from transformers import TFSamModel

from .onednn_matmul import encode_positions_without_broadcast
from .prompts import LOW_RES_SIZE
from .transforms import upscale_logits

encode_positions_without_broadcast()  # also for models built without `load_sam`: see the module


@dataclass(frozen=True)
class DecodedMasks:
    """Decoder output for one prompt set, already at the original image size."""

    masks: np.ndarray  # (N, H, W) bool
    iou_scores: np.ndarray  # (N,) float32, the model's own estimate of each mask's IoU
    low_res_logits: np.ndarray  # (N, 256, 256) float32, feed one back as a mask prompt


class SamDecoder:
    """SAM's prompt encoder and mask decoder as tensor-in, tensor-out functions (shared by inference and training)."""

    def __init__(self, model: TFSamModel):
        self.model = model
        self.image_positional_embeddings = model.get_image_wide_positional_embeddings()

    def sparse_embeddings(
        self,
        points: tf.Tensor,
        labels: tf.Tensor,
        boxes: tf.Tensor,
        has_box: tf.Tensor,
        point_count: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """(B, 1, tokens, C) prompt tokens, exactly as SAM builds them, for a batch sharing one prompt shape.

        points (B, N, 2) with labels (B, N) (1 foreground, 0 background) and boxes (B, 4), in the model-input
        frame. The first `point_count` points (all N when None), then either SAM's padding token (no box) or
        the box's two corner tokens: all are built and the unused ones dropped with a data mask, so every
        number of points, with or without a box, runs in one graph.
        """
        encoder = self.model.prompt_encoder
        point_tokens = encoder._embed_points(points[:, None], labels[:, None], pad=False)
        pad_token = tf.tile(tf.reshape(encoder.not_a_point_embed, (1, 1, 1, -1)), [tf.shape(points)[0], 1, 1, 1])
        box_tokens = encoder._embed_boxes(boxes[:, None])
        tokens = tf.concat([point_tokens, tf.cast(pad_token, point_tokens.dtype), box_tokens], axis=2)
        count = tf.shape(points)[1] if point_count is None else point_count
        keep = tf.concat(
            [tf.range(tf.shape(points)[1]) < count, [tf.logical_not(has_box)], tf.fill([2], has_box)], axis=0
        )
        return tf.boolean_mask(tokens, keep, axis=2)

    def no_mask_dense_embeddings(self, batch: int | tf.Tensor) -> tf.Tensor:
        """(B, C, 64, 64): SAM's dense embedding when there is no mask prompt."""
        encoder = self.model.prompt_encoder
        grid = encoder.image_embedding_size
        return tf.tile(tf.reshape(encoder.no_mask_embed[0], (1, -1, 1, 1)), (batch, 1, grid[0], grid[1]))

    def mask_dense_embeddings(self, low_res_logits: tf.Tensor) -> tf.Tensor:
        """(B, C, 64, 64): SAM's embedding of (B, 256, 256) low-res logits given back as a mask prompt."""
        return self.model.prompt_encoder.mask_embed(low_res_logits[:, None])

    def dense_embeddings(self, mask_input: tf.Tensor, has_mask_input: tf.Tensor) -> tf.Tensor:
        """(1, C, 64, 64): the embedded low-res mask prompt, or SAM's no-mask embedding."""
        return tf.cond(
            has_mask_input,
            lambda: self.mask_dense_embeddings(mask_input[None]),
            lambda: self.no_mask_dense_embeddings(1),
        )

    def all_masks(
        self, image_embeddings: tf.Tensor, sparse: tf.Tensor, dense: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """All four of SAM's masks: (B, 4, 256, 256) logits and (B, 4) predicted IoU.

        Index 0 is the single-mask output, 1-3 the multimask candidates. Same computation as
        `TFSamMaskDecoder.call`, but without its Python-level choice of outputs, and with its two 2x2/stride-2
        transposed convolutions written as matrix products (no overlap between output blocks), which is
        several times faster on CPU than the channels-first `Conv2DTranspose`.
        """
        decoder = self.model.mask_decoder
        batch = tf.shape(image_embeddings)[0]
        output_tokens = tf.concat([decoder.iou_token, decoder.mask_tokens], axis=0)
        output_tokens = tf.tile(output_tokens[None, None], [batch, 1, 1, 1])
        tokens = tf.concat([output_tokens, tf.cast(sparse, output_tokens.dtype)], axis=2)
        positional = tf.repeat(self.image_positional_embeddings, batch, axis=0)
        token_out, image_out, _ = decoder.transformer(
            point_embeddings=tokens,
            image_embeddings=image_embeddings + dense,
            image_positional_embeddings=positional,
        )
        iou = decoder.iou_prediction_head(token_out[:, 0, 0, :])
        mask_tokens = token_out[:, 0, 1 : 1 + decoder.num_mask_tokens, :]

        grid = tf.shape(image_embeddings)[2]
        features = tf.reshape(image_out, (batch, grid, grid, -1))  # channels-last
        norm = decoder.upscale_layer_norm
        features = _transposed_conv_2x2(features, decoder.upscale_conv1)
        mean, variance = tf.nn.moments(features, axes=[-1], keepdims=True)
        features = tf.nn.batch_normalization(features, mean, variance, norm.bias, norm.weight, norm.eps)
        features = tf.nn.gelu(features, approximate=False)
        features = tf.nn.gelu(_transposed_conv_2x2(features, decoder.upscale_conv2), approximate=False)
        hyper_in = tf.stack(
            [mlp(mask_tokens[:, i, :]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], axis=1
        )
        masks = tf.einsum("bhwc,bkc->bkhw", features, hyper_in)
        return masks, iou


def _transposed_conv_2x2(features: tf.Tensor, layer) -> tf.Tensor:
    """A kernel-2, stride-2 `Conv2DTranspose` on (B, H, W, C) input: each input pixel fills its own 2x2 block."""
    kernel = layer.kernel  # (2, 2, out, in)
    out_channels = kernel.shape[2]
    blocks = tf.einsum("bhwc,xyoc->bhxwyo", features, kernel)
    shape = tf.shape(features)
    upscaled = tf.reshape(blocks, (shape[0], 2 * shape[1], 2 * shape[2], out_channels))
    return upscaled + layer.bias


class PromptDecoder:
    """Decodes one image's prompts to masks at the original image size; one compiled graph for every click."""

    def __init__(self, model: TFSamModel):
        self._sam = SamDecoder(model)
        config = model.config
        channels = config.vision_config.output_channels
        grid = config.prompt_encoder_config.image_embedding_size
        self.pad_size = config.prompt_encoder_config.image_size
        self.trace_count = 0  # how many times the graph was traced; tests check it stays at one
        self._decode = tf.function(
            self._decode_graph,
            input_signature=[
                tf.TensorSpec([1, channels, grid, grid], tf.float32, name="image_embedding"),
                tf.TensorSpec([None, 2], tf.float32, name="points"),
                tf.TensorSpec([None], tf.int32, name="labels"),
                tf.TensorSpec([4], tf.float32, name="box"),
                tf.TensorSpec([], tf.bool, name="has_box"),
                tf.TensorSpec([LOW_RES_SIZE, LOW_RES_SIZE], tf.float32, name="mask_input"),
                tf.TensorSpec([], tf.bool, name="has_mask_input"),
                tf.TensorSpec([], tf.bool, name="multimask_output"),
                tf.TensorSpec([2], tf.int32, name="original_size"),
                tf.TensorSpec([2], tf.int32, name="resized_size"),
            ],
        )

    def __call__(
        self,
        image_embedding: tf.Tensor,
        points: np.ndarray,
        labels: np.ndarray,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask_output: bool,
        original_size: tuple[int, int],
        resized_size: tuple[int, int],
    ) -> DecodedMasks:
        """Decode validated prompts given in the model-input frame (see `transforms.to_model_frame`)."""
        masks, iou_scores, low_res = self._decode(
            image_embedding,
            np.asarray(points, np.float32).reshape(-1, 2),
            np.asarray(labels, np.int32).reshape(-1),
            np.zeros(4, np.float32) if box is None else np.asarray(box, np.float32),
            box is not None,
            np.zeros((LOW_RES_SIZE, LOW_RES_SIZE), np.float32) if mask_input is None else mask_input,
            mask_input is not None,
            bool(multimask_output),
            np.asarray(original_size, np.int32),
            np.asarray(resized_size, np.int32),
        )
        return DecodedMasks(masks.numpy(), iou_scores.numpy(), low_res.numpy())

    def _decode_graph(
        self,
        image_embedding,
        points,
        labels,
        box,
        has_box,
        mask_input,
        has_mask_input,
        multimask_output,
        original_size,
        resized_size,
    ):
        self.trace_count += 1
        sparse = self._sam.sparse_embeddings(points[None], labels[None], box[None], has_box)
        dense = self._sam.dense_embeddings(mask_input, has_mask_input)
        all_low_res, all_iou = self._sam.all_masks(image_embedding, sparse, dense)
        # SAM's convention: mask 0 answers an unambiguous prompt, masks 1-3 are the multimask candidates.
        chosen = tf.where(multimask_output, tf.range(1, 4), tf.zeros(3, tf.int32))
        chosen = chosen[: tf.where(multimask_output, 3, 1)]
        low_res = tf.gather(all_low_res[0], chosen)
        iou_scores = tf.gather(all_iou[0], chosen)
        masks = upscale_logits(low_res, original_size, resized_size, self.pad_size) > 0.0
        return masks, iou_scores, low_res
