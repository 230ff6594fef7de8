"""train.py end to end on a phantom dataset with the tiny model saved on disk."""

import csv
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import tensorflow as tf

from sam_demo.core.model import load_sam
from sam_demo.core.predictor import SamPredictor
from sam_demo.data.layouts import find_examples
from sam_demo.data.loading import load_examples

ROOT = Path(__file__).resolve().parents[1]
# One corrective click in the interactive evaluation, where a test does not check its length: the tiny model's masks
# are noise, and every click of the default ten costs a decode and surface distances per image and model.
ONE_CLICK = ["--max-clicks", "1"]
sys.path.insert(0, str(ROOT))
import train  # noqa: E402


@pytest.fixture(scope="module")
def finished_run(tiny_checkpoint, tmp_path_factory, phantom_dataset):
    dataset = phantom_dataset(12, "busi", seed=7)
    output = tmp_path_factory.mktemp("runs") / "run1"
    args = [
        "--model",
        str(tiny_checkpoint),
        "--dataset",
        str(dataset),
        "--output-dir",
        str(output),
        "--epochs",
        "3",
        "--batch-size",
        "4",
        "--learning-rate",
        "1e-2",
        "--seed",
        "1",
        "--max-clicks",  # the interactive evaluation's protocols, briefly: the tiny model's masks are noise
        "2",
    ]
    metrics = train.main(args)
    return dataset, output, metrics, args


def test_outputs_of_a_run(finished_run):
    dataset, output, metrics, _ = finished_run
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "metrics.json",
        "training_log.csv",
        "split.json",
        "results.md",
        "training_curves.png",
        "examples.png",
        "README.md",
        "per_image.csv",
        "dice_by_click.png",
    ):
        assert (output / name).is_file(), name
    card = (output / "README.md").read_text()
    assert "not for clinical use" in card.lower() and "model-index" in card
    assert "box" in (output / "results.md").read_text()
    saved = json.loads((output / "metrics.json").read_text())
    assert saved["best_epoch"] in (1, 2, 3)
    assert set(saved["test"]["prompts"]) == {"box", "point", "three_points"}
    assert set(saved["zero_shot_test"]["prompts"]) == {"box", "point", "three_points"}
    for model in ("test", "zero_shot_test"):
        interactive = saved[model]["interactive"]
        assert set(interactive) == {"point", "point_mask", "box", "box_mask"}
        assert all(len(entry["dice_by_click"]) == 3 and "noc90" in entry for entry in interactive.values())
    assert saved["config"]["interactive_rounds"] == 3  # trained for the click-after-click loop by default
    assert "Corrective clicks" in card and "NoC@90" in card
    usable = load_examples(find_examples(dataset)).examples  # "normal" phantoms (empty masks) are left out
    assert sum(saved["split_sizes"].values()) == len(usable)
    with (output / "training_log.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert max(float(r["val_dice"]) for r in rows) == pytest.approx(saved["best_validation_dice"])
    assert metrics["best_epoch"] == saved["best_epoch"]


def test_the_saved_model_loads_and_predicts(finished_run):
    _, output, _, _ = finished_run
    model, processor = load_sam(output)
    predictor = SamPredictor(model, processor)
    predictor.set_image(str(ROOT / "examples" / "phantom_0.png"))
    assert predictor.predict(box=(195, 150, 292, 222)).masks.shape[1:] == (448, 576)


def test_an_existing_model_is_not_overwritten(finished_run):
    _, output, _, args = finished_run
    before = (output / "model.safetensors").read_bytes()
    with pytest.raises(SystemExit, match="already holds a model"):
        train.main(args)
    assert (output / "model.safetensors").read_bytes() == before


def test_bad_dataset_is_one_clear_line(tmp_path, tiny_checkpoint):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("no images here")
    with pytest.raises(SystemExit, match="train.py: .*data"):
        train.main(
            [
                "--model",
                str(tiny_checkpoint),
                "--dataset",
                str(tmp_path / "data"),
                "--output-dir",
                str(tmp_path / "out"),
            ]
        )


def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path, tiny_checkpoint):
    (tmp_path / "a-file").write_text("not a folder")
    output = tmp_path / "a-file" / "run"
    with pytest.raises(SystemExit) as stopped:
        train.main(["--model", str(tiny_checkpoint), "--dataset", str(tmp_path), "--output-dir", str(output)])
    message = str(stopped.value.code)
    assert message.startswith("train.py: ") and "\n" not in message and "a-file" in message


