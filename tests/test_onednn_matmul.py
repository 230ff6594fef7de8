"""The prompt encoder's positional encoding without TensorFlow 2.21's broadcasting batch matmul
(sam_demo/core/onednn_matmul.py): the same numbers, and no heap corruption with several prompt sets."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

import sam_demo.core.decoding  # noqa: F401  (applies the change, as every use of the decoder does)

ROOT = Path(__file__).resolve().parents[1]


def expected(layer, coords: np.ndarray, input_shape=None) -> np.ndarray:
    """transformers' formula, in numpy."""
    coords = coords.astype(np.float64)
    if input_shape is not None:
        coords = coords / np.array([input_shape[1], input_shape[0]])
    projected = 2 * np.pi * ((2 * coords - 1) @ layer.positional_embedding.numpy().astype(np.float64))
    return np.concatenate([np.sin(projected), np.cos(projected)], axis=-1)


def test_points_of_several_prompt_sets_and_the_image_grid_are_encoded_as_before(tiny_model):
    layer = tiny_model[0].shared_image_embedding
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1024, (8, 1, 5, 2)).astype(np.float32)  # a training batch's points, in pixels
    np.testing.assert_allclose(
        layer(points, input_shape=(1024, 1024)), expected(layer, points, (1024, 1024)), atol=2e-4
    )
    grid = rng.uniform(0, 1, (64, 64, 2)).astype(np.float32)  # the image-wide embedding's grid, rank 3
    np.testing.assert_allclose(layer(grid), expected(layer, grid), atol=2e-4)


def test_the_static_shape_is_kept_in_a_graph(tiny_model):
    layer = tiny_model[0].shared_image_embedding
    encode = tf.function(layer, input_signature=[tf.TensorSpec([None, 1, None, 2], tf.float32)])
    channels = 2 * layer.positional_embedding.shape[1]
    assert encode.get_concrete_function().structured_outputs.shape.as_list() == [None, 1, None, channels]


# Many prompt sets at once in a fresh process: with the broadcasting matmul, on a CPU with AVX-512, this aborted
# or segfaulted within the first few calls.
MANY_PROMPT_SETS = """
import numpy as np
from sam_demo.core.model import load_sam  # applies the change
model, _ = load_sam(r"{checkpoint}")
points = np.random.default_rng(0).uniform(0, 1, (8, 1, 5, 2)).astype(np.float32)
for _ in range(200):
    model.shared_image_embedding(points)
print("ok")
"""


def test_many_prompt_sets_at_once_do_not_corrupt_memory(tiny_checkpoint):
    script = MANY_PROMPT_SETS.format(checkpoint=tiny_checkpoint)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
