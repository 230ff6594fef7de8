"""app.py's flags for the embedding cache on disk and the encoder precision, also set through the environment; what
startup leaves there."""

import os
import subprocess
import sys
from pathlib import Path

from sam_demo.core.encoder_precision import resolve_encoder_precision

ROOT = Path(__file__).resolve().parents[1]


def run_app(*args: str, env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, *(("-c", code) if code else ("app.py",)), *args]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment)


def test_a_bad_precision_stops_the_app_with_one_line():
    result = run_app("--model", "never/downloaded", env={"SAM_ENCODER_PRECISION": "float16"})
    assert result.returncode != 0 and "Cannot start the app: encoder precision must be one of" in result.stderr
    assert "Traceback" not in result.stderr


# The examples' background encoding stuck for good: the process must still exit when it is done.
STUCK_BACKGROUND = """
import threading, time
from sam_demo.core.predictor import SamPredictor
embed = SamPredictor.embed_pixels
def stuck(self, pixels):
    if threading.current_thread().name == "encode-in-background":
        time.sleep(3600)
    return embed(self, pixels)
SamPredictor.embed_pixels = stuck
"""


def test_a_space_configures_them_through_the_environment(tiny_checkpoint, tmp_path):
    # A Space imports app.py (no command line): the environment variables stand in for the flags.
    folder = tmp_path / "embeddings"
    env = {
        "SAM_MODEL_ID": str(tiny_checkpoint),
        "SAM_EMBEDDING_CACHE_DIR": str(folder),
        "SAM_ENCODER_PRECISION": "auto",
    }
    result = run_app(env=env, code=STUCK_BACKGROUND + "import app; print(type(app.demo).__name__)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "Blocks"
    expected = "float32 XLA" if resolve_encoder_precision("auto") == "float32" else "bfloat16 oneDNN"
    assert f"Vision encoder: {expected} (--encoder-precision auto)" in result.stderr
    # Startup encoded the first example (compiling the encoder) into the disk cache too.
    assert len(list(folder.glob("*.npz"))) == 1
