"""One fine-tuning run, end to end: data, split, embeddings, epochs, best checkpoint, evaluation, outputs.

`train.py` parses the command line into a `RunConfig` and calls `run`. Everything the run writes goes to
`output_dir`; nothing a user already has (their dataset, an earlier run's best model) is overwritten unless this
run produces a better one in the same folder.
"""

from __future__ import annotations

import csv
import gc
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import tensorflow as tf
from tqdm.auto import tqdm
from transformers import SamProcessor, TFSamModel

from ..core.model import load_sam, save_sam, vision_encoder_fingerprint
from ..core.predictor import SamPredictor
from ..data.errors import DatasetError
from ..data.examples import TrainingExample, embed_examples, unembedded_examples
from ..data.loading import load_examples
from ..data.near_duplicates import describe_groups, near_duplicate_groups
from ..data.sources import DEFAULT_FILENAME, DEFAULT_REPO_ID, open_dataset
from ..data.splits import copy_split, read_split, split_examples, write_split
from ..evaluation.evaluate import Evaluation, evaluate, write_per_image_csv
from ..evaluation.interactive import DEFAULT_MAX_CLICKS
from ..evaluation.single_prompt import mean_scores
from ..publishing.model_card import metrics_table, published_name
from ..publishing.reports import DICE_BY_CLICK_FIGURE, save_dice_by_click_figure, write_reports
from .checkpoints import (
    CheckpointError,
    RunProgress,
    TrainingCheckpoint,
    has_checkpoint,
    remove_checkpoints,
    saved_settings,
)
from .distribution import describe, is_chief, training_strategy
from .encoder_route import EncoderRoute, encoder_route
from .pipeline import TrainingPipeline
from .trainer import SamTrainer

LOG_FIELDS = ("epoch", "train_loss", "val_dice", "val_iou", "seconds")
PER_IMAGE_CSV = "per_image.csv"  # every test image's scores, per model, prompt and interaction


@dataclass(frozen=True)
class RunConfig:
    model: str
    dataset: str | None
    output_dir: Path
    epochs: int = 10
    batch_size: int = 2  # per replica (device)
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    seed: int = 0
    point_share: float = 0.5
    box_shift: int = 20
    bce_weight: float = 1.0
    iou_weight: float = 1.0
    interactive_rounds: int = 3  # the first prompt and two corrective clicks (README, "Interactive rounds")
    mask_prompt_share: float = 0.5
    max_clicks: int = DEFAULT_MAX_CLICKS  # corrective clicks per image in the interactive evaluation
    max_dataset_gb: float = 20.0  # the most an archive may unpack to
    early_stopping: int | None = None
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    hub_model_id: str | None = None  # named in the model card when the run will be pushed
    # False: run the frozen encoder again in every training step, as the notebook did (same loss, far slower;
    # validation and test still use each image's one embedding).
    embedding_cache: bool = True
    train_vision_encoder: bool = False
    gradient_checkpointing: bool = False  # recompute the trained encoder's blocks in the backward pass
    mixed_precision: str | None = None  # "float16" or "bfloat16" for the vision encoder (GPUs)

    @property
    def encoder_route(self) -> EncoderRoute:
        return encoder_route(embedding_cache=self.embedding_cache, train_vision_encoder=self.train_vision_encoder)

    def settings(self) -> dict:
        """JSON-ready values (saved with checkpoints and metrics)."""
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}

    @classmethod
    def from_settings(cls, settings: dict) -> RunConfig:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in settings.items() if key in known}
        values.setdefault("interactive_rounds", 1)  # runs saved before the setting existed trained single prompts
        values["output_dir"] = Path(values["output_dir"])
        values["split_fractions"] = tuple(values["split_fractions"])
        return cls(**values)


# What may change when an interrupted run is resumed: how long it goes on, where it is published, and how the
# encoder's output and gradients are obtained (the same numbers either way). Anything else would mix two runs.
RESUMABLE_CHANGES = frozenset(
    {
        "epochs",
        "early_stopping",
        "hub_model_id",
        "embedding_cache",
        "gradient_checkpointing",
        "output_dir",
        "max_clicks",
        "max_dataset_gb",
    }
)