@pytest.mark.parametrize(
    "error, expected",
    [
        (KeyboardInterrupt(), "interrupted"),
        (tf.errors.ResourceExhaustedError(None, None, "OOM when allocating"), "out of memory"),
        (OSError(28, "No space left on device", "/data/run/model.safetensors.partial"), "No space left on device"),
    ],
)
def test_ctrl_c_memory_and_disk_errors_are_one_line_that_says_how_to_resume(
    error, expected, tiny_checkpoint, tmp_path, monkeypatch
):
    output = tmp_path / "run"
    (output / "checkpoints" / "last").mkdir(parents=True)
    monkeypatch.setattr(train, "has_checkpoint", lambda folder: folder == output)

    def interrupted(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(train, "run", interrupted)
    with pytest.raises(SystemExit) as stopped:
        train.main(["--model", str(tiny_checkpoint), "--output-dir", str(output)])
    message = str(stopped.value.code)
    assert message.startswith("train.py: ") and expected in message and "\n" not in message
    assert f"python train.py --resume --output-dir {output}" in message


def test_evaluate_only_writes_json_and_markdown(finished_run, tmp_path):
    dataset, output, _, _ = finished_run
    results = train.main(
        [
            "--evaluate-only",
            "--model",
            str(output),
            "--base-model",
            str(output),
            "--dataset",
            str(dataset),
            "--output-dir",
            str(output),
            "--seed",
            "1",
            *ONE_CLICK,
        ]
    )
    assert set(results["test"]["prompts"]) == {"box", "point", "three_points"}
    assert results["zero_shot_test"] is None  # the base model is the model itself here
    saved = json.loads((output / "evaluation.json").read_text())
    assert saved["test_size"] == json.loads((output / "metrics.json").read_text())["split_sizes"]["test"]
    assert "Dice" in (output / "evaluation.md").read_text()


class FakeHub:
    """Stands in for huggingface_hub.HfApi: records calls, can fail an upload."""

    calls: list = []
    fail_upload = False

    def whoami(self, token=None):
        FakeHub.calls.append("whoami")
        return {"name": "alice", "orgs": [], "auth": {"accessToken": {"role": "write"}}}

    def create_repo(self, repo_id, **kwargs):
        FakeHub.calls.append(("create_repo", repo_id))

    def repo_info(self, repo_id, **kwargs):
        FakeHub.calls.append(("repo_info", repo_id))
        return SimpleNamespace(id=repo_id, private=False)

    def upload_folder(self, **kwargs):
        FakeHub.calls.append(("upload_folder", kwargs["folder_path"], kwargs["repo_id"]))
        if FakeHub.fail_upload:
            raise ConnectionError("connection reset")


@pytest.fixture
def fake_hub(monkeypatch):
    import sam_demo.publishing.hub

    FakeHub.calls, FakeHub.fail_upload = [], False
    monkeypatch.setattr(sam_demo.publishing.hub, "HfApi", FakeHub)
    monkeypatch.setenv("HF_TOKEN", "hf_SECRETtoken123")
    return FakeHub


def test_push_to_hub_checks_access_first_and_uploads_the_run(finished_run, fake_hub, tmp_path, capsys):
    dataset, _, _, _ = finished_run
    output = tmp_path / "pushed"
    train.main(
        [
            "--model",
            str(finished_run[1]),
            "--dataset",
            str(dataset),
            "--output-dir",
            str(output),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--push-to-hub",
            "--hub-model-id",
            "alice/sam-busi",
            *ONE_CLICK,
        ]
    )
    assert fake_hub.calls[0] == "whoami" and fake_hub.calls[1] == ("create_repo", "alice/sam-busi")
    assert fake_hub.calls[-1] == ("upload_folder", str(output), "alice/sam-busi")
    assert "alice/sam-busi" in (output / "README.md").read_text()
    assert "hf_SECRETtoken123" not in capsys.readouterr().out


def test_a_failed_push_keeps_everything_and_says_how_to_retry(finished_run, fake_hub, tmp_path):
    _, output, _, _ = finished_run
    before = {p.name: p.read_bytes() for p in output.iterdir() if p.is_file()}
    fake_hub.fail_upload = True
    with pytest.raises(SystemExit) as stopped:
        train.main(["--push-only", str(output), "--hub-model-id", "alice/sam-busi"])
    assert f"python train.py --push-only {output} --hub-model-id alice/sam-busi" in str(stopped.value)
    assert "hf_SECRETtoken123" not in str(stopped.value)
    assert {p.name: p.read_bytes() for p in output.iterdir() if p.is_file()} == before


def test_a_rejected_token_stops_before_training(monkeypatch, tmp_path, tiny_checkpoint):
    from huggingface_hub.errors import HfHubHTTPError

    import sam_demo.publishing.hub

    class Rejecting(FakeHub):
        def whoami(self, token=None):
            raise HfHubHTTPError("401 Client Error: Unauthorized")

    monkeypatch.setattr(sam_demo.publishing.hub, "HfApi", Rejecting)
    monkeypatch.setenv("HF_TOKEN", "hf_SECRETtoken123")
    with pytest.raises(SystemExit, match="token"):
        train.main(
            [
                "--model",
                str(tiny_checkpoint),
                "--dataset",
                str(tmp_path),
                "--output-dir",
                str(tmp_path / "out"),
                "--push-to-hub",
                "--hub-model-id",
                "alice/sam-busi",
            ]
        )
    assert not (tmp_path / "out").exists()


def test_uncached_route_from_the_command_line(finished_run, tmp_path):
    dataset, output, _, _ = finished_run
    metrics = train.main(
        [
            "--model",
            str(output),
            "--dataset",
            str(dataset),
            "--output-dir",
            str(tmp_path / "uncached"),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--no-embedding-cache",
            *ONE_CLICK,
        ]
    )
    assert metrics["config"]["embedding_cache"] is False
    assert (tmp_path / "uncached" / "model.safetensors").is_file()


def test_an_interrupted_run_resumes_where_it_stopped(finished_run, tmp_path, monkeypatch):
    from sam_demo.training.trainer import SamTrainer

    _, reference, _, args = finished_run  # 3 epochs without a break
    output = tmp_path / "interrupted"
    args = [*args[: args.index("--output-dir")], "--output-dir", str(output), *args[args.index("--output-dir") + 2 :]]
    real_epoch, calls = SamTrainer.train_epoch, []

    def interrupted_in_epoch_3(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C, a preempted machine...
        return real_epoch(self, *a, **k)

    monkeypatch.setattr(SamTrainer, "train_epoch", interrupted_in_epoch_3)
    with pytest.raises(SystemExit, match=f"interrupted. .*python train.py --resume --output-dir {output}$"):
        train.main(args)
    monkeypatch.setattr(SamTrainer, "train_epoch", real_epoch)

    with pytest.raises(SystemExit, match="--resume"):  # a plain rerun does not overwrite the model of epoch 1-2
        train.main(args)
    metrics = train.main(["--resume", "--output-dir", str(output)])  # the run's own settings
    expected = json.loads((reference / "metrics.json").read_text())
    for row, reference_row in zip(metrics["history"], expected["history"], strict=True):
        assert row["train_loss"] == pytest.approx(reference_row["train_loss"], rel=1e-5)
        assert row["val_dice"] == pytest.approx(reference_row["val_dice"], rel=1e-5)
    assert metrics["best_epoch"] == expected["best_epoch"]
    with (output / "training_log.csv").open() as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == [1, 2, 3]

    longer = train.main(["--resume", "--output-dir", str(output), "--epochs", "4"])  # more epochs later
    assert [row["epoch"] for row in longer["history"]] == [1, 2, 3, 4]
    assert longer["history"][:3] == metrics["history"]


def test_resume_refuses_other_settings_and_missing_checkpoints(finished_run, tmp_path):
    _, output, _, _ = finished_run
    with pytest.raises(SystemExit, match=r"--learning-rate 0\.5 \(the run used 0\.01\)"):
        train.main(["--resume", "--output-dir", str(output), "--learning-rate", "0.5"])
    with pytest.raises(SystemExit, match="no training checkpoint"):
        train.main(["--resume", "--output-dir", str(tmp_path / "nothing-here")])


def test_evaluate_only_embeds_each_image_once_when_the_encoder_is_shared(finished_run, tiny_checkpoint, monkeypatch):
    from sam_demo.core.predictor import SamPredictor as Predictor

    dataset, output, _, _ = finished_run  # fine-tuned from tiny_checkpoint with the encoder frozen
    runs = []
    real = Predictor.embed_pixels
    monkeypatch.setattr(Predictor, "embed_pixels", lambda self, pixels: runs.append(1) or real(self, pixels))
    results = train.main(
        [
            "--evaluate-only",
            "--model",
            str(output),
            "--base-model",
            str(tiny_checkpoint),
            "--dataset",
            str(dataset),
            "--output-dir",
            str(output),
            *ONE_CLICK,
        ]
    )
    assert results["zero_shot_test"] is not None and results["test"] is not None
    assert len(runs) == results["test_size"]


def test_evaluate_only_tests_on_the_split_the_model_was_trained_with(finished_run, phantom_dataset, tmp_path):
    from sam_demo.data.splits import split_examples, write_split

    dataset, output, _, _ = finished_run  # trained with --seed 1
    trained = json.loads((output / "split.json").read_text())
    command = [*ONE_CLICK, "--evaluate-only", "--model", str(output), "--base-model", str(output)]
    command += ["--dataset", str(dataset)]
    usable = [(item.example.name, item.example.label) for item in load_examples(find_examples(dataset)).examples]
    assert split_examples(usable, seed=2)["test"] != trained["test"]  # a fresh split would test on other images

    results = train.main([*command, "--output-dir", str(tmp_path / "eval"), "--seed", "2"])
    assert json.loads((tmp_path / "eval" / "split.json").read_text())["test"] == trained["test"]
    assert results["test_size"] == len(trained["test"])

    clashing = tmp_path / "clashing"
    write_split(split_examples(usable, seed=2), clashing / "split.json", seed=2, fractions=(0.8, 0.1, 0.1))
    with pytest.raises(SystemExit, match=rf"{clashing / 'split.json'} .*differs.*{output / 'split.json'}"):
        train.main([*command, "--output-dir", str(clashing)])

    other = phantom_dataset(4)  # images-labels: phantom_000, ... none of the run's names
    with pytest.raises(SystemExit, match=rf"{output}.*not in the dataset.*: benign/benign \(\d+\)"):
        train.main([*command[:-1], str(other), "--output-dir", str(tmp_path / "other")])


def test_evaluate_only_says_when_the_model_has_no_split(finished_run, tiny_checkpoint, tmp_path, capsys):
    dataset, _, _, _ = finished_run
    output = tmp_path / "eval"
    command = [*ONE_CLICK, "--evaluate-only", "--model", str(tiny_checkpoint), "--base-model", str(tiny_checkpoint)]
    train.main([*command, "--dataset", str(dataset), "--output-dir", str(output), "--seed", "2"])
    said = capsys.readouterr().out
    assert f"{tiny_checkpoint} has no split.json" in said and "--seed 2" in said
    assert json.loads((output / "split.json").read_text())["seed"] == 2


def test_gradient_checkpointing_needs_the_trained_encoder_and_a_run_too_big_stops_first(
    tiny_checkpoint, tmp_path, monkeypatch, capsys
):
    import sam_demo.training.memory

    with pytest.raises(SystemExit):
        train.parse_args(["--gradient-checkpointing"])
    assert "--gradient-checkpointing goes with --train-vision-encoder" in capsys.readouterr().err
    assert train.parse_args(["--train-vision-encoder", "--gradient-checkpointing"]).gradient_checkpointing
    monkeypatch.setattr(sam_demo.training.memory, "available_memory_mb", lambda: 500.0)
    monkeypatch.setattr(train, "run", lambda *args, **kwargs: pytest.fail("training started"))
    args = ["--model", str(tiny_checkpoint), "--output-dir", str(tmp_path / "out"), "--train-vision-encoder"]
    with pytest.raises(SystemExit) as stopped:
        train.main([*args, "--batch-size", "2", "--gradient-checkpointing"])
    message = str(stopped.value.code)
    assert message.startswith("train.py: training the vision encoder with --batch-size 2 and --gradient-checkpointing")
    assert "0.5 GB of memory are available" in message and "\n" not in message
