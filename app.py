"""Gradio app for prompted breast-tumour segmentation in ultrasound images (research demo, not for clinical use).

    python app.py [--model ID_OR_FOLDER] [--host 127.0.0.1] [--port 7860] [--share] [--cache-size 8]

The weights come from --model, else the SAM_MODEL_ID environment variable (a Hugging Face Space sets it to the
repo that train.py pushed), else Meta's base facebook/sam-vit-large. HF_TOKEN is used for private repos.
"""

from __future__ import annotations

import argparse
import os
import sys

from sam_demo.app.ui import build_demo, configure_queue
from sam_demo.core.model import DEFAULT_MODEL_ID, ModelLoadError, load_sam
from sam_demo.core.predictor import SamPredictor


def create_demo(model_name: str, cache_size: int = 8):
    """Load the model (or exit with one clear message) and build the page."""
    try:
        model, processor = load_sam(model_name)
    except ModelLoadError as error:
        sys.exit(f"Cannot start the app: {error}")
    predictor = SamPredictor(model, processor, cache_size=cache_size)
    predictor.warm_up()
    return configure_queue(build_demo(predictor, model_name))


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
    parser.add_argument("--cache-size", type=int, default=8, help="image embeddings kept in memory (default 8)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.cache_size < 1:
        sys.exit("--cache-size must be at least 1")
    create_demo(args.model, args.cache_size).launch(server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
else:
    # Hosting platforms (Hugging Face Spaces, `gradio app.py`) import this module and look for `demo`.
    demo = create_demo(os.environ.get("SAM_MODEL_ID", DEFAULT_MODEL_ID))