def prepare_data(
    config: RunConfig, say=print, reuse_split: bool = True, write: bool = True, trained_split: Path | None = None
) -> tuple[dict[str, list], str]:
    """Loaded examples per split, and the dataset's summary line.

    The split is `trained_split` when given (the split.json saved beside a fine-tuned model: on any other split the
    model would be tested on images it trained on); else output_dir/split.json when it exists and `reuse_split`;
    else drawn, seeded and stratified, with near-duplicate frames kept in one split. If `write`, it is saved as
    output_dir/split.json (a cluster's other workers draw the same split and leave the file to the chief).
    """
    dataset = open_dataset(config.dataset, max_extracted_bytes=round(config.max_dataset_gb * 1e9))
    for warning in dataset.warnings:
        say(f"warning: {warning}")
    report = load_examples(dataset)
    for warning in report.warnings:
        say(f"warning: {warning}")
    summary = report.summary()
    say(f"dataset: {summary}")
    if len(report.examples) < 3:
        raise DatasetError(
            f"{dataset.root}: only {len(report.examples)} usable pair(s); at least 3 are needed to train and test."
        )
    by_name = {item.example.name: item for item in report.examples}
    split_path = config.output_dir / "split.json"
    if trained_split is not None:
        try:
            split = read_split(trained_split, by_name)
        except DatasetError as error:
            raise DatasetError(
                f"Cannot test {trained_split.parent} on the split it was trained with: {error}"
            ) from error
        same_file = split_path.exists() and split_path.resolve() == trained_split.resolve()
        if split_path.exists() and not same_file and read_split(split_path, by_name) != split:
            raise DatasetError(
                f"{split_path} differs from {trained_split}, the split the model was trained with; "
                "choose another --output-dir."
            )
        say(f"testing on the split {trained_split.parent} was trained with ({trained_split})")
        if write and not split_path.exists():
            copy_split(trained_split, split_path)
    elif reuse_split and split_path.exists():
        split = read_split(split_path, by_name)
        say(f"reusing the split in {split_path}")
    else:
        # BUSI has no patient ids: frames of one lesion are recognised by their pixels, already loaded here.
        groups = near_duplicate_groups({item.example.name: item.image for item in report.examples})
        say(describe_groups(groups))
        split = split_examples(
            [(item.example.name, item.example.label) for item in report.examples],
            config.split_fractions,
            config.seed,
            groups=groups,
        )
        if write:
            write_split(split, split_path, seed=config.seed, fractions=config.split_fractions, groups=groups)
    return {name: [by_name[n] for n in names] for name, names in split.items()}, summary


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Refuse to train into a folder that already holds a model, unless asked: it may be someone's best run."""
    if (output_dir / "config.json").exists() and not overwrite:
        hint = " or --resume to continue its interrupted training" if has_checkpoint(output_dir) else ""
        raise FileExistsError(
            f"{output_dir} already holds a model; choose another --output-dir, pass --overwrite-output-dir{hint}."
        )


def check_resumable(config: RunConfig, saved: dict) -> None:
    """Refuse to resume with settings that differ from the interrupted run's, naming each difference."""
    current = config.settings()
    changed = [
        f"--{key.replace('_', '-')} {current.get(key)!r} (the run used {value!r})"
        for key, value in saved.items()
        if key not in RESUMABLE_CHANGES and _normalised(current.get(key)) != _normalised(value)
    ]
    if changed:
        raise CheckpointError(
            f"cannot resume the run in {config.output_dir} with different settings: {'; '.join(changed)}. "
            "Leave them out to use the run's own, or start a new --output-dir."
        )


def _normalised(value):
    return list(value) if isinstance(value, tuple) else value


def run(config: RunConfig, say=print, *, resume: bool = False, strategy: tf.distribute.Strategy | None = None) -> dict:
    """Train, keep the best model by validation Dice, evaluate it on the test split; returns the metrics.

    `resume` continues the interrupted run in config.output_dir from its last finished epoch (weights,
    optimizer state, progress, split). `strategy` defaults to `training_strategy()` (all GPUs, or a cluster).
    """
    strategy = strategy or training_strategy()
    chief = is_chief(strategy)
    setup = _prepare(config, say, resume=resume, strategy=strategy, chief=chief)
    started = time.time()
    progress = _train_epochs(config, setup, say, chief=chief)
    if not chief:
        return {}
    if progress.best_epoch is None:
        raise CheckpointError(
            f"{config.output_dir}: no epoch was trained (--epochs {config.epochs}); nothing to evaluate."
        )
    held_out = _HeldOut(
        setup.dataset_summary,
        {name: len(items) for name, items in setup.examples.items()},
        setup.loaded["test"],
        setup.examples["test"],
        setup.zero_shot,
    )
    del setup  # one model in memory at a time: ViT-L is 1.2 GB of weights
    gc.collect()
    return _finish(config, held_out, progress, time.time() - started)


@dataclass
class _Setup:
    """Everything the epochs need: the data, the model, the trainer, its checkpoint and where training stands."""

    loaded: dict[str, list]  # LoadedExample per split
    dataset_summary: str
    examples: dict[str, list[TrainingExample]]
    zero_shot: Evaluation  # the starting model's, on the test split
    model: TFSamModel
    processor: SamProcessor
    predictor: SamPredictor
    trainer: SamTrainer
    checkpoint: TrainingCheckpoint
    pipeline: TrainingPipeline
    progress: RunProgress


