"""Which devices train: every GPU of this machine, several machines, or the one device there is.

* `TF_CONFIG` names a cluster -> `MultiWorkerMirroredStrategy`: run the same `train.py` command on every
  machine, each with its own `TF_CONFIG` (its task index); worker 0 (or the chief) writes the outputs.
* Several GPUs -> `MirroredStrategy` over all of them.
* Otherwise TensorFlow's default strategy (one GPU, or the CPU).
Each replica takes `--batch-size` examples, so a step sees batch size x replicas.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf


def training_strategy() -> tf.distribute.Strategy:
    """The strategy for this machine (or cluster): see the module's docstring."""
    if json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True where this process writes the outputs: everywhere but on a multi-worker cluster's other workers."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def describe(strategy: tf.distribute.Strategy) -> str:
    """One line for the log: how many replicas on which devices."""
    if not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy():
        gpus = tf.config.list_logical_devices("GPU")
        return f"one device ({gpus[0].name if gpus else 'CPU'})"
    devices = ", ".join(strategy.extended.worker_devices)
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)  # its class says "Collective…"
    name = "MultiWorkerMirroredStrategy" if multi_worker else type(strategy).__name__
    return f"{name}: {strategy.num_replicas_in_sync} replicas ({devices})"
