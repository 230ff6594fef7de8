"""The tf.distribute paths: MirroredStrategy over two logical CPU devices, and two workers on this machine."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sam_demo.core.model import load_sam
from sam_demo.core.predictor import SamPredictor

ROOT = Path(__file__).resolve().parents[1]


def python(*args: str, env: dict | None = None, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def finish(process: subprocess.Popen, timeout: int = 600) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out


@pytest.fixture(scope="module")
def phantoms(phantom_dataset):
    return phantom_dataset(10, "images-labels", seed=11)


def test_two_replicas_take_the_same_step_as_one_device(tiny_checkpoint, phantoms):
    script = ROOT / "tests" / "scripts" / "mirrored_training.py"
    out = finish(python(str(script), str(tiny_checkpoint), str(phantoms)))
    result = json.loads(out.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["losses"]["mirrored"] == pytest.approx(result["losses"]["single"], rel=1e-5)
    # The steps changed the decoder, and the same way on one device and on two replicas. Not to the last bit:
    # sums in another order round differently, and Adam's first steps (m / sqrt(v)) turn the sign of a
    # near-zero gradient into a full-size step for that weight.
    assert result["moved"] > 1e-3
    assert result["weight_difference"] < 0.01 * result["moved"], result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def test_two_workers_train_together_and_the_chief_writes(tiny_checkpoint, phantoms, tmp_path):
    cluster = {"worker": [f"localhost:{free_port()}", f"localhost:{free_port()}"]}
    workers = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        args = [
            "--model",
            str(tiny_checkpoint),
            "--dataset",
            str(phantoms),
            "--epochs",
            "2",
            "--batch-size",
            "2",
            "--max-clicks",
            "1",
            "--interactive-rounds",  # one round: the K-round step is not what this checks, and it traces slowly
            "1",
        ]
        output = tmp_path / f"worker{index}"
        workers.append(python("train.py", *args, "--output-dir", str(output), env={"TF_CONFIG": config}))
    logs = [finish(worker) for worker in workers]
    assert "MultiWorkerMirroredStrategy: 2 replicas" in logs[0]
    chief, other = tmp_path / "worker0", tmp_path / "worker1"
    assert (chief / "model.safetensors").is_file() and (chief / "metrics.json").is_file()
    assert (chief / "checkpoints" / "last" / "state.json").is_file()
    assert not (other / "model.safetensors").exists() and not (other / "checkpoints").exists()
    history = json.loads((chief / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    model, processor = load_sam(chief)
    predictor = SamPredictor(model, processor)
    predictor.set_image(str(ROOT / "examples" / "phantom_0.png"))
    assert predictor.predict(box=(195, 150, 292, 222)).masks.shape[1:] == (448, 576)
