"""Benchmarks that print numbers (never timed tests).

    python -m sam_demo.bench predictor --arch large [--encoder-precision auto|float32|bfloat16] [--json]
    python -m sam_demo.bench train --arch base --images 8 [--json]
    python -m sam_demo.bench train-encoder --arch base [--layers N] [--batch-sizes 1 2] [--json]
    python -m sam_demo.bench train-feed --arch base [--images 16] [--repeats 4] [--json]
    python -m sam_demo.bench load --arch large [--json]
    python -m sam_demo.bench interactive --arch large [--json]
    python -m sam_demo.bench browser --arch large [--clicks 20] [--image PATH] [--json]
    python -m sam_demo.bench sessions --arch tiny [--sessions 20] [--clicks 10] [--image-size H W] [--client api]
        [--json]

build a randomly initialised SAM with the real architecture (nothing is downloaded; speed does not depend on
the weights) and measure what a user of the app, or of train.py, waits for. `browser` and `sessions` serve the
real app.py and drive it from headless Chromium (see `app_bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.encoder_precision import PRECISIONS, resolve_encoder_precision
from ..core.model import load_sam, save_sam
from ..core.predictor import SamPredictor
from .phantom import make_phantom
from .random_models import sam_architecture


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def machine() -> str:
    """Architecture, cores and vector extensions: the ViT encoder runs about 3x faster with AVX-512 than AVX2."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((set(line.split(":", 1)[1].split()) for line in cpuinfo if line.startswith("flags")), set())
    except OSError:
        pass
    vector = sorted(flag for flag in flags if flag.startswith("avx") or flag in ("fma", "amx_tile", "amx_bf16"))
    extensions = " ".join(vector) or "unknown vector extensions"
    return f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPU cores available, {extensions}"


def bench_predictor(
    arch: str, clicks: int, encoder_runs: int, image_size: tuple[int, int], encoder_precision: str = "auto"
) -> dict:
    """Encoder seconds per image, decoder+post-processing ms per click with and without the cache."""
    precision = resolve_encoder_precision(encoder_precision)
    model, processor = sam_architecture(arch)
    if precision != "float32":  # the app's route: the model is built for the precision when it is loaded
        with tempfile.TemporaryDirectory() as folder:
            save_sam(model, processor, Path(folder))
            model, processor = load_sam(folder, mixed_precision=precision)
    predictor = SamPredictor(model, processor, cache_size=encoder_runs + 2, encoder_precision=precision)
    images = [make_phantom(seed, size=image_size)[0] for seed in range(encoder_runs + 2)]
    height, width = image_size

    predictor.warm_up(images[0])  # traces the decoder and compiles the encoder on the first image: excluded
    predictor.set_image(images[0])
    click_points = [
        [(width * (0.3 + 0.4 * ((i * 7) % 10) / 10), height * (0.3 + 0.04 * (i % 10)))] for i in range(clicks + 1)
    ]

    def click(i: int) -> None:
        predictor.predict(points=click_points[i], labels=[1], multimask_output=True)

    click_times = []
    for i in range(clicks + 1):
        start = time.perf_counter()
        click(i)
        click_times.append(time.perf_counter() - start)
    click_times = click_times[1:]  # the first call after encoding pays one-off allocations

    encoder_times, uncached_times = [], []
    for image in images[1 : encoder_runs + 1]:
        start = time.perf_counter()
        predictor.set_image(image)
        encoded = time.perf_counter()
        click(0)
        done = time.perf_counter()
        encoder_times.append(encoded - start)
        uncached_times.append(done - start)

    return {
        "arch": arch,
        "image_size": list(image_size),
        "encoder_path": predictor.encoder_path,
        "encoder_s": round(statistics.median(encoder_times), 3),
        "click_ms_cached": round(statistics.median(click_times) * 1000, 1),
        "click_ms_cached_p90": round(float(np.percentile(click_times, 90)) * 1000, 1),
        "click_ms_uncached": round(statistics.median(uncached_times) * 1000, 1),
        "clicks": clicks,
        "encoder_runs": encoder_runs,
        "peak_rss_mb": round(peak_rss_mb()),
        "decoder_traces": predictor.decoder_traces,
        "machine": machine(),
    }


