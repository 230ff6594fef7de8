"""A way around a TensorFlow 2.21 bug that SAM's prompt encoder meets whenever it encodes more than one prompt set.

oneDNN's batch matmul corrupts the heap when a rank-4 tensor with several batch entries is multiplied by a rank-2
matrix (tensorflow/tensorflow#117700; fixed after 2.21.0, in no release of the pinned 2.21). SAM's
`TFSamPositionalEmbedding` multiplies (batch, point_batch, points, 2) coordinates by a (2, F) matrix; on a CPU with
AVX-512 a training step on 4 images aborted with "corrupted size vs. prev_size" or a segmentation fault (AVX2
machines did not show it). Here the layer gets the coordinates as one (1, 1, N, 2) row of points, which is the
same product (a test compares it with numpy) through the path that does not broadcast, and its output is shaped
back. `model.py` (every checkpoint loaded) and `decoding.py` (every prompt the project encodes) apply it.
"""

from __future__ import annotations

import tensorflow as tf
from transformers.models.sam.modeling_tf_sam import TFSamPositionalEmbedding

_transformers_call = TFSamPositionalEmbedding.call


def _call_on_one_row(self: TFSamPositionalEmbedding, input_coords: tf.Tensor, input_shape=None) -> tf.Tensor:
    row = tf.reshape(input_coords, [1, 1, -1, 2])
    encoded = _transformers_call(self, row, input_shape)
    channels = encoded.shape[-1]
    out = tf.reshape(encoded, tf.concat([tf.shape(input_coords)[:-1], [channels]], axis=0))
    return tf.ensure_shape(out, input_coords.shape[:-1].concatenate([channels]))


def encode_positions_without_broadcast() -> None:
    """Make every `TFSamPositionalEmbedding` encode its coordinates as one row of points (idempotent)."""
    TFSamPositionalEmbedding.call = _call_on_one_row
