"""Publishing to the Hub (`sam_demo.publishing.hub`) against a fake HfApi: no test here touches the network."""

import logging
import traceback
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import create_autospec

import pytest
import requests
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

import sam_demo.publishing.hub as hub
from sam_demo.publishing.hub import PublishError, check_hub_access, push_folder, resolve_token, retry_command

TOKEN = "hf_SECRETtoken123"


class FakeApi:
    """Records every call; `errors` maps a method name to the exception it raises."""

    def __init__(self, *, user="alice", orgs=("busi-lab",), role="write", repo_private=None, **errors):
        self.user, self.orgs, self.role, self.repo_private = user, orgs, role, repo_private
        self.errors = errors
        self.calls = []

    def _call(self, name, **kwargs):
        self.calls.append((name, kwargs))
        if name in self.errors:
            raise self.errors[name]

    def names(self):
        return [name for name, _ in self.calls]

    def whoami(self, token=None):
        self._call("whoami", token=token)
        return {
            "type": "user",
            "name": self.user,
            "orgs": [{"name": org, "type": "org"} for org in self.orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "t", "role": self.role}},
        }

    def create_repo(self, repo_id, *, token=None, private=None, repo_type=None, exist_ok=False):
        self._call("create_repo", repo_id=repo_id, token=token, private=private, repo_type=repo_type, exist_ok=exist_ok)
        return f"https://huggingface.co/{repo_id}"

    def repo_info(self, repo_id, *, repo_type=None, token=None):
        self._call("repo_info", repo_id=repo_id, repo_type=repo_type, token=token)
        return SimpleNamespace(id=repo_id, private=self.repo_private)

    def upload_folder(self, **kwargs):
        self._call("upload_folder", **kwargs)
        return SimpleNamespace(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/abc")


def http_error(status: int, message: str) -> HfHubHTTPError:
    response = requests.Response()
    response.status_code = status
    return HfHubHTTPError(message, response=response)


@pytest.fixture(autouse=True)
def no_saved_login(monkeypatch):
    # Tests choose the token themselves; a developer's own login or HF_TOKEN must not leak in.
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub, "get_token", lambda: None)


@pytest.fixture
def model_folder(tmp_path) -> Path:
    """A folder as train.py writes it, with a space in its path and local training checkpoints."""
    folder = tmp_path / "run 1"
    for name, content in {
        "config.json": b'{"model_type": "sam"}',
        "model.safetensors": b"\x00weights\x01",
        "preprocessor_config.json": b"{}",
        "README.md": b"# model card",
        "metrics.json": b'{"dice": 0.8}',
        "training_log.csv": b"epoch,loss\n1,0.5\n",
        "training_curves.png": b"\x89PNG curves",
        "examples.png": b"\x89PNG examples",
        "split.json": b'{"train": [], "val": [], "test": []}',
        "checkpoints/ckpt-3.index": b"resume",
    }.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_no_token(error: BaseException, capsys, caplog=None) -> None:
    assert TOKEN not in str(error)
    assert TOKEN not in "".join(traceback.format_exception(error))
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    if caplog is not None:
        assert TOKEN not in caplog.text


# resolve_token


def test_resolve_token_precedence(monkeypatch):
    monkeypatch.setattr(hub, "get_token", lambda: "hf_saved")
    assert resolve_token() == "hf_saved"
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert resolve_token() == "hf_env"
    assert resolve_token("hf_explicit") == "hf_explicit"


def test_resolve_token_none_and_blank(monkeypatch):
    assert resolve_token() is None
    monkeypatch.setenv("HF_TOKEN", "  ")
    assert resolve_token() is None
    monkeypatch.setenv("HF_TOKEN", "hf_env\n")  # as `export HF_TOKEN=$(cat file)` leaves it
    assert resolve_token() == "hf_env"


# check_hub_access


@pytest.mark.parametrize("private", [False, True])
def test_check_access_creates_repo(private):
    api = FakeApi(repo_private=private)
    assert check_hub_access("alice/sam-busi", private=private, token=TOKEN, api=api) == "alice/sam-busi"
    assert api.calls[0] == ("whoami", {"token": TOKEN})
    assert api.calls[1] == (
        "create_repo",
        dict(repo_id="alice/sam-busi", token=TOKEN, private=private, repo_type="model", exist_ok=True),
    )


