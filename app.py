"""Gradio app for prompted breast-tumour segmentation in ultrasound images (research demo, not for clinical use).

    python app.py [--model ID_OR_FOLDER] [--host 127.0.0.1] [--port 7860] [--share] [--cache-size 32]
                  [--embedding-cache-dir DIR] [--embedding-cache-gb 2] [--encoder-precision auto]

The weights come from --model, else the SAM_MODEL_ID environment variable (a Hugging Face Space sets it to the
repo that train.py pushed), else Meta's base facebook/sam-vit-large. HF_TOKEN is used for private repos.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import gradio as gr

from sam_demo.app.allocator import return_large_blocks_to_system
from sam_demo.app.library_warnings import ignore_library_warnings
from sam_demo.app.queue_limits import expect_encoder_time
from sam_demo.app.ui import build_demo, configure_queue, example_images, launch
from sam_demo.core.encoder_precision import PRECISIONS
from sam_demo.core.model import DEFAULT_MODEL_ID, ModelLoadError
from sam_demo.core.predictor import load_predictor

# Image embeddings kept in memory, 4 MB each: the examples plus a few dozen users' images. A tab whose image has
# left the cache waits for the encoder again at its next click (measured with 20 tabs and 8 kept: README).
DEFAULT_CACHE_SIZE = 32


def create_demo(
    model_name: str,
    cache_size: int = DEFAULT_CACHE_SIZE,
    *,
    embedding_cache_dir: str | None = None,
    embedding_cache_gb: float = 2.0,
    encoder_precision: str = "auto",
) -> gr.Blocks:
    """Load the model (or exit with one clear message), compile it and build the page; the examples are encoded
    in the background meanwhile."""
    return_large_blocks_to_system()  # else the request threads keep hundreds of MB of freed large-image buffers
    ignore_library_warnings()
    try:
        predictor = load_predictor(
            model_name,
            encoder_precision,
            cache_size=cache_size,
            disk_cache_dir=embedding_cache_dir,
            disk_cache_bytes=int(embedding_cache_gb * 2**30),
        )
    except (ModelLoadError, ValueError) as error:  # ValueError: a bad $SAM_ENCODER_PRECISION
        sys.exit(f"Cannot start the app: {error}")
    print(f"Vision encoder: {predictor.encoder_path} (--encoder-precision {encoder_precision})", file=sys.stderr)
    # Compile the encoder on the first example before serving, so that no user pays for the compilation, and
    # encode the other examples in the background: a click on any of them is then answered at once.
    examples = example_images()
    predictor.warm_up(examples[0] if examples else None)
    demo = configure_queue(build_demo(predictor, model_name))

    def estimate_waits() -> None:  # from the background runs: the first run above compiled the encoder
        if predictor.encoder_s is not None:
            expect_encoder_time(demo, predictor.encoder_s)

    predictor.encode_in_background(examples[1:], on_done=estimate_waits)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default=os.environ.get("SAM_MODEL_ID", DEFAULT_MODEL_ID),
        help="Hub repo id or local checkpoint folder (default: $SAM_MODEL_ID, else %(default)s)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument(
        "--cache-size",
        type=int,
        default=DEFAULT_CACHE_SIZE,
        help="image embeddings kept in memory, about 4 MB each (default %(default)s)",
    )
    parser.add_argument(
        "--embedding-cache-dir",
        default=os.environ.get("SAM_EMBEDDING_CACHE_DIR"),
        metavar="DIR",
        help="also keep image embeddings in this folder, for restarts and other replicas sharing it "
        "(default: $SAM_EMBEDDING_CACHE_DIR, else none)",
    )
    parser.add_argument(
        "--embedding-cache-gb",
        type=float,
        default=float(os.environ.get("SAM_EMBEDDING_CACHE_GB", 2.0)),
        help="size bound of --embedding-cache-dir; least recently used embeddings go first "
        "(default: $SAM_EMBEDDING_CACHE_GB, else %(default)s)",
    )
    parser.add_argument(
        "--encoder-precision",
        choices=PRECISIONS,
        default=os.environ.get("SAM_ENCODER_PRECISION", "auto"),
        help="vision encoder precision; auto: bfloat16 (without XLA) on CPUs with AVX512_BF16 or AMX, "
        "else float32 (XLA) (default: $SAM_ENCODER_PRECISION, else %(default)s)",
    )
    return parser.parse_args(argv)


def demo_from_args(args: argparse.Namespace) -> gr.Blocks:
    if args.cache_size < 1:
        sys.exit("--cache-size must be at least 1")
    if args.embedding_cache_gb <= 0:
        sys.exit("--embedding-cache-gb must be positive")
    return create_demo(
        args.model,
        args.cache_size,
        embedding_cache_dir=args.embedding_cache_dir,
        embedding_cache_gb=args.embedding_cache_gb,
        encoder_precision=args.encoder_precision,
    )


def exit_once(*_: object) -> None:
    """Exit normally on the first SIGTERM and ignore the next ones, which would interrupt the cleanup (a supervisor
    often forwards its own SIGTERM after sending one: `timeout`, a shell)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Our own log lines (one per refused input, see sam_demo/app/user_errors.py); other libraries' warnings only.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("sam_demo").setLevel(logging.INFO)
    # `kill` or a stopped Space sends SIGTERM: exit normally, so that atexit deletes the users' downloads.
    signal.signal(signal.SIGTERM, exit_once)
    launch(demo_from_args(args), server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
else:
    # Hosting platforms (Hugging Face Spaces, `gradio app.py`) import this module and look for `demo`; the flags'
    # environment variables (SAM_MODEL_ID, SAM_EMBEDDING_CACHE_DIR, ...) configure it there.
    demo = demo_from_args(parse_args([]))
