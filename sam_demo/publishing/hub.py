"""Publishing a fine-tuned model folder to the Hugging Face Hub, with access checked before training starts.

Every function takes `api=` (an `HfApi` or a stand-in) so that tests run without the network. No message, log
line or exception chain from here contains the token: a failed Hub call's exception is never chained, since its
request carries the token in its headers (and its text sometimes does).
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests
from huggingface_hub import HfApi, constants, get_token
from huggingface_hub.errors import HFValidationError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.utils import validate_repo_id

logger = logging.getLogger(__name__)

# The same names as `sam_demo.core.weight_files.WEIGHT_FILES` (a test keeps them equal); repeated so that publishing a
# folder does not import TensorFlow.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "tf_model.h5",
    "tf_model.h5.index.json",
)
# Training checkpoints (for resuming) and half-written files stay on disk; the Hub gets the finished model only.
IGNORE_PATTERNS = ["checkpoints/**", "*.partial*"]
# What shows the held-out patients' images or names their files: pushed only when asked (`include_examples`).
# The names of what `publishing.reports` and `training.run` write, repeated so that this module needs no TensorFlow.
EXAMPLE_FILES = ("examples.png", "split.json", "per_image.csv")
TOKEN_HELP = (
    "Set HF_TOKEN or run `hf auth login` with a token that has write access "
    "(create one at https://huggingface.co/settings/tokens)."
)
_ENVIRONMENT_TOKENS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")  # what get_token reads before the saved login

T = TypeVar("T")


class PublishError(RuntimeError):
    """Publishing to the Hub failed or cannot work; the message says what to do (and never holds the token)."""


def resolve_token(token: str | None = None) -> str | None:
    """The token to publish with: `token` if given, else huggingface_hub's own choice (`get_token`: `HF_TOKEN`,
    else the token `hf auth login` saved)."""
    return _resolve_token(token)[0]


def _resolve_token(token: str | None) -> tuple[str | None, str]:
    if token and token.strip():
        return token.strip(), "passed in"
    found = get_token()  # strips the newline `export HF_TOKEN=$(cat file)` leaves; blank counts as not set
    if not found:
        return None, "nowhere"
    # Only to name the source in messages: "the token was rejected" helps little if you do not know which one.
    named = [name for name in _ENVIRONMENT_TOKENS if (os.environ.get(name) or "").strip() == found]
    return found, f"from {named[0]}" if named else "from the saved `hf auth login`"


def public_repo_notice(repo_id: str) -> str:
    """One line, said before training while stopping costs nothing, when the repo is public (`is_public_repo`)."""
    return (
        f"The model will be pushed to {repo_id}, a public repo: anyone can download it, its model card and metrics. "
        "To keep it private, stop now (Ctrl-C) and add --private."
    )


def check_hub_access(
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Check, before training, that the model can be pushed to `repo_id`; create the repo if needed.

    Returns the full repo id ("user/name" when only "name" was given). Raises `PublishError` saying what to do
    when the id is malformed, there is no token or it is rejected, the namespace is not yours or your
    organisation's, the repo cannot be created, or the Hub is unreachable.
    """
    _check_repo_id(repo_id)
    token, source = _resolve_token(token)
    if token is None:
        raise PublishError(f"No Hugging Face token found, and pushing to the Hub needs one. {TOKEN_HELP}")
    api = api if api is not None else HfApi()

    me = _hub_call(
        lambda: api.whoami(token=token), f"The Hugging Face Hub rejected the token ({source})", token, TOKEN_HELP
    )
    user = me.get("name")
    if not user:
        raise PublishError(f"The Hub did not say which account the token ({source}) belongs to. {TOKEN_HELP}")
    if _token_role(me) == "read":
        raise PublishError(f"The token ({source}, of {user}) is read-only, so it cannot push a model. {TOKEN_HELP}")

    full_id = _full_repo_id(repo_id, user, _org_names(me))
    hint = (
        f"Use a token with write access to {full_id.split('/')[0]} (a fine-grained token needs it explicitly), "
        f"or choose a repo under your own name, e.g. {user}/{full_id.split('/')[1]}."
    )
    _hub_call(
        lambda: api.create_repo(full_id, private=private, exist_ok=True, repo_type="model", token=token),
        f"Cannot create or write to the Hub repo {full_id} as {user}",
        token,
        hint,
    )
    if private:
        _check_still_private(api, full_id, token)
    logger.info("Hub access checked: %s can push to %s", user, full_id)
    return full_id