def test_check_access_bare_name_goes_under_user_and_orgs_are_allowed(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    api = FakeApi()
    assert check_hub_access("sam-busi", api=api) == "alice/sam-busi"
    assert check_hub_access("busi-lab/sam-busi", api=api) == "busi-lab/sam-busi"
    assert check_hub_access("Alice/sam-busi", api=api) == "Alice/sam-busi"  # namespaces are case-insensitive
    assert [kwargs["token"] for _, kwargs in api.calls] == [TOKEN] * len(api.calls)


def test_check_access_without_token():
    api = FakeApi()
    with pytest.raises(PublishError, match="HF_TOKEN or run `huggingface-cli login`"):
        check_hub_access("alice/sam-busi", api=api)
    assert api.calls == []


@pytest.mark.parametrize(
    "error",
    [
        HfHubHTTPError("401 Unauthorized"),
        http_error(401, "Invalid user token."),
        requests.HTTPError("Invalid user token.", response=SimpleNamespace(status_code=401)),  # what whoami raises
    ],
)
def test_check_access_invalid_token(error, capsys):
    api = FakeApi(whoami=error)
    with pytest.raises(PublishError, match="rejected the token") as caught:
        check_hub_access("alice/sam-busi", token=TOKEN, api=api)
    assert "HF_TOKEN" in str(caught.value)
    assert api.names() == ["whoami"]
    assert_no_token(caught.value, capsys)


def test_check_access_read_only_token_refused_before_create():
    api = FakeApi(role="read")
    with pytest.raises(PublishError, match="read-only"):
        check_hub_access("alice/sam-busi", token=TOKEN, api=api)
    assert api.names() == ["whoami"]


def test_check_access_foreign_namespace_refused_before_create():
    api = FakeApi()
    with pytest.raises(PublishError, match="'facebook'") as caught:
        check_hub_access("facebook/sam-busi", token=TOKEN, api=api)
    assert "alice/sam-busi" in str(caught.value)  # suggests a repo that would work
    assert api.names() == ["whoami"]


@pytest.mark.parametrize("status", [401, 403])
def test_check_access_create_repo_permission_error(status, capsys):
    api = FakeApi(create_repo=http_error(status, f"{status} Forbidden: You don't have the rights"))
    with pytest.raises(PublishError, match="Cannot create or write to the Hub repo busi-lab/sam-busi") as caught:
        check_hub_access("busi-lab/sam-busi", token=TOKEN, api=api)
    assert "write access" in str(caught.value)
    assert_no_token(caught.value, capsys)


def test_check_access_private_refuses_existing_public_repo():
    api = FakeApi(repo_private=False)
    with pytest.raises(PublishError, match="already exists and is public"):
        check_hub_access("alice/sam-busi", private=True, token=TOKEN, api=api)


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectionError("Max retries exceeded with url: /api/whoami-v2"),
        OfflineModeIsEnabled("Cannot reach https://huggingface.co/api/whoami-v2: offline mode is enabled."),
        http_error(503, "503 Service Unavailable"),
        requests.Timeout("Read timed out."),
    ],
)
@pytest.mark.parametrize("method", ["whoami", "create_repo"])
def test_check_access_hub_unreachable(method, error):
    api = FakeApi(**{method: error})
    with pytest.raises(PublishError, match="Hub is unreachable") as caught:
        check_hub_access("alice/sam-busi", token=TOKEN, api=api)
    assert ("HF_HUB_OFFLINE" in str(caught.value)) == isinstance(error, OfflineModeIsEnabled)


def test_check_access_real_api_offline():
    # conftest sets HF_HUB_OFFLINE=1: the real HfApi fails at once instead of waiting on the network.
    with pytest.raises(PublishError, match="unreachable.*HF_HUB_OFFLINE"):
        check_hub_access("alice/sam-busi", token=TOKEN)


