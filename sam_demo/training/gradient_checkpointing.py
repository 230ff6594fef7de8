"""Gradient checkpointing for a trained vision encoder: each ViT block's activations recomputed in the backward pass.

Training the encoder keeps, per image, every activation of every block for the backward pass: at ViT-B more than
12 GB per image on CPU, mostly the 4096 x 4096 attention maps of the global-attention blocks (README, "Training
the vision encoder"). With `tf.recompute_grad` around each block, the forward pass keeps only each block's input
(4096 x width floats) and the backward pass runs the block again, one at a time: memory for one block instead of
all of them, for about one more forward pass of the encoder per step.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tf_keras
from transformers import TFSamModel


def checkpointed_image_embeddings(model: TFSamModel) -> Callable[[tf.Tensor], tf.Tensor]:
    """pixels (B, 3, H, W) -> embeddings (B, C, 64, 64), as `model.get_image_embeddings`, each block recomputed.

    transformers' `TFSamVisionEncoder.call` loops over its blocks itself, so the loop is written out here with
    each block wrapped; a test checks that the gradients are the same.
    """
    encoder = model.vision_encoder
    # recompute_grad takes positional tensors only in graph mode (custom_gradient refuses keyword arguments), and
    # the block's Keras __call__ runs inside, so mixed precision casts the same way in both passes.
    blocks = [tf.recompute_grad(_block_output(block)) for block in encoder.layers]

    def embeddings(pixels: tf.Tensor) -> tf.Tensor:
        hidden = encoder.patch_embed(pixels)
        if encoder.pos_embed is not None:
            hidden = hidden + tf.cast(encoder.pos_embed, hidden.dtype)  # the encoder's own call autocasts it
        for block in blocks:
            hidden = block(hidden)
        return encoder.neck(hidden)

    return embeddings


def _block_output(block: tf_keras.layers.Layer) -> Callable[[tf.Tensor], tf.Tensor]:
    return lambda hidden: block(hidden, training=False)[0]
