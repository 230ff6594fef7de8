"""Benchmarks of training: the trained encoder's memory, and how the cached route feeds its steps.

    python -m sam_demo.bench train-encoder --arch base [--layers N] [--global-layers I ...] [--batch-sizes 1 2]
        [--max-rss-gb G] [--json]
    python -m sam_demo.bench train-feed --arch base [--images 16] [--batch-size 2] [--repeats 4] [--json]

`train-encoder`: each (batch size, gradient checkpointing off / on) runs in a fresh process, so each peak RSS
(VmHWM) is that configuration's own, in the order off, on, off, on (their step times are as fair as separate
processes allow). A process that grows past --max-rss-gb is stopped and reported as over the cap: the machine is
shared. The memory one more image costs is the difference between two batch sizes. `--layers` keeps the first N
blocks of the architecture (the same width, heads and windows; `--global-layers` says which of them attend
globally), so that the cost of one windowed and one global block can be measured where the whole encoder does not
fit.

`train-feed`: cached-route epochs through `TrainingPipeline` (one dataset for the whole run, as train.py iterates
it, and a dataset per epoch, the earlier way) against a hand-fed loop (NumPy batches drawn by the same
`PromptSampler`, into the same compiled step), taking turns in one process, with the CPU time, minor page faults and
system CPU time of each; then the same after a three-element `from_generator` dataset has been iterated once. The
embeddings are random, of the model's shape (the encoder does not run: the cached step is the decoder's).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from transformers import SamConfig, SamVisionConfig, TFSamModel

from ..core.predictor import EncodedImage
from ..core.transforms import low_res_target, resized_size
from ..data.examples import TrainingExample
from ..training.encoder_route import EncoderRoute
from ..training.pipeline import TrainingPipeline
from ..training.trainer import SamTrainer
from .bench import machine
from .phantom import make_phantom
from .random_models import ARCHITECTURES, sam_architecture

INTERACTIVE_ROUNDS = 3  # train.py's default


def bench_train_encoder(
    arch: str,
    batch_sizes: list[int],
    layers: int | None = None,
    global_layers: list[int] | None = None,
    steps: int = 2,
    max_rss_mb: float | None = None,
    alternating_steps: int = 0,
) -> dict:
    """Peak RSS and step seconds per batch size with the encoder trained, without and with gradient checkpointing;
    the memory per image is the slope between the first and last batch size. With `alternating_steps`, one more
    process times that many steps of each at the first batch size, taking turns (a fairer ratio than separate
    processes give)."""
    max_rss_mb = max_rss_mb or 0.8 * available_mb()
    result: dict = {
        "arch": arch,
        "vision": _vision_settings(arch, layers, global_layers),
        "max_rss_mb": round(max_rss_mb),
    }
    runs = {}
    for batch_size in batch_sizes:
        for checkpointing in (False, True):
            settings = dict(arch=arch, layers=layers, global_layers=global_layers, steps=steps)
            settings.update(batch_size=batch_size, gradient_checkpointing=checkpointing)
            runs[batch_size, checkpointing] = _run_capped(settings, max_rss_mb)
    for checkpointing in (False, True):
        name = "checkpointing" if checkpointing else "no_checkpointing"
        measured = {batch: runs[batch, checkpointing] for batch in batch_sizes}
        result[name] = {f"batch_{batch}": run for batch, run in measured.items()}
        first, last = measured[batch_sizes[0]], measured[batch_sizes[-1]]
        if len(batch_sizes) > 1 and "peak_rss_mb" in first and "peak_rss_mb" in last:
            slope = (last["peak_rss_mb"] - first["peak_rss_mb"]) / (batch_sizes[-1] - batch_sizes[0])
            result[name]["per_image_mb"] = round(slope)
    if alternating_steps:
        settings = dict(arch=arch, layers=layers, global_layers=global_layers, steps=alternating_steps)
        settings.update(batch_size=batch_sizes[0], gradient_checkpointing="alternating")
        result["alternating"] = _run_capped(settings, max_rss_mb)
    result["machine"] = machine()
    return result


def available_mb() -> float:
    """MemAvailable from /proc/meminfo, in MB."""
    with open("/proc/meminfo") as meminfo:
        return next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:")) / 1024


def _vision_settings(arch: str, layers: int | None, global_layers: list[int] | None) -> dict:
    """The vision encoder's settings: the architecture's, cut to `layers` blocks with `global_layers` global."""
    if arch == "tiny":
        return {}
    settings = dict(ARCHITECTURES[arch])
    if layers is not None:
        settings["num_hidden_layers"] = layers
        settings["global_attn_indexes"] = [i for i in settings["global_attn_indexes"] if i < layers]
    if global_layers is not None:
        settings["global_attn_indexes"] = list(global_layers)
    return settings


def _model(arch: str, layers: int | None, global_layers: list[int] | None) -> TFSamModel:
    if arch == "tiny":
        return sam_architecture("tiny")[0]
    model = TFSamModel(SamConfig(vision_config=SamVisionConfig(**_vision_settings(arch, layers, global_layers))))
    model.build_in_name_scope()
    return model


def _run_capped(settings: dict, max_rss_mb: float) -> dict:
    """`_train_steps(settings)` in a fresh process, stopped if its RSS passes `max_rss_mb`."""
    command = [sys.executable, "-m", "sam_demo.devtools.train_bench", json.dumps(settings)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        try:
            out, _ = process.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if _rss_mb(process.pid) > max_rss_mb:
                process.kill()
                process.communicate()
                return {"over_cap": True}
    if process.returncode != 0:
        raise RuntimeError(f"the measurement {settings} failed (exit code {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):  # gone, or a zombie without memory
        return 0.0


def _train_steps(settings: dict) -> dict:
    """`steps` training steps on one random batch; this process's peak RSS and the steps' seconds. With
    gradient_checkpointing "alternating", steps with and without it take turns on one model."""
    model = _model(settings["arch"], settings["layers"], settings["global_layers"])
    batch = _random_pixel_batch(settings["batch_size"], model.config.vision_config.image_size)
    modes = (
        [False, True] if settings["gradient_checkpointing"] == "alternating" else [settings["gradient_checkpointing"]]
    )
    trainers = {
        mode: SamTrainer(
            model, route=EncoderRoute.TRAINED, interactive_rounds=INTERACTIVE_ROUNDS, gradient_checkpointing=mode
        )
        for mode in modes
    }
    rss_before = _rss_mb_self("VmRSS")
    seconds: dict[bool, list[float]] = {mode: [] for mode in modes}
    for _ in range(settings["steps"]):
        for mode, trainer in trainers.items():
            start = time.perf_counter()
            trainer.train_step(batch)
            seconds[mode].append(time.perf_counter() - start)
    result = {"peak_rss_mb": round(_rss_mb_self("VmHWM")), "rss_before_steps_mb": round(rss_before)}
    for mode, times in seconds.items():
        prefix = "" if len(modes) == 1 else ("checkpointing_" if mode else "no_checkpointing_")
        result[f"{prefix}first_step_s"] = round(times[0], 1)  # traces and compiles the step
        result[f"{prefix}step_s"] = round(statistics.median(times[1:]), 1) if len(times) > 1 else None
    return result


def _rss_mb_self(field: str) -> float:
    # This process's own: ru_maxrss would carry the parent's peak across fork and exec.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


def _random_pixel_batch(batch_size: int, image_size: int) -> dict[str, tf.Tensor]:
    """A batch as `TrainingPipeline` makes it on the pixel routes: random pixels, a box prompt, a square target."""
    rng = np.random.default_rng(0)
    slots = 3 + INTERACTIVE_ROUNDS - 1
    target = np.zeros((batch_size, 256, 256), np.float32)
    target[:, 100:150, 80:140] = 1
    batch = {
        "index": np.arange(batch_size, dtype=np.int32),
        "inputs": rng.normal(size=(batch_size, 3, image_size, image_size)).astype(np.float32),
        "target": target,
        "valid": np.ones_like(target),
        "weight": np.ones(batch_size, np.float32),
        "points": np.zeros((batch_size, slots, 2), np.float32),
        "labels": np.full((batch_size, slots), -1, np.int32),
        "boxes": np.tile(np.array([[320, 400, 560, 600]], np.float32), (batch_size, 1)),
        "point_count": np.zeros(batch_size, np.int32),
        "has_box": np.ones(batch_size, bool),
        "mask_prompt": np.ones((batch_size, INTERACTIVE_ROUNDS - 1), bool),
        "click_seed": np.arange(batch_size, dtype=np.int64),
    }
    return {name: tf.constant(value) for name, value in batch.items()}


def bench_train_feed(arch: str, images: int, batch_size: int, repeats: int, rounds: int = 1) -> dict:
    """Seconds per cached-route epoch: `TrainingPipeline` as train.py iterates it (one dataset for every epoch), a
    dataset per epoch (the earlier way) and a hand-fed loop, taking turns in one process; then all again after a
    `from_generator` dataset has run. `rounds`: interactive rounds per step."""
    model, _ = sam_architecture(arch)
    examples = _examples_with_random_embeddings(images, model.config.vision_config.output_channels)
    trainer = SamTrainer(model, interactive_rounds=rounds)
    pipeline = TrainingPipeline(examples, batch_size=batch_size, seed=0, interactive_rounds=rounds)
    # As train.py feeds it: one dataset of every epoch, one iterator (each turn takes the next epoch's batches).
    batches = trainer.distribute(pipeline.epochs(0, 1 + 2 * repeats))
    feeds = {
        "pipeline": lambda epoch: trainer.train_epoch(batches, steps=pipeline.steps_per_epoch),
        "dataset_per_epoch": lambda epoch: trainer.train_epoch(pipeline.epoch(epoch)),  # the earlier way
        "hand_fed": lambda epoch: [trainer.train_step(batch) for batch in _hand_fed_batches(pipeline, epoch)],
    }
    for feed in feeds.values():
        feed(0)  # traces the step (once for both: the same shapes) and warms the pipeline: excluded
    result: dict = {"arch": arch, "images": images, "batch_size": batch_size, "interactive_rounds": rounds}
    result["before_from_generator"] = _interleaved(feeds, repeats, first_epoch=1)
    scalars = np.zeros((3, 1), np.float32)
    for _ in tf.data.Dataset.from_generator(lambda: iter(scalars), output_signature=tf.TensorSpec([1], tf.float32)):
        pass
    result["after_from_generator"] = _interleaved(feeds, repeats, first_epoch=1 + repeats)
    result["machine"] = machine()
    return result


def _examples_with_random_embeddings(count: int, channels: int) -> list[TrainingExample]:
    rng = np.random.default_rng(0)
    examples = []
    for seed in range(count):
        image, mask = make_phantom(seed, (480, 600))
        embedding = tf.constant(rng.normal(size=(1, channels, 64, 64)).astype(np.float32))
        encoded = EncodedImage(f"random-{seed}", image, resized_size(mask.shape, 1024), embedding)
        examples.append(TrainingExample(f"phantom_{seed}", None, encoded, mask, *low_res_target(mask)))
    return examples


def _hand_fed_batches(pipeline: TrainingPipeline, epoch: int) -> Iterator[dict[str, tf.Tensor]]:
    """The earlier training loop's feeding: NumPy batches (the pipeline's prompts), converted as they are used."""
    count, size = len(pipeline.examples), pipeline.batch_size
    order = np.random.default_rng([pipeline.seed, epoch]).permutation(count)
    order = np.concatenate([order, order[: -count % size]])
    for step in range(len(order) // size):
        indices = order[step * size : (step + 1) * size]
        examples = [pipeline.examples[i] for i in indices]
        batch = {
            "index": indices.astype(np.int32),
            "inputs": np.stack([np.asarray(e.image.embedding[0]) for e in examples]),
            "target": np.stack([e.target for e in examples]),
            "valid": np.stack([e.valid for e in examples]),
            "weight": (step * size + np.arange(size) < count).astype(np.float32),
        }
        prompts = pipeline.sample_prompts(indices, np.random.default_rng([pipeline.seed, epoch, step]))
        batch.update(zip(pipeline.prompt_specs(), prompts))
        yield {name: tf.constant(value) for name, value in batch.items()}


def _interleaved(feeds: dict, repeats: int, first_epoch: int) -> dict:
    """Median epoch seconds, minor page faults and system CPU seconds per feed, the feeds taking turns (A B B A ...,
    so that neither always runs first)."""
    measured: dict[str, list] = {name: [] for name in feeds}
    for turn, epoch in enumerate(range(first_epoch, first_epoch + repeats)):
        for name, feed in list(feeds.items())[:: -1 if turn % 2 else 1]:
            before, start, cpu = _faults_and_system_seconds(), time.perf_counter(), time.process_time()
            feed(epoch)
            seconds, cpu, after = time.perf_counter() - start, time.process_time() - cpu, _faults_and_system_seconds()
            measured[name].append((seconds, cpu, after[0] - before[0], after[1] - before[1]))
    result = {}
    for name, rows in measured.items():
        seconds, cpu, faults, system = (statistics.median(column) for column in zip(*rows))
        result[f"{name}_epoch_s"] = round(seconds, 3)
        result[f"{name}_cpu_s"] = round(cpu, 2)  # wall time well above CPU time: the step waited for its batch
        result[f"{name}_page_faults"] = round(faults)
        result[f"{name}_system_s"] = round(system, 2)
    for name in feeds:
        if name != "hand_fed":
            result[f"{name}_over_hand_fed"] = round(result[f"{name}_epoch_s"] / result["hand_fed_epoch_s"], 3)
    return result


def _faults_and_system_seconds() -> tuple[int, float]:
    """This process's minor page faults and system CPU seconds so far (/proc/self/stat)."""
    with open("/proc/self/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[7]), int(fields[12]) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":  # one measurement, in its own process (see `_run_capped`)
    print(json.dumps(_train_steps(json.loads(sys.argv[1]))))
