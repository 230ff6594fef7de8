"""Fine-tune SAM's mask decoder on breast-ultrasound image/mask pairs (research use only, not for clinical use).

    python train.py --dataset PATH_OR_ARCHIVE --output-dir outputs/run1 [--model facebook/sam-vit-large] ...

The vision and prompt encoders stay frozen; each image is embedded once and every epoch trains on the cached
embeddings. The best model by validation Dice is saved in --output-dir in the Hub's PyTorch layout
(model.safetensors, config, processor config), so that `python app.py --model OUTPUT_DIR` serves it and PyTorch
transformers' SamModel loads it. Test-split Dice/IoU per prompt type and class, and the starting
model's zero-shot numbers on the same split, go to OUTPUT_DIR/metrics.json and results.md, beside the training
log and curves, example predictions and a model card. --push-to-hub publishes the folder (token from HF_TOKEN
or your saved login, checked before training starts; a public repo unless --private; the held-out images and the
image file names only with --push-examples). --resume continues an interrupted run from its last
epoch. Every GPU of the machine is used (MirroredStrategy), or every machine that TF_CONFIG names.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

import tensorflow as tf

from sam_demo.core.model import DEFAULT_MODEL_ID, MIXED_PRECISION, ModelLoadError
from sam_demo.data.errors import DatasetError
from sam_demo.publishing.hub import PublishError, check_hub_access, is_public_repo, public_repo_notice, push_folder
from sam_demo.training.checkpoints import CheckpointError, has_checkpoint, saved_settings
from sam_demo.training.memory import InsufficientMemoryError, check_encoder_training_memory
from sam_demo.training.run import RunConfig, check_output_dir, evaluate_only, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL_ID, help="SAM checkpoint to start from: Hub id or folder")
    parser.add_argument(
        "--dataset",
        default=None,
        help="a folder or .tar.gz/.tgz/.zip archive with images/ + labels/ or BUSI's layout "
        "(default: breast-cancer-dataset.tar.gz from the Hub dataset sayakpaul/sample-datasets)",
    )
    parser.add_argument(
        "--max-dataset-gb",
        type=float,
        default=20.0,
        help="refuse a dataset archive that would unpack to more than this (default 20)",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/sam-breast-ultrasound"))
    parser.add_argument("--overwrite-output-dir", action="store_true", help="train into a folder that holds a model")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=2, help="examples per device and step")
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0, help="split, prompt sampling and batch order")
    parser.add_argument("--point-share", type=float, default=0.5, help="share of batches prompted with 1-3 points")
    parser.add_argument("--box-shift", type=int, default=20, help="max random slack per box side, pixels")
    parser.add_argument(
        "--bce-weight", type=float, default=1.0, help="weight of binary cross-entropy beside Dice (0: Dice alone)"
    )
    parser.add_argument("--iou-weight", type=float, default=1.0, help="weight of the IoU-head calibration loss")
    parser.add_argument(
        "--interactive-rounds",
        type=int,
        default=3,
        metavar="K",
        help="decoder passes per example and step: the first prompt, then K-1 simulated corrective clicks "
        "(1: single prompts only)",
    )
    parser.add_argument(
        "--mask-prompt-share",
        type=float,
        default=0.5,
        help="in rounds after the first, share of examples given the previous round's logits as mask prompt",
    )
    parser.add_argument(
        "--max-clicks",
        type=int,
        default=10,
        help="corrective clicks per test image in the interactive evaluation (after the first prompt)",
    )
    parser.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="N",
        help="stop after N epochs without a better validation Dice",
    )
    parser.add_argument(
        "--no-embedding-cache",
        dest="embedding_cache",
        action="store_false",
        help="re-run the frozen vision encoder in every training step, as the original notebook did (slow)",
    )
    parser.add_argument(
        "--train-vision-encoder",
        action="store_true",
        help="fine-tune the vision encoder too (runs it in every step: needs a GPU and far more memory)",
    )
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="with --train-vision-encoder: recompute each ViT block in the backward pass instead of keeping its "
        "activations (ViT-B on CPU: about 3 GB per image instead of 12, for a longer step)",
    )
    parser.add_argument(
        "--mixed-precision",
        choices=sorted(MIXED_PRECISION),
        default=None,
        help="run the vision encoder in float16 (T4, V100) or bfloat16 (A100, H100); weights stay float32",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --output-dir from its last finished epoch, with its own settings",
    )
    parser.add_argument("--evaluate-only", action="store_true", help="evaluate --model on the test split, no training")
    parser.add_argument("--base-model", default=DEFAULT_MODEL_ID, help="zero-shot comparison for --evaluate-only")
    parser.add_argument("--push-to-hub", action="store_true", help="publish --output-dir to --hub-model-id at the end")
    parser.add_argument("--hub-model-id", default=None, help="user/name (or org/name) of the model repo to push to")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument(
        "--push-only", type=Path, default=None, metavar="DIR", help="push a finished run's folder, no training"
    )
    parser.add_argument(
        "--push-examples",
        action="store_true",
        help="also push examples.png (held-out patients' images), split.json and per_image.csv (image file names); "
        "without it they stay on disk",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.push_to_hub or args.push_only) and not args.hub_model_id:
        parser.error("--push-to-hub and --push-only need --hub-model-id user/name")
    if args.push_examples and not (args.push_to_hub or args.push_only):
        parser.error("--push-examples goes with --push-to-hub or --push-only")
    for name in ("epochs", "batch_size", "interactive_rounds", "max_clicks"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("point_share", "mask_prompt_share"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.gradient_checkpointing and not (args.train_vision_encoder or args.resume):
        parser.error("--gradient-checkpointing goes with --train-vision-encoder")
    if args.resume and (args.evaluate_only or args.push_only):
        parser.error("--resume continues a training run; it does not go with --evaluate-only or --push-only")
    args.given = _given_flags(argv)
    return args


def _given_flags(argv: list[str] | None) -> set[str]:
    """The options written on the command line (not defaults): on --resume they override the run's own."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    try:
        if args.push_only:
            pushed = push_folder(
                args.push_only, args.hub_model_id, private=args.private, include_examples=args.push_examples
            )
            print(f"pushed to {pushed}")
            return None
        # A wrong token or repo name should cost seconds, not a training run.
        repo_id = check_hub_access(args.hub_model_id, private=args.private) if args.push_to_hub else None
        config = _config(args, repo_id)
        if args.evaluate_only:
            return evaluate_only(config, args.base_model)
        if not args.resume:
            check_output_dir(config.output_dir, args.overwrite_output_dir)
        if config.train_vision_encoder:  # minutes before the first step would run out of memory
            check_encoder_training_memory(config.model, config.batch_size, config.gradient_checkpointing)
        if repo_id and not args.private and is_public_repo(repo_id):  # said while stopping costs nothing
            print(public_repo_notice(repo_id))
        metrics = run(config, resume=args.resume)
        if repo_id and metrics:
            pushed = push_folder(config.output_dir, repo_id, private=args.private, include_examples=args.push_examples)
            print(f"pushed to {pushed}")
        return metrics
    except (
        DatasetError,
        ModelLoadError,
        FileExistsError,
        PublishError,
        CheckpointError,
        InsufficientMemoryError,
    ) as error:
        sys.exit(f"train.py: {error}")
    except KeyboardInterrupt:
        sys.exit(f"train.py: interrupted. {_how_to_continue(args)}")
    except tf.errors.ResourceExhaustedError:
        sys.exit(
            "train.py: out of memory. Use a smaller --batch-size, --gradient-checkpointing, or no "
            "--train-vision-encoder (it keeps the encoder's activations for every image of a step), or a machine "
            "with more memory. "
            f"{_how_to_continue(args)}"
        )
    except OSError as error:  # an output folder that is not writable, a full disk, a file that vanished
        where = f" ({error.filename})" if error.filename else ""
        sys.exit(f"train.py: {error.strerror or error}{where}. {_how_to_continue(args)}")


def _how_to_continue(args: argparse.Namespace) -> str:
    """What a user can do after a run stopped half-way: epochs already finished are kept in checkpoints."""
    if args.evaluate_only or args.push_only:
        return "Nothing was changed; run the same command again."
    if has_checkpoint(args.output_dir):
        return f"Finished epochs are kept: continue with python train.py --resume --output-dir {args.output_dir}"
    return "No epoch had finished, so there is nothing to resume; run the same command again."


def _config(args: argparse.Namespace, repo_id: str | None) -> RunConfig:
    # The flags are named after RunConfig's fields; the Hub id is the one check_hub_access resolved.
    names = [field.name for field in fields(RunConfig) if hasattr(args, field.name)]
    values = {name: getattr(args, name) for name in names}
    if args.resume:  # the interrupted run's settings, except those given again
        saved = RunConfig.from_settings({**saved_settings(args.output_dir), "output_dir": str(args.output_dir)})
        values = {**{name: getattr(saved, name) for name in names}, **{n: values[n] for n in names if n in args.given}}
    return RunConfig(**{**values, "hub_model_id": repo_id})


if __name__ == "__main__":
    main()
