"""The real Hub code paths end to end, against a local stand-in for the Hub (`HF_ENDPOINT`, tests/local_hub.py).

The stand-in serves a tiny SAM saved by PyTorch transformers under Meta's id `facebook/sam-vit-large` (the same
files as Meta's repo), and the notebook's dataset archive under `sayakpaul/sample-datasets`. `python app.py` and
`python train.py` run with their defaults, as a new user runs them; what `train.py` pushes loads back by its id.
"""

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from gradio_client import Client, handle_file
from helpers import free_port
from huggingface_hub import constants, hf_hub_download
from local_hub import LocalHub
from safetensors.numpy import load_file, save_file
from transformers import SamImageProcessor

from sam_demo.app.ui import example_images
from sam_demo.core.model import DEFAULT_MODEL_ID, ModelLoadError, load_sam, save_sam
from sam_demo.core.predictor import SamPredictor
from sam_demo.data.sources import DEFAULT_FILENAME, DEFAULT_REPO_ID
from sam_demo.publishing.hub import EXAMPLE_FILES, public_repo_notice

ROOT = Path(__file__).resolve().parents[1]
PYTORCH_CHECKPOINT = ROOT / "tests" / "data" / "sam-tiny-pytorch"
CHECKPOINT_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")  # as in Meta's repos
TOKEN = "hf_localTestWriteToken"  # known only to the local stand-in
USER = "tester"
BOX = (195, 150, 292, 222)  # the box of the model card's snippets


@pytest.fixture(scope="module")
def hub(tmp_path_factory, phantom_dataset):
    with LocalHub(tmp_path_factory.mktemp("hub"), tokens={TOKEN: USER}) as hub:
        hub.add_files(DEFAULT_MODEL_ID, metas_file_set())
        dataset = phantom_dataset(10, seed=3)
        hub.add_file(DEFAULT_REPO_ID, DEFAULT_FILENAME, tar_gz(dataset, "breast-cancer-dataset"), repo_type="dataset")
        yield hub


def metas_file_set() -> dict[str, bytes]:
    """The files of Meta's `facebook/sam-vit-*` repos, with PyTorch-saved tiny weights."""
    files = {name: (PYTORCH_CHECKPOINT / name).read_bytes() for name in ("config.json", "model.safetensors")}
    files["preprocessor_config.json"] = SamImageProcessor().to_json_string().encode()
    return files


def tar_gz(folder: Path, top: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=top)
    return buffer.getvalue()