def bench_train(arch: str, images: int, batch_size: int, image_size: tuple[int, int]) -> dict:
    """Seconds per training epoch with cached embeddings (after the first epoch) and without them."""
    from ..data.examples import embed_examples
    from ..data.layouts import find_examples
    from ..data.loading import load_examples
    from ..training.encoder_route import EncoderRoute
    from ..training.pipeline import TrainingPipeline
    from ..training.trainer import SamTrainer
    from .phantom_datasets import write_phantom_dataset

    model, processor = sam_architecture(arch)
    predictor = SamPredictor(model, processor, cache_size=1)
    with tempfile.TemporaryDirectory() as folder:
        root = write_phantom_dataset(Path(folder), images, layout="images-labels", size=image_size)
        loaded = list(load_examples(find_examples(root)).examples)
    start = time.perf_counter()
    examples = embed_examples(predictor, loaded)
    embedding_s = time.perf_counter() - start
    routes = {"cached": EncoderRoute.CACHED, "uncached": EncoderRoute.FROZEN_IN_STEP}
    trainers = {name: SamTrainer(model, route=route) for name, route in routes.items()}
    pipelines = {
        name: TrainingPipeline(
            examples, batch_size=batch_size, seed=0, point_share=0.0, route=route, processor=processor
        )
        for name, route in routes.items()
    }

    def epoch(name: str, number: int) -> float:
        start = time.perf_counter()
        trainers[name].train_epoch(pipelines[name].epoch(number))
        return time.perf_counter() - start

    epoch("cached", 0)  # traces the training step: excluded
    cached = epoch("cached", 1)
    epoch("uncached", 0)  # traces the step with the encoder and fills the pixel cache: excluded
    uncached = epoch("uncached", 1)
    return {
        "arch": arch,
        "images": images,
        "batch_size": batch_size,
        "embedding_s": round(embedding_s, 2),
        "epoch_s_cached": round(cached, 2),
        "epoch_s_uncached": round(uncached, 2),
        "speedup": round(uncached / cached, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "machine": machine(),
    }


def bench_interactive(arch: str, images: int, max_clicks: int, rounds: list[int], image_size: tuple[int, int]) -> dict:
    """The interactive loop's cost: evaluation seconds per image (one embedding, then the single prompts, and every
    protocol's `max_clicks` corrective clicks after them, decoder only, with HD95/NSD per mask), and training-step
    milliseconds for K interactive rounds against 1, measured side by side on the same batches."""
    from ..data.examples import embed_examples
    from ..data.layouts import find_examples
    from ..data.loading import load_examples
    from ..evaluation.evaluate import evaluate
    from ..evaluation.interactive import PROTOCOLS
    from ..evaluation.single_prompt import PROMPT_TYPES
    from ..training.pipeline import TrainingPipeline
    from ..training.trainer import SamTrainer
    from .phantom_datasets import write_phantom_dataset

    model, processor = sam_architecture(arch)
    predictor = SamPredictor(model, processor, cache_size=1)
    predictor.warm_up()  # the encoder's compile is not in encoder_s
    with tempfile.TemporaryDirectory() as folder:
        root = write_phantom_dataset(Path(folder), images, layout="images-labels", size=image_size)
        loaded = list(load_examples(find_examples(root)).examples)
    start = time.perf_counter()
    examples = embed_examples(predictor, loaded)
    encoder_s = (time.perf_counter() - start) / len(examples)
    evaluate(predictor, examples[:1], max_clicks=1)  # first decodes of each prompt shape: excluded
    start = time.perf_counter()
    evaluate(predictor, examples, max_clicks)
    evaluation_s = (time.perf_counter() - start) / len(examples)
    decodes = len(PROMPT_TYPES) + len(PROTOCOLS) * max_clicks
    result: dict = {
        "arch": arch,
        "images": images,
        "encoder_s_per_image": round(encoder_s, 2),
        "evaluation_s_per_image": round(evaluation_s, 2),
        "interactions_per_image": decodes,
        "ms_per_interaction": round(evaluation_s / decodes * 1000, 1),
    }
    for count in rounds:
        trainer = SamTrainer(model, interactive_rounds=count)
        pipeline = TrainingPipeline(examples, batch_size=2, seed=0, interactive_rounds=count)
        trainer.train_epoch(pipeline.epoch(0))  # traces the step: excluded
        start = time.perf_counter()
        for epoch in (1, 2):
            trainer.train_epoch(pipeline.epoch(epoch))
        result[f"train_step_ms_rounds_{count}"] = round(
            (time.perf_counter() - start) / (2 * pipeline.steps_per_epoch) * 1000, 1
        )
    result["peak_rss_mb"] = round(peak_rss_mb())
    result["machine"] = machine()
    return result


# Runs in a fresh process per route, so that each peak RSS is that route's own.
_LOAD = """
import json, sys, time
from pathlib import Path
route, folder = sys.argv[1], Path(sys.argv[2])
from sam_demo import load_sam
from transformers import TFSamModel

def status_mb(field):  # this process's own memory: ru_maxrss would carry the parent's peak across fork and exec
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024

before = status_mb("VmRSS")
start = time.perf_counter()
if route == "transformers":
    TFSamModel.from_pretrained(folder)
else:
    load_sam(folder)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mb": status_mb("VmHWM"), "rss_before_mb": before}))
"""


def bench_load(arch: str) -> dict:
    """Seconds and memory to load a checkpoint from disk: the Hub's PyTorch layout through `load_sam`, against
    TF's layout through `load_sam` and through transformers' own `TFSamModel.from_pretrained`."""
    with tempfile.TemporaryDirectory() as folder:
        model, processor = sam_architecture(arch)
        pytorch_layout, tf_layout = Path(folder) / "pytorch", Path(folder) / "tf"
        save_sam(model, processor, pytorch_layout)
        model.save_pretrained(tf_layout, safe_serialization=True)
        processor.save_pretrained(tf_layout)
        del model
        routes = {"pytorch_layout": ("load_sam", pytorch_layout), "tf_layout": ("load_sam", tf_layout)}
        routes["tf_layout_transformers"] = ("transformers", tf_layout)
        result: dict = {
            "arch": arch,
            "weights_mb": round((pytorch_layout / "model.safetensors").stat().st_size / 2**20),
        }
        for name, (route, path) in routes.items():
            command = [sys.executable, "-c", _LOAD, route, str(path)]
            measured = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            result[f"{name}_s"] = round(measured["seconds"], 2)
            result[f"{name}_added_rss_mb"] = round(measured["peak_rss_mb"] - measured["rss_before_mb"])
    result["machine"] = machine()
    return result


def print_table(result: dict) -> None:
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sam_demo.bench", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    predictor = commands.add_parser("predictor", help="encoder and per-click decoder timings")
    predictor.add_argument("--arch", choices=["tiny", "base", "large", "huge"], default="large")
    predictor.add_argument("--clicks", type=int, default=30, help="timed clicks on a cached embedding (>= 20)")
    predictor.add_argument("--encoder-runs", type=int, default=2, help="timed encoder runs (after one untimed)")
    predictor.add_argument("--image-size", type=int, nargs=2, default=(480, 600), metavar=("H", "W"))
    predictor.add_argument(
        "--encoder-precision", choices=PRECISIONS, default="auto", help="as app.py's flag (default %(default)s)"
    )
    predictor.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    train = commands.add_parser("train", help="seconds per training epoch with and without the embedding cache")
    train.add_argument("--arch", choices=["tiny", "base", "large", "huge"], default="base")
    train.add_argument("--images", type=int, default=8)
    train.add_argument("--batch-size", type=int, default=2)
    train.add_argument("--image-size", type=int, nargs=2, default=(480, 600), metavar=("H", "W"))
    train.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    encoder = commands.add_parser(
        "train-encoder", help="peak memory per image and step time with the vision encoder trained (see train_bench)"
    )
    encoder.add_argument("--arch", choices=["tiny", "base", "large", "huge"], default="base")
    encoder.add_argument("--layers", type=int, help="keep the first N blocks of the encoder (default: all)")
    encoder.add_argument("--global-layers", type=int, nargs="*", help="the blocks with global attention (0-based)")
    encoder.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2])
    encoder.add_argument("--steps", type=int, default=2, help="steps per measurement; the first one is traced")
    encoder.add_argument("--max-rss-gb", type=float, help="stop a measurement above this (default: 80%% of free)")
    encoder.add_argument(
        "--alternating-steps", type=int, default=0, help="then time N steps with and without checkpointing, in turns"
    )
    encoder.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    feed = commands.add_parser("train-feed", help="cached-route epochs: tf.data pipeline against a hand-fed loop")
    feed.add_argument("--arch", choices=["tiny", "base", "large", "huge"], default="base")
    feed.add_argument("--images", type=int, default=16)
    feed.add_argument("--batch-size", type=int, default=2)
    feed.add_argument("--repeats", type=int, default=4, help="timed epochs per feed, taking turns")
    feed.add_argument("--interactive-rounds", type=int, default=1)
    feed.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    load = commands.add_parser("load", help="seconds and memory to load a checkpoint, by layout and route")
    load.add_argument("--arch", choices=["tiny", "base", "large", "huge"], default="large")
    load.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    interactive = commands.add_parser("interactive", help="interactive evaluation and K-round training costs")
    interactive.add_argument("--arch", choices=["tiny", "base", "large", "huge"], default="large")
    interactive.add_argument("--images", type=int, default=4)
    interactive.add_argument("--max-clicks", type=int, default=10)
    interactive.add_argument("--rounds", type=int, nargs="+", default=[1, 3, 5], help="interactive rounds to time")
    interactive.add_argument("--image-size", type=int, nargs=2, default=(480, 600), metavar=("H", "W"))
    interactive.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    browser = commands.add_parser("browser", help="one tab on the served app: upload and clicks, mouse to pixels")
    browser.add_argument("--arch", choices=["tiny", "base", "large", "huge"], default="large")
    browser.add_argument("--clicks", type=int, default=20)
    browser.add_argument("--image", type=Path, help="the image to upload (default: a 480x600 phantom)")
    browser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    sessions = commands.add_parser("sessions", help="concurrent tabs on the served app: click latency under load")
    sessions.add_argument("--arch", choices=["tiny", "base", "large", "huge"], default="tiny")
    sessions.add_argument("--sessions", type=int, default=20)
    sessions.add_argument("--clicks", type=int, default=10, help="clicks per session")
    sessions.add_argument("--image-size", type=int, nargs=2, default=(480, 600), metavar=("H", "W"))
    sessions.add_argument(
        "--timeout", type=float, default=600, help="seconds for all sessions; then report and exit 1 (%(default)s)"
    )
    sessions.add_argument(
        "--client", choices=["browser", "api"], default="browser", help="tabs in Chromium, or programs on /segment"
    )
    sessions.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    if args.command in ("browser", "sessions"):
        from .app_bench import bench_browser, bench_sessions  # Playwright only for these two

        if args.command == "browser":
            result = bench_browser(args.arch, args.clicks, args.image)
        else:
            result = bench_sessions(
                args.arch, args.sessions, args.clicks, tuple(args.image_size), args.timeout, args.client
            )
    elif args.command == "train-encoder":
        from .train_bench import bench_train_encoder

        cap = args.max_rss_gb * 1024 if args.max_rss_gb else None
        result = bench_train_encoder(
            args.arch, args.batch_sizes, args.layers, args.global_layers, args.steps, cap, args.alternating_steps
        )
    elif args.command == "train-feed":
        from .train_bench import bench_train_feed

        result = bench_train_feed(args.arch, args.images, args.batch_size, args.repeats, args.interactive_rounds)
    elif args.command == "interactive":
        result = bench_interactive(args.arch, args.images, args.max_clicks, args.rounds, tuple(args.image_size))
    elif args.command == "load":
        result = bench_load(args.arch)
    elif args.command == "train":
        result = bench_train(args.arch, args.images, args.batch_size, tuple(args.image_size))
    elif args.clicks < 20:
        parser.error("--clicks must be at least 20 for a meaningful median")
    else:
        result = bench_predictor(
            args.arch, args.clicks, args.encoder_runs, tuple(args.image_size), args.encoder_precision
        )
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    if result.get("timed_out"):
        sys.exit(1)


if __name__ == "__main__":
    main()
