"""Per-epoch training checkpoints: what trains and the optimizer's state, replaced whole, restored exactly."""

import json

import numpy as np
import pytest

from sam_demo.devtools.random_models import tiny_sam
from sam_demo.training.checkpoints import (
    FOLDER,
    CheckpointError,
    RunProgress,
    TrainingCheckpoint,
    has_checkpoint,
    remove_checkpoints,
    saved_settings,
)
from sam_demo.training.encoder_route import EncoderRoute
from sam_demo.training.trainer import SamTrainer

SETTINGS = {"model": "tiny", "epochs": 3, "learning_rate": 1e-3}


def trainer(seed: int, route: EncoderRoute = EncoderRoute.CACHED) -> SamTrainer:
    return SamTrainer(tiny_sam(seed=seed)[0], learning_rate=1e-3, route=route)


def trained_state(trainer: SamTrainer) -> list[np.ndarray]:
    return [variable.numpy() for variable in trainer.variables] + [
        variable.numpy() for variable in trainer.optimizer.variables
    ]


def test_restore_gives_back_the_weights_optimizer_state_and_progress(tmp_path):
    source = trainer(seed=1)
    rng = np.random.default_rng(0)
    for variable in source.variables + list(source.optimizer.variables):
        variable.assign(rng.standard_normal(variable.shape).astype(variable.dtype.as_numpy_dtype))
    progress = RunProgress(epochs_done=2, best_dice=0.61, best_epoch=1, stale_epochs=1, history=[{"epoch": 1}])
    TrainingCheckpoint(tmp_path, source).save(progress, SETTINGS)

    target = trainer(seed=2)  # another random start: everything that trains must come from the checkpoint
    restored = TrainingCheckpoint(tmp_path, target).restore()
    assert restored == progress
    for saved, loaded in zip(trained_state(source), trained_state(target)):
        np.testing.assert_array_equal(saved, loaded)
    assert saved_settings(tmp_path) == SETTINGS and has_checkpoint(tmp_path)


def test_each_save_replaces_the_last_whole(tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path, trainer(seed=1))
    for epoch in (1, 2):
        checkpoint.save(RunProgress(epochs_done=epoch), SETTINGS)
    assert sorted(path.name for path in (tmp_path / FOLDER).iterdir()) == ["last"]
    assert json.loads((tmp_path / FOLDER / "last" / "state.json").read_text())["progress"]["epochs_done"] == 2


def test_an_interruption_between_the_renames_leaves_the_previous_checkpoint(tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path, trainer(seed=1))
    checkpoint.save(RunProgress(epochs_done=1), SETTINGS)
    (tmp_path / FOLDER / "last").rename(tmp_path / FOLDER / "previous")  # as if stopped right after that rename
    assert has_checkpoint(tmp_path)
    assert TrainingCheckpoint(tmp_path, trainer(seed=2)).restore().epochs_done == 1


def test_a_non_chief_worker_writes_nothing(tmp_path):
    TrainingCheckpoint(tmp_path, trainer(seed=1), writer=False).save(RunProgress(epochs_done=1), SETTINGS)
    assert not (tmp_path / FOLDER).exists() and not has_checkpoint(tmp_path)


def test_missing_unreadable_and_mismatched_checkpoints_are_explained(tmp_path):
    with pytest.raises(CheckpointError, match="start the run without --resume"):
        saved_settings(tmp_path)
    with pytest.raises(CheckpointError, match="no training checkpoint"):
        TrainingCheckpoint(tmp_path, trainer(seed=1)).restore()
    TrainingCheckpoint(tmp_path, trainer(seed=1)).save(RunProgress(epochs_done=1), SETTINGS)
    with pytest.raises(CheckpointError, match="does not match this model and settings"):
        TrainingCheckpoint(tmp_path, trainer(seed=1, route=EncoderRoute.TRAINED)).restore()
    (tmp_path / FOLDER / "last" / "state.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        saved_settings(tmp_path)
    remove_checkpoints(tmp_path)
    assert not has_checkpoint(tmp_path)