def hub_env(hub: LocalHub, home: Path) -> dict[str, str]:
    """A new user's environment: the Hub at `hub`, a token, and empty caches (no Hub or project settings leak in)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING", "SAM_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HF_ENDPOINT=hub.endpoint, HF_TOKEN=TOKEN, HOME=str(home), HF_HOME=str(home / "hf"))
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    return env


def downloads(hub: LocalHub, repo_id: str, repo_type: str = "model") -> list[str]:
    """The files of `repo_id` whose bytes the stand-in sent (LFS files come from its "CDN", as on the Hub)."""
    return [path for kind, repo, path in hub.served if (kind, repo) == (repo_type, repo_id)]


def test_app_with_its_defaults_downloads_metas_checkpoint_and_serves(hub, tmp_path):
    port = free_port()
    log = tmp_path / "app.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=ROOT,
            env=hub_env(hub, tmp_path / "home"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        client = wait_for_app(f"http://127.0.0.1:{port}/", process, log)
        canvas = client.predict(handle_file(example_images()[0]), api_name="/load_image")
        candidates, summary, *_ = client.predict(api_name="/details")
        assert canvas["base"] and canvas["layer"] is None and not candidates  # the image, no mask yet
        assert "Click on the tumour" in summary
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert "model.safetensors" in downloads(hub, DEFAULT_MODEL_ID)
    assert "Traceback" not in log.read_text()


def wait_for_app(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> Client:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet
            time.sleep(1)
    pytest.fail(f"app.py did not serve {url} within {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def published_run(hub, tmp_path_factory):
    """`python train.py --push-to-hub` with no --model and no --dataset: both come from the Hub."""
    home = tmp_path_factory.mktemp("trainer")
    output = home / "run"
    command = [sys.executable, "train.py", "--output-dir", str(output), "--epochs", "1", "--batch-size", "2"]
    # One corrective click and one training round: neither is what this run checks (test_train_cli does), and
    # the K-round step takes long to trace.
    command += ["--max-clicks", "1", "--interactive-rounds", "1", "--push-to-hub", "--hub-model-id", "sam-busi-e2e"]
    result = subprocess.run(command, cwd=ROOT, env=hub_env(hub, home), capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return output, f"{USER}/sam-busi-e2e", result


def test_train_with_its_defaults_downloads_model_and_dataset(hub, published_run):
    output, _, result = published_run
    assert downloads(hub, DEFAULT_REPO_ID, "dataset") == [DEFAULT_FILENAME]
    assert "model.safetensors" in downloads(hub, DEFAULT_MODEL_ID)
    assert "Traceback" not in result.stderr
    for name in (*CHECKPOINT_FILES, "metrics.json", "README.md"):
        assert (output / name).is_file(), name


def test_a_public_push_is_announced_before_training(published_run):
    _, repo_id, result = published_run
    lines = result.stdout.splitlines()
    notice = public_repo_notice(repo_id)
    assert "--private" in notice
    training = next(index for index, line in enumerate(lines) if line.startswith("dataset:"))  # data read first
    assert lines.index(notice) < training


def test_held_out_images_and_file_names_stay_local_without_push_examples(hub, published_run):
    output, repo_id, _ = published_run
    pushed = hub.files(repo_id)
    for name in EXAMPLE_FILES:
        assert (output / name).is_file() and name not in pushed, name


def local_places(*paths: Path) -> list[bytes]:
    """What must never be pushed: the given folders' paths and this user's home folder."""
    places = [str(path) for path in paths] + [os.path.expanduser("~")]
    return [place.encode() for place in places if len(place) > 1]


def assert_no_local_path(pushed: dict[str, bytes], places: list[bytes]) -> None:
    leaks = [(name, place) for name, data in pushed.items() for place in places if place in data]
    assert not leaks


def test_nothing_train_pushed_names_a_local_path(hub, published_run):
    output, repo_id, _ = published_run
    home = output.parent  # HOME of the run: the dataset's extraction and the Hub cache are in it
    assert_no_local_path(hub.files(repo_id), local_places(home, output))


@pytest.fixture(scope="module")
def local_run(hub, tmp_path_factory, tiny_checkpoint, phantom_dataset):
    """A run of a local model folder on a local dataset folder, pushed private with --push-examples; then evaluated
    again into its own folder and pushed once more with --push-only (evaluation.json goes up with it)."""
    home = tmp_path_factory.mktemp("local-trainer")
    output, dataset = home / "run", phantom_dataset(10, seed=3)
    short = ["--max-clicks", "1", "--interactive-rounds", "1", "--seed", "1"]
    runs = [
        ["--model", str(tiny_checkpoint), "--dataset", str(dataset), "--output-dir", str(output), "--epochs", "1"],
        ["--evaluate-only", "--model", str(output), "--base-model", str(tiny_checkpoint), "--dataset", str(dataset)],
        ["--push-only", str(output)],
    ]
    runs[0] += [*short, "--push-to-hub"]
    runs[1] += ["--output-dir", str(output), "--max-clicks", "1", "--seed", "1"]
    hub_flags = ["--hub-model-id", "sam-local", "--private", "--push-examples"]
    results = []
    for flags in runs:
        command = [sys.executable, "train.py", *flags, *(hub_flags if "--evaluate-only" not in flags else [])]
        result = subprocess.run(command, cwd=ROOT, env=hub_env(hub, home), capture_output=True, text=True, timeout=1200)
        assert result.returncode == 0, result.stdout + result.stderr
        results.append(result)
    return output, dataset, f"{USER}/sam-local", results


def test_nothing_pushed_from_local_folders_names_their_paths(hub, local_run, tiny_checkpoint):
    output, dataset, repo_id, _ = local_run
    pushed = hub.files(repo_id)
    assert {"metrics.json", "README.md", "evaluation.json"} <= set(pushed)
    assert_no_local_path(pushed, local_places(output.parent, output, dataset, tiny_checkpoint))
    config = json.loads(pushed["metrics.json"])["config"]
    assert (config["model"], config["dataset"], config["output_dir"]) == (tiny_checkpoint.name, dataset.name, "run")
    assert json.loads(pushed["evaluation.json"])["model"] == "run"


def test_push_examples_pushes_them_and_a_private_push_is_not_announced(hub, local_run):
    output, _, repo_id, results = local_run
    pushed = hub.files(repo_id)
    for name in EXAMPLE_FILES:
        assert pushed[name] == (output / name).read_bytes(), name
    assert hub.is_private(repo_id)
    assert public_repo_notice(repo_id) not in results[0].stdout


def test_what_train_pushed_is_what_it_saved(hub, published_run):
    output, repo_id, _ = published_run
    pushed = hub.files(repo_id)
    assert not hub.is_private(repo_id)
    for name in (*CHECKPOINT_FILES, "README.md", "metrics.json", "training_curves.png"):
        assert pushed[name] == (output / name).read_bytes(), name
    assert not any(path.startswith("checkpoints/") for path in pushed)
    assert (output / "checkpoints").is_dir()  # kept on disk for --resume


@pytest.fixture
def hub_client(hub, tmp_path, monkeypatch):
    """This process's huggingface_hub pointed at the stand-in, with an empty cache."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with hub.patch_hf_client():
        yield hub