def push_folder(
    folder: Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    api: HfApi | None = None,
    commit_message: str = "Upload fine-tuned SAM",
    include_examples: bool = False,
) -> str:
    """Upload the model folder `train.py` wrote to `repo_id` and return the repo's URL.

    Training checkpoints (`checkpoints/`) stay local, and so do `EXAMPLE_FILES` (held-out images, image file
    names) unless `include_examples`. The folder is never changed. On any failure this raises `PublishError` with
    the one command that retries the upload.
    """
    folder = Path(folder)
    _check_model_folder(folder)
    api = api if api is not None else HfApi()
    try:
        full_id = check_hub_access(repo_id, private=private, token=token, api=api)
    except PublishError as error:
        # Its own chain is empty and its text redacted: no token reaches this one's context.
        raise PublishError(f"{error} {_kept_on_disk(folder, repo_id, private, include_examples)}") from None
    token = resolve_token(token)

    logger.info("Uploading %s to %s", folder, full_id)
    _hub_call(
        lambda: api.upload_folder(
            folder_path=str(folder),
            repo_id=full_id,
            repo_type="model",
            token=token,
            commit_message=commit_message,
            ignore_patterns=IGNORE_PATTERNS + ([] if include_examples else list(EXAMPLE_FILES)),
        ),
        f"Uploading {folder} to {full_id} failed",
        token,
        repo_id=full_id,
        then=_kept_on_disk(folder, full_id, private, include_examples),
    )
    url = f"{constants.ENDPOINT.rstrip('/')}/{full_id}"
    logger.info("Pushed %s to %s", folder, url)
    return url


def retry_command(folder: Path, repo_id: str, private: bool, include_examples: bool = False) -> str:
    """The shell command that pushes `folder` again, without training."""
    parts = ["python", "train.py", "--push-only", str(folder), "--hub-model-id", repo_id]
    flags = [flag for flag, given in (("--private", private), ("--push-examples", include_examples)) if given]
    return " ".join(shlex.quote(part) for part in parts + flags)


