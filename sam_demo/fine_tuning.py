"""One fine-tuning run, end to end: data, split, embeddings, epochs, best checkpoint, evaluation, outputs.

`train.py` parses the command line into a `RunConfig` and calls `run`. Everything the run writes goes to
`output_dir`; nothing a user already has (their dataset, an earlier run's best model) is overwritten unless this
run produces a better one in the same folder.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from .data import DatasetError, find_examples, load_examples, read_split, resolve_dataset, split_examples, write_split
from .evaluation import evaluate, mean_scores, predict_with
from .masks import dice, mask_box
from .model import load_sam
from .model_card import ModelCardInputs, metrics_table, plot_training_curves, render_model_card
from .predictor import SamPredictor
from .training import DecoderTrainer, TrainingExample, embed_examples, embeddings_without_cache, train_epoch
from .viz import display_box, display_mask

LOG_FIELDS = ("epoch", "train_loss", "val_dice", "val_iou", "seconds")


@dataclass(frozen=True)
class RunConfig:
    model: str
    dataset: str | None
    output_dir: Path
    epochs: int = 10
    batch_size: int = 2
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    seed: int = 0
    point_share: float = 0.5
    box_shift: int = 20
    bce_weight: float = 0.0
    iou_weight: float = 1.0
    early_stopping: int | None = None
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    hub_model_id: str | None = None  # named in the model card when the run will be pushed
    # False: run the frozen encoder again in every training step, as the notebook did (same loss, far slower;
    # validation and test still use each image's one embedding).
    embedding_cache: bool = True


def prepare_data(config: RunConfig, say=print) -> tuple[dict[str, list], str]:
    """Loaded examples per split (the split is written to, or reused from, output_dir/split.json)."""
    root = resolve_dataset(config.dataset)
    dataset = find_examples(root)
    for warning in dataset.warnings:
        say(f"warning: {warning}")
    report = load_examples(dataset)
    summary = report.summary()
    say(f"dataset: {summary}")
    if len(report.examples) < 3:
        raise DatasetError(
            f"{root}: only {len(report.examples)} usable pair(s); at least 3 are needed to train and test."
        )
    by_name = {item.example.name: item for item in report.examples}
    split_path = config.output_dir / "split.json"
    if split_path.exists():
        split = read_split(split_path, by_name)
        say(f"reusing the split in {split_path}")
    else:
        split = split_examples(
            [(item.example.name, item.example.label) for item in report.examples], config.split_fractions, config.seed
        )
        write_split(split, split_path, seed=config.seed, fractions=config.split_fractions)
    return {name: [by_name[n] for n in names] for name, names in split.items()}, summary


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Refuse to train into a folder that already holds a model, unless asked: it may be someone's best run."""
    if (output_dir / "config.json").exists() and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds a model; choose another --output-dir or pass --overwrite-output-dir."
        )


def run(config: RunConfig, say=print) -> dict:
    """Train, keep the best model by validation Dice, evaluate it on the test split; returns the metrics."""
    config.output_dir.mkdir(parents=True, exist_ok=True)
    (config.output_dir / "training_log.csv").unlink(missing_ok=True)
    loaded, dataset_summary = prepare_data(config, say)
    model, processor = load_sam(config.model)
    predictor = SamPredictor(model, processor, cache_size=1)
    say("computing image embeddings once (the vision encoder is frozen)…")
    examples = {name: embed_examples(predictor, items) for name, items in loaded.items()}
    zero_shot = evaluate(predictor, examples["test"])

    trainer = DecoderTrainer(
        model,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        bce_weight=config.bce_weight,
        iou_weight=config.iou_weight,
    )
    rng = np.random.default_rng(config.seed)
    history: list[dict] = []
    best_dice, best_epoch, stale = -1.0, None, 0
    started = time.time()
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.time()
        loss = _train_one_epoch(trainer, examples["train"], rng, config, epoch, predictor)
        validation = mean_scores(predictor, examples["validation"])
        row = {
            "epoch": epoch,
            "train_loss": loss,
            "val_dice": validation["dice"],
            "val_iou": validation["iou"],
            "seconds": time.time() - epoch_start,
        }
        history.append(row)
        _append_log(config.output_dir / "training_log.csv", row)
        say(f"epoch {epoch}: loss {loss:.4f}, validation Dice {validation['dice']:.4f}, IoU {validation['iou']:.4f}")
        if validation["dice"] > best_dice:
            best_dice, best_epoch, stale = validation["dice"], epoch, 0
            model.save_pretrained(config.output_dir, safe_serialization=True)
            processor.save_pretrained(config.output_dir)
        else:
            stale += 1
            if config.early_stopping and stale >= config.early_stopping:
                say(f"no better validation Dice for {stale} epochs: stopping early")
                break

    best_model, best_processor = load_sam(config.output_dir)
    best = SamPredictor(best_model, best_processor, cache_size=1)
    metrics = {
        # The test embeddings carry over: the vision encoder is frozen, so the best model's is the same.
        "test": evaluate(best, examples["test"]),
        "zero_shot_test": zero_shot,
        "best_epoch": best_epoch,
        "best_validation_dice": best_dice,
        "training_seconds": time.time() - started,
        "split_sizes": {name: len(items) for name, items in examples.items()},
        "dataset": dataset_summary,
        "config": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()},
        "history": history,
    }
    write_reports(config, metrics, best, examples["test"])
    return metrics


