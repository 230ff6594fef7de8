"""The app as users reach it: `python app.py`, a served page driven through gradio_client, the Space metadata."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from sam_demo.app.ui import example_images

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_the_flags():
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for flag in ("--model", "--host", "--port", "--share", "--cache-size"):
        assert flag in result.stdout


def test_unreachable_model_fails_with_one_clear_message(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "app.py", "--model", "someone/never-downloaded-sam"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode != 0
    assert "Cannot start the app" in result.stderr and "pass its folder" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def client(served_app, tmp_path_factory):
    return Client(served_app, verbose=False, download_files=str(tmp_path_factory.mktemp("client-downloads")))


def test_upload_through_the_api(client):
    example = example_images()[1]
    canvas, candidates, summary, mask_file, overlay_file = client.predict(handle_file(example), api_name="/load_image")
    shown = np.asarray(Image.open(canvas).convert("RGB"))
    assert shown.shape == np.asarray(Image.open(example).convert("RGB")).shape
    assert "Click on the tumour" in summary
    assert mask_file is None and overlay_file is None
    cleared = client.predict(api_name="/clear")
    assert "Click on the tumour" in cleared[2]


def test_bad_upload_is_reported_and_the_server_keeps_serving(client, tmp_path):
    junk = tmp_path / "scan.png"
    junk.write_bytes(b"not really a png")
    with pytest.raises(AppError, match="scan.png"):
        client.predict(handle_file(str(junk)), api_name="/load_image")
    canvas, *_ = client.predict(handle_file(example_images()[0]), api_name="/load_image")
    assert Path(canvas).is_file()


def test_space_front_matter_matches_requirements():
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    for key in (
        "title",
        "emoji",
        "colorFrom",
        "colorTo",
        "sdk",
        "sdk_version",
        "app_file",
        "python_version",
        "license",
        "models",
        "tags",
        "short_description",
    ):
        assert key in meta, key
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pins["gradio"]
    assert meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    assert 3.10 <= float(meta["python_version"]) < 3.13
    assert len(meta["short_description"]) <= 60