@pytest.mark.parametrize(
    "repo_id",
    [
        "",
        "a/b/c",
        "-sam",
        "alice/sam--busi",
        "alice/sam..busi",
        "alice/.sam",
        "alice/sam.git",
        "alice/sam busi",
        "https://huggingface.co/alice/sam-busi",
        "alice/" + "x" * 97,
        "alice/",
    ],
)
def test_check_access_bad_repo_id(repo_id, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    api = FakeApi()
    with pytest.raises(PublishError, match="repo id|URL"):
        check_hub_access(repo_id, api=api)
    assert api.calls == []


# push_folder


def test_push_folder_uploads_finished_model(model_folder):
    api = FakeApi()
    url = push_folder(model_folder, "alice/sam-busi", token=TOKEN, api=api, commit_message="Fine-tuned on BUSI")
    assert url == f"{constants.ENDPOINT}/alice/sam-busi" == "https://huggingface.co/alice/sam-busi"
    assert api.names() == ["whoami", "create_repo", "upload_folder"]
    assert api.calls[1][1]["exist_ok"] is True
    assert api.calls[2][1] == dict(
        folder_path=str(model_folder),
        repo_id="alice/sam-busi",
        repo_type="model",
        token=TOKEN,
        commit_message="Fine-tuned on BUSI",
        ignore_patterns=["checkpoints/**", "*.partial*"],
    )


def test_push_folder_calls_match_the_real_hfapi(model_folder):
    # An autospec of HfApi refuses arguments the real methods do not take.
    api = create_autospec(HfApi, instance=True)
    api.whoami.return_value = {"name": "alice", "orgs": []}
    url = push_folder(model_folder, "sam-busi", private=True, token=TOKEN, api=api)
    assert url.endswith("/alice/sam-busi")
    api.create_repo.assert_called_once_with(
        "alice/sam-busi", private=True, exist_ok=True, repo_type="model", token=TOKEN
    )
    assert api.upload_folder.call_args.kwargs["repo_id"] == "alice/sam-busi"
    assert api.upload_folder.call_args.kwargs["ignore_patterns"] == ["checkpoints/**", "*.partial*"]


@pytest.mark.parametrize("missing", ["model.safetensors", "config.json"])
def test_push_incomplete_folder_refused_before_any_api_call(model_folder, missing):
    (model_folder / missing).unlink()
    api = FakeApi()
    with pytest.raises(PublishError, match=missing.replace(".", r"\.")) as caught:
        push_folder(model_folder, "alice/sam-busi", token=TOKEN, api=api)
    assert "Nothing was uploaded" in str(caught.value)
    assert api.calls == []


def test_push_missing_folder_refused(tmp_path):
    api = FakeApi()
    with pytest.raises(PublishError, match="is not a folder"):
        push_folder(tmp_path / "no-such-run", "alice/sam-busi", token=TOKEN, api=api)
    assert api.calls == []


@pytest.mark.parametrize("private", [False, True])
def test_failed_upload_keeps_folder_and_says_how_to_retry(model_folder, private, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    before = snapshot(model_folder)
    # A message that quotes the token, as a careless proxy or library might.
    api = FakeApi(repo_private=private, upload_folder=http_error(413, f"413 Payload too large (auth: Bearer {TOKEN})"))
    with pytest.raises(PublishError) as caught:
        push_folder(model_folder, "alice/sam-busi", private=private, token=TOKEN, api=api)
    message = str(caught.value)
    command = f"python train.py --push-only '{model_folder}' --hub-model-id alice/sam-busi"
    command += " --private" if private else ""
    assert message.endswith(command)
    assert command == retry_command(model_folder, "alice/sam-busi", private)
    assert f"everything is still on disk in {model_folder}" in message
    assert "413 Payload too large" in message and "***" in message
    assert snapshot(model_folder) == before
    assert_no_token(caught.value, capsys, caplog)


def test_unreachable_hub_during_push_says_how_to_retry(model_folder, capsys):
    before = snapshot(model_folder)
    api = FakeApi(upload_folder=requests.ConnectionError(f"Connection reset while sending token={TOKEN}"))
    with pytest.raises(PublishError, match="unreachable") as caught:
        push_folder(model_folder, "alice/sam-busi", token=TOKEN, api=api)
    assert "--push-only" in str(caught.value)
    assert snapshot(model_folder) == before
    assert_no_token(caught.value, capsys)


def test_push_with_rejected_token_says_how_to_retry(model_folder, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    api = FakeApi(whoami=http_error(401, f"Invalid user token {TOKEN}"))
    with pytest.raises(PublishError, match=r"rejected the token \(from HF_TOKEN\)") as caught:
        push_folder(model_folder, "sam-busi", api=api)
    assert str(caught.value).endswith(retry_command(model_folder, "sam-busi", False))
    assert api.names() == ["whoami"]
    assert_no_token(caught.value, capsys)


def test_retry_command_quotes_paths():
    assert retry_command(Path("outputs/run1"), "alice/sam-busi", False) == (
        "python train.py --push-only outputs/run1 --hub-model-id alice/sam-busi"
    )
    assert retry_command(Path("my runs/it's 1"), "alice/sam-busi", True) == (
        "python train.py --push-only 'my runs/it'\"'\"'s 1' --hub-model-id alice/sam-busi --private"
    )


def test_weight_file_names_match_the_loader():
    from sam_demo.core.weight_files import WEIGHT_FILES

    assert hub.WEIGHT_FILES == WEIGHT_FILES
