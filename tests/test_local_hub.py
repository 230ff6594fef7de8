"""The local Hub stand-in (tests/local_hub.py), driven by the real huggingface_hub client: no network."""

import base64
import hashlib
import json
import os

import pytest
import requests
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.utils import reset_sessions
from local_hub import LocalHub

WRITE, READ, OTHER = "hf_test_write", "hf_test_read", "hf_other_write"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    # Tests choose their token: a developer's login or HF_TOKEN must not leak in.
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    tokens = {WRITE: "tester", READ: ("tester", "read"), OTHER: "someone"}
    with LocalHub(tmp_path / "hub", tokens=tokens, orgs={"tester": ["busi-lab"]}) as server:
        yield server


@pytest.fixture
def online(monkeypatch):
    """Leave the offline mode conftest sets. The flag is read when a thread's requests session is created
    (utils/_http.py), and sessions are cached per thread: reset them on the way in and out."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    reset_sessions()
    yield
    reset_sessions()


def download(hub, repo_id, filename, cache, **kwargs) -> bytes:
    path = hf_hub_download(repo_id, filename, endpoint=hub.endpoint, cache_dir=cache, **{"token": False, **kwargs})
    with open(path, "rb") as file:
        return file.read()


def test_downloads_model_and_dataset_files_byte_for_byte(hub, online, tmp_path):
    weights, image = os.urandom(5000), b"\x89PNG\r\n\x1a\n" + os.urandom(300)
    hub.add_file("busi-lab/sam", "config.json", b'{"model_type": "sam"}')
    sha = hub.add_file("busi-lab/sam", "sub dir/model.safetensors", weights)  # LFS: served through a redirect
    hub.add_file("busi-lab/busi", "benign/benign (1).png", image, repo_type="dataset")

    assert download(hub, "busi-lab/sam", "config.json", tmp_path) == b'{"model_type": "sam"}'
    assert download(hub, "busi-lab/sam", "sub dir/model.safetensors", tmp_path) == weights
    assert download(hub, "busi-lab/sam", "sub dir/model.safetensors", tmp_path / "c2", revision=sha) == weights
    assert download(hub, "busi-lab/busi", "benign/benign (1).png", tmp_path, repo_type="dataset") == image
    assert hub.served == [
        ("model", "busi-lab/sam", "config.json"),
        ("model", "busi-lab/sam", "sub dir/model.safetensors"),
        ("model", "busi-lab/sam", "sub dir/model.safetensors"),
        ("dataset", "busi-lab/busi", "benign/benign (1).png"),
    ]
    assert hub.unhandled == []


def test_second_download_comes_from_the_cache(hub, online, tmp_path):
    sha = hub.add_file("busi-lab/sam", "model.safetensors", b"weights")
    download(hub, "busi-lab/sam", "model.safetensors", tmp_path)
    # LFS bytes come from the redirect target, as from the Hub's CDN: /resolve/ only sees the HEAD.
    assert hub.requests == [
        ("HEAD", "/busi-lab/sam/resolve/main/model.safetensors"),
        ("GET", f"/_cdn/{hashlib.sha256(b'weights').hexdigest()}"),
    ]
    assert hub.served == [("model", "busi-lab/sam", "model.safetensors")]

    hub.requests.clear()
    assert download(hub, "busi-lab/sam", "model.safetensors", tmp_path) == b"weights"
    assert [method for method, _ in hub.requests] == ["HEAD"]  # "main" is checked, the bytes are not fetched

    hub.requests.clear()
    assert download(hub, "busi-lab/sam", "model.safetensors", tmp_path, revision=sha) == b"weights"
    assert hub.requests == []  # a commit sha already in the cache needs no request at all


def test_missing_file_repo_and_revision_raise_the_hub_errors(hub, online, tmp_path):
    hub.add_file("busi-lab/sam", "config.json", b"{}")
    with pytest.raises(EntryNotFoundError):
        download(hub, "busi-lab/sam", "nope.json", tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        download(hub, "busi-lab/missing", "config.json", tmp_path)
    with pytest.raises(RevisionNotFoundError):
        download(hub, "busi-lab/sam", "config.json", tmp_path, revision="0" * 40)
    with pytest.raises(EntryNotFoundError):  # what transformers meets when it looks for chat templates
        list(HfApi(endpoint=hub.endpoint).list_repo_tree("busi-lab/sam", "additional_chat_templates", token=False))
    assert hub.unhandled == []


def test_transformers_lists_chat_templates_without_error(hub, online, tmp_path):
    from transformers.utils.hub import list_repo_templates

    hub.add_file("busi-lab/sam", "config.json", b"{}")
    with hub.patch_hf_client():  # transformers calls list_repo_tree without an endpoint argument
        assert list_repo_templates("busi-lab/sam", local_files_only=False, cache_dir=tmp_path) == []
        hub.add_file("busi-lab/sam", "additional_chat_templates/short.jinja", b"{{ messages }}")
        assert list_repo_templates("busi-lab/sam", local_files_only=False, cache_dir=tmp_path) == ["short.jinja"]
    assert hub.unhandled == []


def test_private_repo_is_hidden_from_all_but_its_owners(hub, online, tmp_path):
    hub.add_repo("busi-lab/private-sam", private=True)
    hub.add_file("busi-lab/private-sam", "config.json", b'{"secret": 1}')
    assert hub.is_private("busi-lab/private-sam")

    for token in (False, OTHER):
        with pytest.raises(RepositoryNotFoundError):
            download(hub, "busi-lab/private-sam", "config.json", tmp_path, token=token)
        with pytest.raises(RepositoryNotFoundError):
            HfApi(endpoint=hub.endpoint).model_info("busi-lab/private-sam", token=token)
    for token in (WRITE, READ):  # an org member, with a write or a read token
        assert download(hub, "busi-lab/private-sam", "config.json", tmp_path, token=token) == b'{"secret": 1}'
    info = HfApi(endpoint=hub.endpoint).model_info("busi-lab/private-sam", token=READ)
    assert info.private is True and [s.rfilename for s in info.siblings] == [".gitattributes", "config.json"]
    assert hub.unhandled == []


def test_whoami(hub, online):
    api = HfApi(endpoint=hub.endpoint)
    me = api.whoami(token=WRITE)
    assert me["name"] == "tester" and me["orgs"] == [{"type": "org", "name": "busi-lab"}]
    assert me["auth"]["accessToken"]["role"] == "write"
    assert api.whoami(token=READ)["auth"]["accessToken"]["role"] == "read"
    with pytest.raises(requests.HTTPError) as error:  # on 401 whoami raises a plain HTTPError, not HfHubHTTPError
        api.whoami(token="hf_not_a_token")
    assert error.value.response.status_code == 401
    assert hub.unhandled == []


def test_create_repo_upload_folder_and_download_everything_back(hub, online, tmp_path):
    folder = tmp_path / "run 1"
    (folder / "plots").mkdir(parents=True)
    files = {
        "weights.bin": os.urandom(2 * 1024 * 1024),  # over 1 MB: LFS
        "config.json": b'{"model_type": "sam"}',
        "README.md": b"---\nlicense: mit\n---\n# SAM fine-tuned on BUSI\n",
        "plots/metrics.json": b'{"dice": 0.8}',
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)

    with hub.patch_hf_client():  # CommitInfo parses commitUrl against constants.ENDPOINT (see the test below)
        api = HfApi(endpoint=hub.endpoint, token=WRITE)
        url = api.create_repo("busi-lab/sam-busi", private=True, exist_ok=True)
        assert url.repo_id == "busi-lab/sam-busi" and hub.is_private("busi-lab/sam-busi")
        assert api.create_repo("busi-lab/sam-busi", exist_ok=True).repo_id == "busi-lab/sam-busi"  # the 409 path

        hub.requests.clear()
        commit = api.upload_folder(repo_id="busi-lab/sam-busi", folder_path=folder, commit_message="Upload run 1")
        assert commit.oid == hub.head("busi-lab/sam-busi")
        assert ("PUT", f"/_lfs/model/busi-lab/sam-busi/{hashlib.sha256(files['weights.bin']).hexdigest()}") in (
            hub.requests
        )
        assert [m for m, p in hub.requests if m == "PUT"] == ["PUT"]  # only the large file went through LFS

        stored = hub.files("busi-lab/sam-busi")
        assert stored.pop(".gitattributes") and stored == files
        for name, data in files.items():
            assert download(hub, "busi-lab/sam-busi", name, tmp_path / "cache", token=WRITE) == data
        assert sorted(api.list_repo_files("busi-lab/sam-busi")) == sorted([".gitattributes", *files])
        info = api.model_info("busi-lab/sam-busi", files_metadata=True)
        sizes = {s.rfilename: (s.size, s.lfs is not None) for s in info.siblings}
        assert sizes["weights.bin"] == (len(files["weights.bin"]), True) and sizes["config.json"][1] is False

        # Same folder again: preupload names the remote oids, the client sees nothing changed and skips the commit.
        hub.requests.clear()
        again = api.upload_folder(repo_id="busi-lab/sam-busi", folder_path=folder)
        assert again.oid == commit.oid and not [m for m, _ in hub.requests if m == "PUT"]

        api.delete_file("plots/metrics.json", repo_id="busi-lab/sam-busi")
        assert "plots/metrics.json" not in hub.files("busi-lab/sam-busi")
        assert hub.files("busi-lab/sam-busi", revision=commit.oid)["plots/metrics.json"] == b'{"dice": 0.8}'
    assert hub.unhandled == []


def test_writes_outside_ones_namespaces_are_refused(hub, online, tmp_path):
    hub.add_file("someone/their-model", "config.json", b"{}")
    before = hub.head("someone/their-model")
    with hub.patch_hf_client():
        api = HfApi(endpoint=hub.endpoint, token=WRITE)
        with pytest.raises(HfHubHTTPError) as error:
            api.upload_file(path_or_fileobj=b"mine", path_in_repo="config.json", repo_id="someone/their-model")
        assert error.value.response.status_code == 403
        with pytest.raises(HfHubHTTPError) as error:
            api.create_repo("someone/new-model")
        assert error.value.response.status_code == 403
        with pytest.raises(HfHubHTTPError) as error:  # a read token cannot write even in its own namespace
            HfApi(endpoint=hub.endpoint, token=READ).create_repo("tester/new-model")
        assert error.value.response.status_code == 403
        # The client turns a 403 on an existing, readable repo into success when exist_ok=True.
        assert api.create_repo("someone/their-model", exist_ok=True).repo_id == "someone/their-model"
    assert hub.head("someone/their-model") == before and hub.files("someone/their-model")["config.json"] == b"{}"


def test_lfs_bytes_are_verified_and_unknown_objects_refused(hub, online):
    hub.add_repo("tester/model")
    auth = {"Authorization": f"Bearer {WRITE}"}
    data = b"large bytes"
    oid = hashlib.sha256(data).hexdigest()
    batch = requests.post(
        f"{hub.endpoint}/tester/model.git/info/lfs/objects/batch",
        headers=auth,
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]},
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    assert requests.put(href, data=b"other bytes").status_code == 400  # wrong sha256
    assert requests.put(href, data=data).status_code == 200
    assert requests.put(href, data=data).status_code == 403  # one upload per announcement

    def commit(oid):
        lines = [
            {"key": "header", "value": {"summary": "add", "description": ""}},
            {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(data)}},
        ]
        body = "\n".join(json.dumps(line) for line in lines)
        return requests.post(f"{hub.endpoint}/api/models/tester/model/commit/main", headers=auth, data=body)

    assert commit(hashlib.sha256(b"never uploaded").hexdigest()).status_code == 400
    assert commit(oid).status_code == 200 and hub.files("tester/model")["w.bin"] == data
    regular = {
        "key": "file",
        "value": {"path": "a.txt", "encoding": "base64", "content": base64.b64encode(b"text").decode()},
    }
    header = {"key": "header", "value": {"summary": "text"}}
    body = f"{json.dumps(header)}\n{json.dumps(regular)}\n"
    assert requests.post(f"{hub.endpoint}/api/models/tester/model/commit/main", headers=auth, data=body).ok
    assert hub.files("tester/model")["a.txt"] == b"text"


def test_range_requests_and_unhandled_paths(hub, online):
    data = os.urandom(1000)
    hub.add_file("tester/model", "model.safetensors", data)
    response = requests.get(
        f"{hub.endpoint}/tester/model/resolve/main/model.safetensors", headers={"Range": "bytes=10-"}
    )
    assert response.status_code == 206 and response.content == data[10:]
    assert response.headers["Content-Range"] == "bytes 10-999/1000"

    response = requests.get(f"{hub.endpoint}/api/models/tester/model/discussions")
    assert response.status_code == 404 and "does not implement" in response.text
    assert hub.unhandled == [("GET", "/api/models/tester/model/discussions")]


def test_commit_url_is_parsed_against_the_default_endpoint(hub, online):
    """Why commits need `hub.patch_hf_client()`: with only `endpoint=`, the commit lands but huggingface_hub
    0.36 fails to build CommitInfo.repo_url from a commitUrl outside constants.ENDPOINT."""
    hub.add_repo("tester/model")
    api = HfApi(endpoint=hub.endpoint, token=WRITE)
    with pytest.raises(ValueError, match="Unable to retrieve user and repo ID"):
        api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id="tester/model")
    assert hub.files("tester/model")["config.json"] == b"{}"
