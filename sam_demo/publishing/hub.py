"""Publishing a fine-tuned model folder to the Hugging Face Hub, with access checked before training starts.

Every function takes `api=` (an `HfApi` or a stand-in) so that tests run without the network. No message, log
line or chained exception from here contains the token.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from pathlib import Path

import requests
from huggingface_hub import HfApi, constants, get_token
from huggingface_hub.errors import OfflineModeIsEnabled

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
TOKEN_HELP = (
    "Set HF_TOKEN or run `huggingface-cli login` with a token that has write access "
    "(create one at https://huggingface.co/settings/tokens)."
)

# One repo-name part: letters, digits, '-', '_', '.', not starting or ending with '-' or '.' (the Hub's own rule).
_NAME_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")


class PublishError(RuntimeError):
    """Publishing to the Hub failed or cannot work; the message says what to do (and never holds the token)."""


def resolve_token(token: str | None = None) -> str | None:
    """The token to publish with: `token` if given, else `HF_TOKEN`, else the saved `huggingface-cli login`."""
    return _resolve_token(token)[0]


def _resolve_token(token: str | None) -> tuple[str | None, str]:
    # The source goes into error messages: "the token was rejected" helps little if you do not know which one.
    for value, source in (
        (token, "passed in"),
        (os.environ.get("HF_TOKEN"), "from HF_TOKEN"),
    ):
        # `export HF_TOKEN=$(cat file)` easily leaves a newline; an empty variable means "not set".
        if value and value.strip():
            return value.strip(), source
    saved = get_token()
    if saved and saved.strip():
        return saved.strip(), "from the saved `huggingface-cli login`"
    return None, "nowhere"


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

    try:
        me = api.whoami(token=token)
    except Exception as error:
        raise _wrap(f"The Hugging Face Hub rejected the token ({source})", error, token, TOKEN_HELP)
    user = me.get("name")
    if not user:
        raise PublishError(f"The Hub did not say which account the token ({source}) belongs to. {TOKEN_HELP}")
    if _token_role(me) == "read":
        raise PublishError(f"The token ({source}, of {user}) is read-only, so it cannot push a model. {TOKEN_HELP}")

    full_id = _full_repo_id(repo_id, user, _org_names(me))
    try:
        api.create_repo(full_id, private=private, exist_ok=True, repo_type="model", token=token)
    except Exception as error:
        hint = (
            f"Use a token with write access to {full_id.split('/')[0]} (a fine-grained token needs it explicitly), "
            f"or choose a repo under your own name, e.g. {user}/{full_id.split('/')[1]}."
        )
        raise _wrap(f"Cannot create or write to the Hub repo {full_id} as {user}", error, token, hint)
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
) -> str:
    """Upload the model folder `train.py` wrote to `repo_id` and return the repo's URL.

    Training checkpoints (`checkpoints/`) stay local. The folder is never changed. On any failure this raises
    `PublishError` with the one command that retries the upload.
    """
    folder = Path(folder)
    _check_model_folder(folder)
    api = api if api is not None else HfApi()
    try:
        full_id = check_hub_access(repo_id, private=private, token=token, api=api)
    except PublishError as error:
        raise PublishError(f"{error} {_kept_on_disk(folder, repo_id, private)}") from error.__cause__
    token = resolve_token(token)

    logger.info("Uploading %s to %s", folder, full_id)
    try:
        api.upload_folder(
            folder_path=str(folder),
            repo_id=full_id,
            repo_type="model",
            token=token,
            commit_message=commit_message,
            ignore_patterns=list(IGNORE_PATTERNS),
        )
    except Exception as error:
        kept = _kept_on_disk(folder, full_id, private)
        raise _wrap(f"Uploading {folder} to {full_id} failed", error, token, then=kept)
    url = f"{constants.ENDPOINT.rstrip('/')}/{full_id}"
    logger.info("Pushed %s to %s", folder, url)
    return url


def retry_command(folder: Path, repo_id: str, private: bool) -> str:
    """The shell command that pushes `folder` again, without training."""
    parts = ["python", "train.py", "--push-only", str(folder), "--hub-model-id", repo_id]
    return " ".join(shlex.quote(part) for part in parts) + (" --private" if private else "")


def _check_repo_id(repo_id: str) -> None:
    example = "Use 'your-user-name/sam-busi' or just 'sam-busi' (it then goes under your user name)."
    if not isinstance(repo_id, str) or not repo_id.strip():
        raise PublishError(f"No Hub repo id given. {example}")
    if repo_id.startswith(("http://", "https://")):
        raise PublishError(f"{repo_id!r} is a URL; give the repo id only. {example}")
    parts = repo_id.split("/")
    if len(parts) > 2:
        raise PublishError(f"Hub repo id {repo_id!r} has more than one '/'. {example}")
    for part in parts:
        if not _NAME_PART.match(part) or "--" in part or ".." in part or part.endswith(".git"):
            raise PublishError(
                f"Hub repo id {repo_id!r} is not valid: each part may hold only letters, digits, '-', '_' and '.', "
                f"must not start or end with '-' or '.', hold '--' or '..', or be longer than 96 characters. {example}"
            )


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


def _check_still_private(api: HfApi, repo_id: str, token: str) -> None:
    # create_repo(exist_ok=True) leaves an existing repo's visibility alone: a public repo would get the
    # model although private was asked for.
    try:
        info = api.repo_info(repo_id, repo_type="model", token=token)
    except Exception as error:
        raise _wrap(f"Cannot read the settings of the Hub repo {repo_id}", error, token, TOKEN_HELP)
    if getattr(info, "private", None) is False:
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


def _kept_on_disk(folder: Path, repo_id: str, private: bool) -> str:
    return (
        f"Nothing is lost: everything is still on disk in {folder}. "
        f"Once the cause is fixed, push it without training again: {retry_command(folder, repo_id, private)}"
    )


def _wrap(what: str, error: Exception, token: str, advice: str = "", *, then: str = "") -> PublishError:
    """A `PublishError` for a failed Hub call: unreachable, or refused (then `advice`); `then` is said either way.

    Raise it without `from`: its cause is set here, and dropped where the original exception holds the token.
    """
    text = str(error).strip().rstrip(".")
    detail = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if _is_unreachable(error):
        if isinstance(error, OfflineModeIsEnabled):
            fix = "HF_HUB_OFFLINE is set: unset it to go online."
        else:
            fix = "Check the network connection and try again."
        message = f"The Hugging Face Hub is unreachable ({detail}). {fix}"
    else:
        message = f"{what}: {detail}. {advice}"
    wrapped = PublishError(_redact(f"{message.rstrip()} {then}".rstrip(), token))
    wrapped.__cause__ = error if token not in _exception_text(error) else None
    wrapped.__suppress_context__ = True
    return wrapped


def _is_unreachable(error: Exception) -> bool:
    # OfflineModeIsEnabled is a builtin ConnectionError; requests' ConnectionError and Timeout are not.
    if isinstance(error, (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout)):
        return True
    status = _status_code(error)
    return status is not None and status >= 500


def _status_code(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None) is not None:
        return int(response.status_code)
    # An HTTP error built without a response (as in tests, or some proxies' errors) often starts with its code.
    match = re.match(r"\s*([1-5]\d\d)\b", str(error))
    return int(match.group(1)) if match else None


def _exception_text(error: BaseException) -> str:
    texts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        texts += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    return "\n".join(texts)


def _redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text