def test_what_train_pushed_loads_back_by_its_repo_id(hub_client, published_run):
    output, repo_id, _ = published_run
    pushed, _ = load_sam(repo_id, token=TOKEN)
    saved, _ = load_sam(output)
    for left, right in zip(pushed.weights, saved.weights):
        np.testing.assert_array_equal(left.numpy(), right.numpy())


def test_metas_id_loads_from_the_hub_and_private_repos_need_the_token(hub_client):
    model, processor = load_sam(DEFAULT_MODEL_ID)
    assert model.config.vision_config.hidden_size == 32  # the stand-in's tiny SAM, not a cached real one
    assert processor.image_processor.size["longest_edge"] == 1024
    hub_client.add_repo("tester/private-sam", private=True)
    hub_client.add_files("tester/private-sam", metas_file_set())
    with pytest.raises(ModelLoadError, match="not found on the Hugging Face Hub.*HF_TOKEN"):
        load_sam("tester/private-sam", token=False)
    load_sam("tester/private-sam", token=TOKEN)


def test_the_spaces_preloaded_files_are_all_the_app_loads(hub_client):
    """A Space downloads `preload_from_hub` (README front matter) at build time; the app then needs nothing more."""
    meta = yaml.safe_load((ROOT / "README.md").read_text().split("---\n")[1])
    for entry in meta["preload_from_hub"]:
        repo_id, files = entry.split()[:2]  # "repo_id file1,file2 [revision]"
        for name in files.split(","):
            hf_hub_download(repo_id, name)
    model, _ = load_sam(DEFAULT_MODEL_ID, local_files_only=True)  # no request: the build's cache only
    assert model.config.vision_config.hidden_size == 32


def test_repo_without_weights_or_config_is_explained(hub_client):
    hub_client.add_file("tester/config-only", "config.json", (PYTORCH_CHECKPOINT / "config.json").read_bytes())
    with pytest.raises(ModelLoadError, match="no weights"):
        load_sam("tester/config-only")
    hub_client.add_file("tester/not-a-model", "README.md", b"# nothing here")
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_sam("tester/not-a-model")


def test_model_cards_pytorch_snippet_runs_verbatim_and_gives_the_same_mask(hub, published_run, tmp_path):
    """The card's PyTorch `transformers` snippet, by repo id from the Hub, gives the mask this package gives."""
    output, repo_id, _ = published_run
    card = (output / "README.md").read_text()
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", card, re.S) if "SamModel" in block)
    assert f'"{repo_id}"' in snippet
    image = example_images()[0]
    (tmp_path / "ultrasound.png").write_bytes(Path(image).read_bytes())
    script = snippet + "\nimport numpy\nnumpy.save('mask.npy', mask)\nprint('iou', predicted_iou)\n"
    env = hub_env(hub, tmp_path / "home")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    pytorch_mask = np.load(tmp_path / "mask.npy")
    pytorch_iou = float(result.stdout.split("iou")[-1])

    predictor = SamPredictor(*load_sam(output))
    predictor.set_image(image)
    ours = predictor.predict(box=BOX, multimask_output=False)
    assert pytorch_mask.shape == ours.best.shape
    assert np.mean(pytorch_mask != ours.best) < 1e-3
    assert pytorch_iou == pytest.approx(float(ours.iou_scores[0]), abs=1e-4)


@pytest.mark.parametrize("layout", ["pytorch-sharded", "tf-h5"])
def test_every_weight_layout_loads_by_repo_id(hub_client, tmp_path, layout):
    """Sharded PyTorch weights (large fine-tunes) and TF's tf_model.h5 (this project's older outputs), by repo id."""
    model, processor = load_sam(PYTORCH_CHECKPOINT)
    folder = tmp_path / layout
    if layout == "tf-h5":
        model.save_pretrained(folder)  # tf_model.h5 and config.json
    else:
        save_sam(model, processor, folder)
        state = load_file(str(folder / "model.safetensors"))
        (folder / "model.safetensors").unlink()
        names = sorted(state)
        weight_map = {name: f"model-{index % 2 + 1:05d}-of-00002.safetensors" for index, name in enumerate(names)}
        for shard in sorted(set(weight_map.values())):
            part = {name: state[name] for name in names if weight_map[name] == shard}
            save_file(part, str(folder / shard), metadata={"format": "pt"})
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    repo_id = f"{USER}/sam-{layout}"
    hub_client.add_folder(repo_id, folder)
    loaded, _ = load_sam(repo_id)
    for left, right in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(left.numpy(), right.numpy())
    fetched = downloads(hub_client, repo_id)
    assert "model.safetensors" not in fetched  # only the files of the layout the repo has
    if layout == "tf-h5":
        assert "tf_model.h5" in fetched
    else:
        assert {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} <= set(fetched)