@dataclass(frozen=True)
class _HeldOut:
    """What the final evaluation and the reports need once the training model is gone."""

    dataset_summary: str
    split_sizes: dict[str, int]
    loaded_test: list
    test: list[TrainingExample]  # embedded by the starting model's encoder
    zero_shot: Evaluation


def _prepare(config: RunConfig, say, *, resume: bool, strategy: tf.distribute.Strategy, chief: bool) -> _Setup:
    """Data and split, the model, each image's embedding, the zero-shot scores, the trainer and its state."""
    output = config.output_dir
    if resume:
        check_resumable(config, saved_settings(output))
    output.mkdir(parents=True, exist_ok=True)
    loaded, dataset_summary = prepare_data(config, say, reuse_split=resume, write=chief)
    say(f"training on {describe(strategy)}")
    with strategy.scope():
        model, processor = load_sam(config.model, mixed_precision=config.mixed_precision)
    predictor = SamPredictor(model, processor, cache_size=1)
    route = config.encoder_route
    image_size = model.config.vision_config.image_size
    examples = {
        # When the encoder runs in every step, training images are not embedded beforehand.
        "train": (
            unembedded_examples(loaded["train"], image_size)
            if route.encoder_in_step
            else _embed_split(predictor, loaded, "train")
        ),
        # A trained encoder changes every epoch, so validation images are embedded after each one instead.
        "validation": (
            unembedded_examples(loaded["validation"], image_size)
            if route.trains_encoder
            else _embed_split(predictor, loaded, "validation")
        ),
        "test": _embed_split(predictor, loaded, "test"),
    }
    zero_shot = evaluate(predictor, examples["test"], config.max_clicks)
    trainer = SamTrainer(
        model,
        strategy=strategy,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        bce_weight=config.bce_weight,
        iou_weight=config.iou_weight,
        route=route,
        interactive_rounds=config.interactive_rounds,
        gradient_checkpointing=config.gradient_checkpointing,
    )
    checkpoint = TrainingCheckpoint(output, trainer, writer=chief)
    if resume:
        progress = checkpoint.restore()
        say(f"resuming after epoch {progress.epochs_done} (best validation Dice {progress.best_dice:.4f})")
    else:
        remove_checkpoints(output)
        progress = RunProgress()
    _write_log(output / "training_log.csv", progress.history)
    pipeline = TrainingPipeline(
        examples["train"],
        batch_size=config.batch_size * strategy.num_replicas_in_sync,
        seed=config.seed,
        point_share=config.point_share,
        max_box_shift=config.box_shift,
        route=route,
        processor=processor,
        interactive_rounds=config.interactive_rounds,
        mask_prompt_share=config.mask_prompt_share,
    )
    return _Setup(
        loaded,
        dataset_summary,
        examples,
        zero_shot,
        model,
        processor,
        predictor,
        trainer,
        checkpoint,
        pipeline,
        progress,
    )


def _train_epochs(config: RunConfig, setup: _Setup, say, *, chief: bool) -> RunProgress:
    """The epochs: train, validate, keep the best model, checkpoint; stops early when asked."""
    progress, output = setup.progress, config.output_dir
    first = progress.epochs_done + 1
    # One dataset and one iterator for every epoch left (building them each epoch cost time: see the pipeline).
    batches = setup.trainer.distribute(setup.pipeline.epochs(first, config.epochs + 1))
    for epoch in range(first, config.epochs + 1):
        if config.early_stopping and progress.stale_epochs >= config.early_stopping:
            say(f"no better validation Dice for {progress.stale_epochs} epochs: stopping early")
            break
        epoch_start = time.time()
        loss = _train_one_epoch(setup.trainer, batches, setup.pipeline.steps_per_epoch, epoch, config.epochs)
        if config.encoder_route.trains_encoder:  # the encoder changed: so did every embedding
            setup.predictor.cache.clear()
            setup.examples["validation"] = embed_examples(setup.predictor, setup.loaded["validation"])
        validation = mean_scores(setup.predictor, setup.examples["validation"])
        row = {
            "epoch": epoch,
            "train_loss": loss,
            "val_dice": validation["dice"],
            "val_iou": validation["iou"],
            "seconds": time.time() - epoch_start,
        }
        progress.history.append(row)
        progress.epochs_done = epoch
        say(f"epoch {epoch}: loss {loss:.4f}, validation Dice {validation['dice']:.4f}, IoU {validation['iou']:.4f}")
        if validation["dice"] > progress.best_dice:
            progress.best_dice, progress.best_epoch, progress.stale_epochs = validation["dice"], epoch, 0
            if chief:
                save_sam(setup.model, setup.processor, output)
        else:
            progress.stale_epochs += 1
        setup.checkpoint.save(progress, config.settings())
        if chief:
            _write_log(output / "training_log.csv", progress.history)
    return progress