def write_reports(config: RunConfig, metrics: dict, predictor: SamPredictor, test: list[TrainingExample]) -> None:
    """metrics.json, results.md, training_curves.png, examples.png and the model card README.md."""
    folder = config.output_dir
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (folder / "results.md").write_text(metrics_table(metrics["test"], metrics["zero_shot_test"]) + "\n")
    plot_training_curves(metrics["history"], folder / "training_curves.png")
    save_examples_figure(predictor, test, folder / "examples.png")
    hyperparameters = {
        key: value
        for key, value in metrics["config"].items()
        if key not in ("model", "dataset", "output_dir", "hub_model_id")
    }
    card = ModelCardInputs(
        repo_id=config.hub_model_id,
        base_model=config.model,
        dataset=config.dataset or "sayakpaul/sample-datasets/breast-cancer-dataset.tar.gz",
        dataset_summary=metrics["dataset"],
        split_sizes=metrics["split_sizes"],
        hyperparameters=hyperparameters,
        test_metrics=metrics["test"],
        zero_shot_metrics=metrics["zero_shot_test"],
        best_epoch=metrics["best_epoch"],
        validation_dice=metrics["best_validation_dice"],
        training_seconds=metrics["training_seconds"],
    )
    (folder / "README.md").write_text(render_model_card(card))


def save_examples_figure(predictor: SamPredictor, examples: list[TrainingExample], path: Path, count: int = 4) -> None:
    """Held-out images: ground truth beside the fine-tuned model's mask for a tight box prompt."""
    shown = examples[:count]
    figure = Figure(figsize=(6, 3 * len(shown)), layout="constrained")
    for row, example in enumerate(shown):
        mask, predicted_iou = predict_with(predictor, example, "box")
        for column, (title, overlay_mask) in enumerate(
            [
                (f"{example.name}: ground truth", example.mask),
                (f"box prompt: Dice {dice(mask, example.mask):.2f}, predicted IoU {predicted_iou:.2f}", mask),
            ]
        ):
            axes = figure.add_subplot(len(shown), 2, 2 * row + column + 1)
            axes.imshow(example.encoded.image)
            display_mask(overlay_mask, axes)
            if column == 1:
                display_box(mask_box(example.mask), axes)
            axes.set_title(title, fontsize=8)
            axes.axis("off")
    figure.suptitle("Held-out test images (research demo, not for clinical use)", fontsize=9)
    figure.savefig(path, dpi=100)


def _train_one_epoch(
    trainer: DecoderTrainer,
    examples: list[TrainingExample],
    rng: np.random.Generator,
    config: RunConfig,
    epoch: int,
    predictor: SamPredictor,
) -> float:
    steps = -(-len(examples) // config.batch_size)
    embed = None if config.embedding_cache else (lambda batch: embeddings_without_cache(predictor, batch))
    with tqdm(total=steps, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False) as progress:

        def advance(running_loss: float) -> None:
            progress.set_postfix(loss=f"{running_loss:.4f}")
            progress.update()

        return train_epoch(
            trainer, examples, rng, config.batch_size, config.point_share, config.box_shift, embed, advance
        )


def _append_log(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({key: row[key] for key in LOG_FIELDS})


def evaluate_only(config: RunConfig, base_model: str | None, say=print) -> dict:
    """Evaluate `config.model` on the test split (reusing output_dir/split.json when there is one), with the
    base model's zero-shot numbers beside it; writes evaluation.json and evaluation.md to output_dir."""
    config.output_dir.mkdir(parents=True, exist_ok=True)
    loaded, dataset_summary = prepare_data(config, say)
    results: dict = {"model": config.model, "dataset": dataset_summary, "test_size": len(loaded["test"])}
    for key, name in (("test", config.model), ("zero_shot_test", base_model)):
        if name is None or (key == "zero_shot_test" and name == config.model):
            results[key] = None
            continue
        predictor = SamPredictor(*load_sam(name), cache_size=1)
        results[key] = evaluate(predictor, embed_examples(predictor, loaded["test"]))
    (config.output_dir / "evaluation.json").write_text(json.dumps(results, indent=2))
    table = metrics_table(results["test"], results["zero_shot_test"])
    (config.output_dir / "evaluation.md").write_text(table + "\n")
    say(table)
    return results
