"""Resumable training: after every epoch, the trained weights, the optimizer's state and the run's progress.

OUTPUT_DIR/checkpoints/last/ holds `weights.*`, a `tf.train.Checkpoint` of the trained parts of the model and
of the optimizer (its moments, step count and loss scale), and `state.json` (epochs done, best validation
Dice so far, the history, the run's settings). Only what trains is saved: the frozen encoders come back from
the starting model. The folder is replaced whole after each epoch (written beside it, then renamed), so an
interruption at any moment leaves one complete checkpoint. Hub pushes leave `checkpoints/` out.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import tensorflow as tf

from .trainer import SamTrainer

FOLDER = "checkpoints"


@dataclass
class RunProgress:
    """Where a training run stands after its last finished epoch."""

    epochs_done: int = 0
    best_dice: float = -1.0
    best_epoch: int | None = None
    stale_epochs: int = 0  # epochs since the best one, for early stopping
    history: list[dict] = field(default_factory=list)


class CheckpointError(RuntimeError):
    """No usable checkpoint to resume from; the message says why and what to do."""


def _latest(output_dir: Path) -> Path | None:
    root = Path(output_dir) / FOLDER
    # "previous" exists only if an interruption fell between the two renames of `save`.
    for name in ("last", "previous"):
        if (root / name / "state.json").is_file():
            return root / name
    return None


def has_checkpoint(output_dir: Path) -> bool:
    return _latest(output_dir) is not None


def saved_settings(output_dir: Path) -> dict:
    """The settings of the run whose checkpoint is in output_dir (so `--resume` needs no other flag)."""
    folder = _latest(output_dir)
    if folder is None:
        raise CheckpointError(
            f"{output_dir} has no training checkpoint to resume from ({FOLDER}/last/ is missing); "
            "start the run without --resume."
        )
    try:
        return json.loads((folder / "state.json").read_text())["settings"]
    except (ValueError, KeyError) as error:
        raise CheckpointError(f"{folder / 'state.json'} is unreadable ({error}); start a new run.") from error


def remove_checkpoints(output_dir: Path) -> None:
    shutil.rmtree(Path(output_dir) / FOLDER, ignore_errors=True)


class TrainingCheckpoint:
    """Saves and restores one `SamTrainer`'s state in output_dir/checkpoints/."""

    def __init__(self, output_dir: Path, trainer: SamTrainer, *, writer: bool = True):
        self.output_dir = Path(output_dir)
        self.writer = writer  # False on a cluster's non-chief workers: they save too (collectively), then discard
        parts = {"mask_decoder": trainer.model.mask_decoder, "optimizer": trainer.optimizer}
        if trainer.route.trains_encoder:
            parts["vision_encoder"] = trainer.model.vision_encoder
        self._checkpoint = tf.train.Checkpoint(**parts)

    def save(self, progress: RunProgress, settings: dict) -> None:
        state = json.dumps({"progress": asdict(progress), "settings": settings}, indent=2)
        if not self.writer:
            with tempfile.TemporaryDirectory() as scratch:
                self._checkpoint.write(str(Path(scratch) / "weights"))
            return
        root = self.output_dir / FOLDER
        partial, last, previous = root / "last.partial", root / "last", root / "previous"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self._checkpoint.write(str(partial / "weights"))
        (partial / "state.json").write_text(state)
        if last.exists():
            shutil.rmtree(previous, ignore_errors=True)
            last.rename(previous)
        partial.rename(last)
        shutil.rmtree(previous, ignore_errors=True)

    def restore(self) -> RunProgress:
        """Load the trained weights and optimizer state in place; returns the progress they belong to."""
        folder = _latest(self.output_dir)
        if folder is None:
            raise CheckpointError(f"{self.output_dir} has no training checkpoint to resume from.")
        try:
            self._checkpoint.read(str(folder / "weights")).assert_existing_objects_matched()
            progress = RunProgress(**json.loads((folder / "state.json").read_text())["progress"])
        except (tf.errors.OpError, AssertionError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(
                f"the checkpoint in {folder} does not match this model and settings ({error}); "
                "resume with the model and settings of the interrupted run, or start a new --output-dir."
            ) from error
        return progress