def _check_repo_id(repo_id: str) -> None:
    example = "Use 'your-user-name/sam-busi' or just 'sam-busi' (it then goes under your user name)."
    if not isinstance(repo_id, str) or not repo_id.strip():
        raise PublishError(f"No Hub repo id given. {example}")
    if repo_id.startswith(("http://", "https://")):
        raise PublishError(f"{repo_id!r} is a URL; give the repo id only. {example}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PublishError(f"Hub repo id {repo_id!r} is not valid. {error} {example}") from None


def _full_repo_id(repo_id: str, user: str, orgs: list[str]) -> str:
    if "/" not in repo_id:
        return f"{user}/{repo_id}"
    namespace, name = repo_id.split("/")
    # Hub namespaces are case-insensitive; a refusal here would stop a run that could have been pushed.
    if namespace.lower() not in {user.lower(), *(org.lower() for org in orgs)}:
        yours = ", ".join([user, *orgs])
        raise PublishError(
            f"The token belongs to {user}, who cannot push to the namespace {namespace!r} "
            f"(the token's user and organisations are: {yours}). Use e.g. {user}/{name}, "
            f"or a token of an account in {namespace!r}."
        )
    return repo_id


def _org_names(me: dict) -> list[str]:
    return [org["name"] for org in me.get("orgs") or [] if isinstance(org, dict) and org.get("name")]


def _token_role(me: dict) -> str | None:
    # "read", "write" or "fineGrained"; only "read" is certain to fail at upload time.
    auth = me.get("auth") or {}
    return (auth.get("accessToken") or {}).get("role")


def is_public_repo(repo_id: str, *, token: str | None = None, api: HfApi | None = None) -> bool:
    """Whether the existing repo `repo_id` (see `check_hub_access`) can be read by anyone. Without --private a new
    repo is public, but an existing private one stays private: only a public one is announced as such."""
    api = api if api is not None else HfApi()
    return _is_private(api, repo_id, resolve_token(token)) is not True  # unknown counts as public: cautious


def _is_private(api: HfApi, repo_id: str, token: str | None) -> bool | None:
    info = _hub_call(
        lambda: api.repo_info(repo_id, repo_type="model", token=token),
        f"Cannot read the settings of the Hub repo {repo_id}",
        token,
        TOKEN_HELP,
        repo_id=repo_id,
    )
    return getattr(info, "private", None)


def _check_still_private(api: HfApi, repo_id: str, token: str) -> None:
    # create_repo(exist_ok=True) leaves an existing repo's visibility alone: a public repo would get the
    # model although private was asked for.
    if _is_private(api, repo_id, token) is False:
        raise PublishError(
            f"The Hub repo {repo_id} already exists and is public, but a private repo was asked for. Make it "
            f"private at https://huggingface.co/{repo_id}/settings, or choose another repo id."
        )


def _check_model_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise PublishError(
            f"Nothing to push: {folder} is not a folder. Pass the folder train.py wrote "
            f"(the one holding config.json and model.safetensors)."
        )
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append(f"weights (one of {', '.join(WEIGHT_FILES)})")
    if missing:
        raise PublishError(
            f"{folder} is not a complete model folder: it has no {' and no '.join(missing)}. Nothing was uploaded. "
            f"Pass the folder train.py wrote at the end of training."
        )


def _kept_on_disk(folder: Path, repo_id: str, private: bool, include_examples: bool) -> str:
    command = retry_command(folder, repo_id, private, include_examples)
    return (
        f"Nothing is lost: everything is still on disk in {folder}. "
        f"Once the cause is fixed, push it without training again: {command}"
    )


def _hub_call(
    call: Callable[[], T], what: str, token: str, advice: str = "", *, repo_id: str = "", then: str = ""
) -> T:
    """`call()`, or a `PublishError` for its failure, raised outside the `except` block: raised inside, it would keep
    the Hub's exception (and with it the token) as its `__context__`, shown or not."""
    try:
        return call()
    except Exception as error:
        failure = _publish_error(what, error, token, advice, repo_id=repo_id, then=then)
    raise failure


def _publish_error(
    what: str, error: Exception, token: str, advice: str = "", *, repo_id: str = "", then: str = ""
) -> PublishError:
    """What a failed Hub call means: unreachable, `repo_id` missing or hidden from the token, or refused (then
    `advice`); `then` is said either way. The error's text is kept, with the token blanked out."""
    text = str(error).strip().rstrip(".")
    detail = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if isinstance(error, OfflineModeIsEnabled):
        message = f"The Hugging Face Hub is unreachable ({detail}). HF_HUB_OFFLINE is set: unset it to go online."
    elif _is_unreachable(error):
        message = f"The Hugging Face Hub is unreachable ({detail}). Check the network connection and try again."
    elif isinstance(error, RepositoryNotFoundError):
        # Deleted, or made private to others, since the access check.
        message = f"{what}: the Hub repo {repo_id} does not exist or the token cannot see it ({detail}). {advice}"
    else:
        message = f"{what}: {detail}. {advice}"
    return PublishError(_redact(f"{message.rstrip()} {then}".rstrip(), token))


def _is_unreachable(error: Exception) -> bool:
    # OfflineModeIsEnabled is a builtin ConnectionError; requests' ConnectionError and Timeout are not. A 5xx
    # answer (an overloaded or broken Hub) is as good as none: trying again later is the fix either way.
    if isinstance(error, (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout)):
        return True
    status = _status_code(error)
    return status is not None and status >= 500


def _status_code(error: Exception) -> int | None:
    """The HTTP status of a Hub answer (`HfHubHTTPError`, or the plain `HTTPError` whoami raises); None otherwise."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code
    return None


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text
