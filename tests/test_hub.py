"""Publishing to the Hub (`sam_demo.publishing.hub`) against a fake HfApi: no test here touches the network."""

import logging
import traceback
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import create_autospec

import pytest
import requests
import yaml
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.utils import HFValidationError, reset_sessions, validate_repo_id
from local_hub import LocalHub

import sam_demo.publishing.hub as hub
from sam_demo.publishing.hub import (
    EXAMPLE_FILES,
    PublishError,
    check_hub_access,
    public_repo_notice,
    push_folder,
    resolve_token,
    retry_command,
)

ROOT = Path(__file__).resolve().parents[1]
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


def http_error(status: int, message: str, error_type: type[HfHubHTTPError] = HfHubHTTPError) -> HfHubHTTPError:
    """An error as huggingface_hub raises it: its response's request carries the token, as every Hub call's does."""
    request = requests.Request("POST", "https://huggingface.co/api/repos/create")
    request = request.prepare()
    request.headers["authorization"] = f"Bearer {TOKEN}"
    response = requests.Response()
    response.status_code, response.request = status, request
    return error_type(message, response=response)


@pytest.fixture(autouse=True)
def no_saved_login(monkeypatch, tmp_path):
    # Tests choose the token themselves; a developer's own login or HF_TOKEN must not leak in.
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))


def save_login(token: str) -> None:
    """What `hf auth login` leaves behind: the token in HF_TOKEN_PATH."""
    path = Path(constants.HF_TOKEN_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token)


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


def exception_chain(error: BaseException) -> list[BaseException]:
    """Every exception a tool can reach from `error` (as loggers and error trackers walk it), printed or not."""
    chain, seen = [], set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        chain.append(current)
        pending += [current.__cause__, current.__context__]
    return chain


def assert_no_token(error: BaseException, capsys, caplog=None) -> None:
    assert TOKEN not in str(error)
    assert TOKEN not in "".join(traceback.format_exception(error))
    for linked in exception_chain(error):
        assert TOKEN not in f"{linked} {linked!r} {linked.args!r}", type(linked)
        request = getattr(getattr(linked, "response", None), "request", None)  # a Hub error's request: its headers
        assert TOKEN not in repr(getattr(request, "headers", None)), type(linked)
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    if caplog is not None:
        assert TOKEN not in caplog.text


# resolve_token


def test_resolve_token_precedence(monkeypatch):
    save_login("hf_saved")
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


def test_resolve_token_is_huggingface_hubs_own_lookup(monkeypatch):
    # One lookup, huggingface_hub's: what it decides (HF_TOKEN, its older name, Colab secrets, the saved login) holds.
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_old_name")
    assert resolve_token() == "hf_old_name"
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    monkeypatch.setattr(hub, "get_token", lambda: "hf_as_get_token_says")
    assert resolve_token() == "hf_as_get_token_says"


def test_a_rejected_saved_login_is_named_with_todays_cli(capsys):
    save_login(TOKEN)
    with pytest.raises(PublishError) as caught:
        check_hub_access("alice/sam-busi", api=FakeApi(whoami=http_error(401, "Invalid user token.")))
    message = str(caught.value)
    assert "(from the saved `hf auth login`)" in message and "huggingface-cli" not in message
    assert_no_token(caught.value, capsys)


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
    with pytest.raises(PublishError, match="HF_TOKEN or run `hf auth login`") as caught:
        check_hub_access("alice/sam-busi", api=api)
    assert "huggingface-cli" not in str(caught.value)  # the old CLI's name
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


@pytest.mark.parametrize("repo_id", ["_sam", "alice/sam_", "alice/Sam.v2", "alice/sam--busi", "alice/sam.git", "a/b/c"])
def test_repo_ids_are_judged_by_huggingface_hubs_own_rule(repo_id, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        with pytest.raises(PublishError) as caught:
            check_hub_access(repo_id, api=FakeApi())
        assert str(error) in str(caught.value)  # its reason, word for word
    else:
        assert check_hub_access(repo_id, api=FakeApi()).endswith(repo_id.split("/")[-1])


def test_no_hub_error_stays_in_the_chain(capsys):
    """The PublishError neither causes nor has as context the Hub's error: that error's request holds the token in
    its headers (and sometimes its text does). A printed traceback hides a suppressed context; a tool that walks
    the chain does not."""
    for method in ("whoami", "create_repo", "repo_info"):
        error = http_error(403, "403 Forbidden")  # its text is clean: only the request holds the token
        with pytest.raises(PublishError) as caught:
            check_hub_access("alice/sam-busi", private=True, token=TOKEN, api=FakeApi(**{method: error}))
        assert caught.value.__cause__ is None and caught.value.__context__ is None, method
        assert_no_token(caught.value, capsys)


def test_the_real_hubs_refusal_leaves_no_token_in_the_chain(capsys, monkeypatch):
    # huggingface_hub's own exception for a rejected token, from a real HTTP exchange with the local stand-in.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    reset_sessions()
    try:
        with LocalHub(tokens={"hf_someone_elses": "tester"}) as local:
            with pytest.raises(PublishError, match="rejected the token") as caught:
                check_hub_access("alice/sam-busi", token=TOKEN, api=HfApi(endpoint=local.endpoint))
    finally:
        reset_sessions()
    assert_no_token(caught.value, capsys)


def test_a_failure_that_is_not_an_http_error_is_not_read_as_a_status_code():
    # Only an HTTP response has a status; text that happens to start with "500" is not a server error.
    api = FakeApi(upload_folder=ValueError("500 files could not be hashed"))
    with pytest.raises(PublishError) as caught:
        push_folder(Path(__file__).parent / "data" / "sam-tiny-pytorch", "alice/sam-busi", token=TOKEN, api=api)
    assert "unreachable" not in str(caught.value)
    assert "ValueError: 500 files could not be hashed" in str(caught.value)


def test_a_missing_repo_at_upload_is_named(model_folder, capsys):
    # Deleted, or made invisible to the token, between the access check and the upload.
    error = http_error(404, "404 Client Error. Repository Not Found", RepositoryNotFoundError)
    with pytest.raises(PublishError, match="alice/sam-busi does not exist or the token cannot see it") as caught:
        push_folder(model_folder, "alice/sam-busi", token=TOKEN, api=FakeApi(upload_folder=error))
    assert "--push-only" in str(caught.value)
    assert_no_token(caught.value, capsys)


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
        ignore_patterns=["checkpoints/**", "*.partial*", "examples.png", "split.json", "per_image.csv"],
    )