def _finish(config: RunConfig, held_out: _HeldOut, progress: RunProgress, training_seconds: float) -> dict:
    """The best model on the test split beside the zero-shot scores; metrics and reports written."""
    best = SamPredictor(*load_sam(config.output_dir), cache_size=1)
    test = embed_examples(best, held_out.loaded_test) if config.encoder_route.trains_encoder else held_out.test
    evaluation = evaluate(best, test, config.max_clicks)
    write_per_image_csv(config.output_dir / PER_IMAGE_CSV, {"fine_tuned": evaluation, "zero_shot": held_out.zero_shot})
    metrics = {
        "test": evaluation.summary,
        "zero_shot_test": held_out.zero_shot.summary,
        "best_epoch": progress.best_epoch,
        "best_validation_dice": progress.best_dice,
        "training_seconds": training_seconds,
        "split_sizes": held_out.split_sizes,
        "dataset": held_out.dataset_summary,
        "config": config.settings(),
        "history": progress.history,
    }
    dataset = config.dataset or f"{DEFAULT_REPO_ID}/{DEFAULT_FILENAME}"
    write_reports(
        config.output_dir, metrics, best, test, base_model=config.model, dataset=dataset, repo_id=config.hub_model_id
    )
    return metrics


def _embed_split(predictor: SamPredictor, loaded: dict[str, list], split: str) -> list[TrainingExample]:
    # The vision encoder runs once per image here, seconds each on a CPU: a progress bar per split.
    items = tqdm(loaded[split], desc=f"embedding {split} images", unit="image", leave=False)
    return embed_examples(predictor, items)


def _train_one_epoch(trainer: SamTrainer, batches: Iterator, steps: int, epoch: int, epochs: int) -> float:
    with tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False) as progress:

        def advance(running_loss: float) -> None:
            progress.set_postfix(loss=f"{running_loss:.4f}")
            progress.update()

        return trainer.train_epoch(batches, advance, steps)


def _write_log(path: Path, history: list[dict]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in LOG_FIELDS} for row in history)


def evaluate_only(config: RunConfig, base_model: str | None, say=print) -> dict:
    """Evaluate `config.model` on the test split, with the base model's zero-shot numbers beside it; writes
    split.json, evaluation.json and evaluation.md to output_dir.

    The split is the one the model was trained with when its folder has a split.json (train.py saves it there),
    else output_dir/split.json when there is one, else one drawn with `config.seed`.
    """
    config.output_dir.mkdir(parents=True, exist_ok=True)
    saved_split = Path(config.model) / "split.json"
    trained_split = saved_split if saved_split.is_file() else None
    if trained_split is None:  # a Hub id, Meta's model...: nothing says which images it was trained on
        reused = config.output_dir / "split.json"
        split = f"the split in {reused}" if reused.exists() else f"a split drawn with --seed {config.seed}"
        say(
            f"{config.model} has no split.json: testing on {split}, which may include images the model was trained on "
            "if it was trained on this dataset"
        )
    loaded, dataset_summary = prepare_data(config, say, trained_split=trained_split)
    # Named, not located: evaluated into a model's folder, this file goes up with it on the next push.
    results: dict = {
        "model": published_name(config.model),
        "dataset": dataset_summary,
        "test_size": len(loaded["test"]),
    }
    embedded: tuple[str, list[TrainingExample]] | None = None  # (encoder fingerprint, test examples)
    evaluations: dict[str, Evaluation | None] = {}
    for key, name in (("fine_tuned", config.model), ("zero_shot", base_model)):
        if name is None or (key == "zero_shot" and name == config.model):
            evaluations[key] = None
            continue
        predictor = SamPredictor(*load_sam(name), cache_size=1)
        # A model fine-tuned with its encoder frozen has the base model's encoder: embed each image once.
        fingerprint = vision_encoder_fingerprint(predictor.model)
        if embedded is None or embedded[0] != fingerprint:
            embedded = fingerprint, embed_examples(predictor, loaded["test"])
        evaluations[key] = evaluate(predictor, embedded[1], config.max_clicks)
        del predictor  # one model in memory at a time
    output = config.output_dir
    test, zero_shot = (None if e is None else e.summary for e in (evaluations["fine_tuned"], evaluations["zero_shot"]))
    results.update(test=test, zero_shot_test=zero_shot)
    (output / "evaluation.json").write_text(json.dumps(results, indent=2))
    write_per_image_csv(output / PER_IMAGE_CSV, evaluations)
    save_dice_by_click_figure(test, zero_shot, output / DICE_BY_CLICK_FIGURE)
    table = metrics_table(test, zero_shot)
    (output / "evaluation.md").write_text(table + "\n")
    say(table)
    return results
