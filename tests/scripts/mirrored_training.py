"""Run by tests/test_distribution.py in a fresh process: two logical CPU devices must be set up before
TensorFlow starts, which the test process has long done.

    python mirrored_training.py CHECKPOINT DATASET  ->  prints one JSON line
"""

import json
import sys
from pathlib import Path

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from sam_demo.core.model import load_sam  # noqa: E402
from sam_demo.core.predictor import SamPredictor  # noqa: E402
from sam_demo.data.examples import embed_examples  # noqa: E402
from sam_demo.data.layouts import find_examples  # noqa: E402
from sam_demo.data.loading import load_examples  # noqa: E402
from sam_demo.training.pipeline import TrainingPipeline  # noqa: E402
from sam_demo.training.trainer import SamTrainer  # noqa: E402

checkpoint, dataset = sys.argv[1:3]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

# The same two steps on one device and on two replicas: a batch of 3 (split 2 + 1), then one of 1 (1 + 0).
single_model, processor = load_sam(checkpoint)
with strategy.scope():
    mirrored_model, _ = load_sam(checkpoint)
loaded = load_examples(find_examples(Path(dataset))).examples[:4]
examples = embed_examples(SamPredictor(single_model, processor), list(loaded))
batches = TrainingPipeline(examples, batch_size=3, seed=0, point_share=0.5).epoch(1)
losses = {}
for name, model, options in (("single", single_model, {}), ("mirrored", mirrored_model, {"strategy": strategy})):
    losses[name] = SamTrainer(model, learning_rate=1e-2, **options).train_epoch(batches)
fresh_model, _ = load_sam(checkpoint)


def mean_abs_difference(a_model, b_model) -> float:
    pairs = list(zip(a_model.mask_decoder.weights, b_model.mask_decoder.weights))
    return float(sum(tf.reduce_sum(tf.abs(a - b)) for a, b in pairs) / sum(tf.size(a) for a, _ in pairs).numpy())


print(
    json.dumps(
        {
            "replicas": strategy.num_replicas_in_sync,
            "losses": losses,
            "weight_difference": mean_abs_difference(single_model, mirrored_model),
            "moved": mean_abs_difference(single_model, fresh_model),
        }
    )
)