def test_examples_and_file_names_are_pushed_only_when_asked(model_folder):
    api = FakeApi()
    push_folder(model_folder, "alice/sam-busi", token=TOKEN, api=api, include_examples=True)
    assert api.calls[-1][1]["ignore_patterns"] == ["checkpoints/**", "*.partial*"]
    assert set(EXAMPLE_FILES) == {"examples.png", "split.json", "per_image.csv"}


def test_per_image_csv_is_the_file_the_run_writes():
    from sam_demo.training.run import PER_IMAGE_CSV

    assert PER_IMAGE_CSV in EXAMPLE_FILES


@pytest.mark.parametrize("include_examples", [False, True])
def test_which_files_reach_the_local_hub(model_folder, include_examples, monkeypatch):
    (model_folder / "per_image.csv").write_text("model,image,dice\nfine_tuned,malignant (3).png,0.8\n")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with LocalHub(tokens={TOKEN: "alice"}) as local, local.patch_hf_client():
        url = push_folder(
            model_folder, "sam-busi", token=TOKEN, api=HfApi(endpoint=local.endpoint), include_examples=include_examples
        )
        pushed = set(local.files("alice/sam-busi")) - {".gitattributes"}
    assert url == f"{local.endpoint}/alice/sam-busi"
    on_disk = {str(path.relative_to(model_folder)) for path in model_folder.rglob("*") if path.is_file()}
    kept = {name for name in on_disk if name.startswith("checkpoints/")}
    if not include_examples:
        kept |= set(EXAMPLE_FILES)
    assert pushed == on_disk - kept


# the announcement of a public repo


def test_public_repo_notice_names_the_repo_and_private():
    notice = public_repo_notice("alice/sam-busi")
    assert "\n" not in notice
    assert "alice/sam-busi" in notice and "public" in notice and "--private" in notice


@pytest.fixture
def train(monkeypatch):
    """train.py as a module (it imports TensorFlow: only the tests of its flags pay for that)."""
    monkeypatch.syspath_prepend(str(ROOT))
    import train

    return train


def test_train_announces_a_public_push_before_training(train, monkeypatch, tmp_path, capsys):
    printed_before_training = []

    def fake_run(config, resume=False):
        printed_before_training.append(capsys.readouterr().out)
        return {}

    monkeypatch.setattr(hub, "HfApi", FakeApi)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(train, "run", fake_run)
    flags = ["--dataset", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--push-to-hub"]
    train.main([*flags, "--hub-model-id", "alice/sam-busi"])
    train.main([*flags, "--hub-model-id", "alice/sam-busi", "--private"])
    # An existing private repo stays private without --private: nothing to announce.
    monkeypatch.setattr(hub, "HfApi", lambda: FakeApi(repo_private=True))
    train.main([*flags, "--hub-model-id", "alice/sam-busi"])
    public, private, already_private = printed_before_training
    assert public.splitlines() == [public_repo_notice("alice/sam-busi")]
    assert private == "" and already_private == ""


def test_push_examples_needs_a_push(train, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--output-dir", str(tmp_path), "--push-examples"])
    assert "--push-examples" in capsys.readouterr().err
    args = train.parse_args(["--push-only", str(tmp_path), "--hub-model-id", "alice/sam-busi", "--push-examples"])
    assert args.push_examples


# the Space


def test_the_space_preloads_the_files_load_sam_fetches_for_the_model_it_serves():
    """At build time, so that the first visitor does not wait for 1.2 GB (README front matter, preload_from_hub)."""
    from sam_demo.core.model import CONFIG_FILE, DEFAULT_MODEL_ID, PROCESSOR_FILE
    from sam_demo.core.weight_files import WEIGHT_FILES

    meta = yaml.safe_load((ROOT / "README.md").read_text().split("---\n")[1])
    entries = dict(entry.split(" ", 1) for entry in meta["preload_from_hub"])
    assert set(entries[DEFAULT_MODEL_ID].split(",")) == {CONFIG_FILE, PROCESSOR_FILE, WEIGHT_FILES[0]}
    assert DEFAULT_MODEL_ID in meta["models"]


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
    assert api.upload_folder.call_args.kwargs["ignore_patterns"][:2] == ["checkpoints/**", "*.partial*"]


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
