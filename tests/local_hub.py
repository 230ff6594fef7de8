"""A small local stand-in for the Hugging Face Hub HTTP API, for tests (standard library only).

It answers the requests huggingface_hub 0.36 makes for downloads, repo info, tree listings, whoami,
create_repo and commits (preupload, LFS batch + PUT, NDJSON commit), with the headers and
`X-Error-Code` values the client turns into its usual exceptions. Bytes are real and kept on disk:
`root/blobs/<sha256>` holds contents, `root/repos/<type>/<namespace>/<name>.json` holds each repo's
privacy, LFS objects and every commit's file list, so any past commit sha still resolves.

    with LocalHub(tokens={"hf_w": "tester", "hf_r": ("tester", "read")}, orgs={"tester": ["lab"]}) as hub:
        hub.add_file("lab/model", "config.json", b"{}")
        hf_hub_download("lab/model", "config.json", endpoint=hub.endpoint)

Simplified: one branch (main), listings in one page, no pull requests, gated repos, Xet or multipart
LFS, and README metadata is not validated. Any request it does not implement is logged, recorded in
`hub.unhandled` and answered 404 without an X-Error-Code.
"""

import base64
import contextlib
import fnmatch
import hashlib
import hmac
import json
import logging
import re
import secrets
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

log = logging.getLogger("local_hub")

# What the Hub stores with LFS: the brief's simplified rule (the real Hub reads the repo's .gitattributes
# and uses a 10 MB limit); the same patterns go into each new repo's .gitattributes.
LFS_PATTERNS = ("*.safetensors", "*.png", "*.jpg", "*.bin", "*.h5", "*.keras", "*.npz", "*.pt", "*.onnx", "*.zip")
LFS_MIN_SIZE = 1024 * 1024
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS).encode()
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
SHA256 = re.compile(r"[0-9a-f]{64}")


def uses_lfs(path: str, size: int) -> bool:
    return size > LFS_MIN_SIZE or any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in LFS_PATTERNS)


def git_oid(data: bytes) -> str:
    """The git blob id: what the Hub sends as ETag for a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


class HubError(Exception):
    """An error answer: huggingface_hub picks its exception from `X-Error-Code` (utils/_http.py)."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def _json(obj, status: int = 200, content_type: str = "application/json"):
    return status, {"Content-Type": content_type}, json.dumps(obj).encode()


def _parse_json(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise HubError(400, "Request body is not a JSON object")
    return value


class LocalHub:
    def __init__(self, root: str | Path | None = None, *, tokens: dict | None = None, orgs: dict | None = None):
        """`tokens` maps a token to a user name, or to (user, role) with role "write" (default) or "read";
        `orgs` maps a user name to the organizations they belong to."""
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="local-hub-")
        self.root = Path(root or self._tmp.name)
        self.tokens = {t: (u, "write") if isinstance(u, str) else tuple(u) for t, u in (tokens or {}).items()}
        self.orgs = {user: list(names) for user, names in (orgs or {}).items()}
        self.requests: list[tuple[str, str]] = []  # every (method, path) received, to count round trips
        self.unhandled: list[tuple[str, str]] = []  # requests this stand-in does not implement
        # (repo_type, repo_id, path_in_repo) of every file whose bytes were sent, directly or through the CDN
        # link: LFS bytes are never GET from /resolve/, the client fetches the redirect target instead.
        self.served: list[tuple[str, str, str]] = []
        self._lock = threading.RLock()
        self._pending: dict[tuple[str, str], int] = {}  # (repo key, oid) -> size announced to the LFS batch API
        self._secret = secrets.token_bytes(16)  # signs the "CDN" links of LFS files, like presigned URLs
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"hub": self}))
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="local-hub", daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        if self._tmp:
            self._tmp.cleanup()

    # ---- helpers for tests (no HTTP, no auth) ----

    def add_repo(self, repo_id: str, repo_type: str = "model", private: bool = False) -> str:
        """Create a repo like the Hub does (an initial commit holding .gitattributes); returns its head sha."""
        with self._lock:
            if self._load(repo_type, repo_id) is None:
                state = {"private": private, "created": _now(), "head": None, "commits": {}, "lfs_oids": []}
                self._commit(
                    repo_type, repo_id, state, {".gitattributes": self._store(GITATTRIBUTES, False)}, "initial commit"
                )
            return self.head(repo_id, repo_type)

    def add_file(self, repo_id: str, path_in_repo: str, data: bytes, repo_type: str = "model") -> str:
        return self.add_files(repo_id, {path_in_repo: data}, repo_type)

    def add_folder(self, repo_id: str, folder: str | Path, repo_type: str = "model") -> str:
        folder = Path(folder)
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        return self.add_files(repo_id, files, repo_type)

    def add_files(self, repo_id: str, files: dict[str, bytes], repo_type: str = "model") -> str:
        """Commit `files` (path -> bytes) to main, creating a public repo if needed; returns the new commit sha."""
        with self._lock:
            self.add_repo(repo_id, repo_type)
            state = self._load(repo_type, repo_id)
            tree = dict(state["commits"][state["head"]]["files"])
            for path, data in files.items():
                tree[path] = self._store(data, uses_lfs(path, len(data)))
                if tree[path]["lfs"] and tree[path]["sha256"] not in state["lfs_oids"]:
                    state["lfs_oids"].append(tree[path]["sha256"])
            return self._commit(repo_type, repo_id, state, tree, f"add {len(files)} file(s)")

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        """Every file of the repo at `revision` (main or a commit sha), as stored."""
        _, tree = _resolve_revision(self._existing(repo_type, repo_id), revision)
        return {path: self._blob(entry["sha256"]) for path, entry in sorted(tree.items())}

    def head(self, repo_id: str, repo_type: str = "model") -> str:
        """The commit sha main points to."""
        return self._existing(repo_type, repo_id)["head"]

    def is_private(self, repo_id: str, repo_type: str = "model") -> bool:
        return self._existing(repo_type, repo_id)["private"]

    @contextlib.contextmanager
    def patch_hf_client(self):
        """Point an already imported huggingface_hub here, as HF_ENDPOINT would have at import time, and leave
        offline mode. HF_ENDPOINT is copied at import into constants, the URL template and the module-level
        HfApi behind `huggingface_hub.list_repo_tree` & co (which transformers uses). Needed for commits even
        with `endpoint=`: CommitInfo parses `commitUrl` against `constants.ENDPOINT`. Sessions are reset on
        both sides: each thread's is cached with or without the offline adapter chosen when it was made."""
        from huggingface_hub import constants, file_download, hf_api
        from huggingface_hub.utils import reset_sessions

        template = self.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        patches = [
            (constants, "ENDPOINT", self.endpoint),
            (constants, "HF_HUB_OFFLINE", False),
            (constants, "HUGGINGFACE_CO_URL_TEMPLATE", template),
            (file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template),
            (hf_api.api, "endpoint", self.endpoint),
        ]
        saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
        for module, name, value in patches:
            setattr(module, name, value)
        reset_sessions()
        try:
            yield self
        finally:
            for module, name, value in saved:
                setattr(module, name, value)
            reset_sessions()

    # ---- storage ----

    def _repo_file(self, repo_type: str, repo_id: str) -> Path:
        return self.root / "repos" / repo_type / f"{repo_id}.json"

    def _load(self, repo_type: str, repo_id: str) -> dict | None:
        path = self._repo_file(repo_type, repo_id)
        with self._lock:
            return json.loads(path.read_text()) if path.is_file() else None

    def _existing(self, repo_type: str, repo_id: str) -> dict:
        state = self._load(repo_type, repo_id)
        if state is None:
            raise KeyError(f"LocalHub has no {repo_type} repo {repo_id}")
        return state

    def _save(self, repo_type: str, repo_id: str, state: dict):
        path = self._repo_file(repo_type, repo_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=1))

    def _store(self, data: bytes, lfs: bool) -> dict:
        """Write bytes to the content store; returns the file entry a commit's tree holds."""
        sha256 = hashlib.sha256(data).hexdigest()
        blob = self.root / "blobs" / sha256
        if not blob.exists():  # written aside then renamed: a concurrent reader never sees half a file
            blob.parent.mkdir(parents=True, exist_ok=True)
            partial = blob.with_name(f"{sha256}.{secrets.token_hex(4)}.partial")
            partial.write_bytes(data)
            partial.replace(blob)
        oid = git_oid(lfs_pointer(sha256, len(data)) if lfs else data)  # git stores the pointer of an LFS file
        return {"sha256": sha256, "size": len(data), "lfs": lfs, "oid": oid}

    def _blob(self, sha256: str) -> bytes:
        return (self.root / "blobs" / sha256).read_bytes()

    def _commit(self, repo_type, repo_id, state, tree, summary) -> str:
        parent = state["head"]
        sha = hashlib.sha1(f"{parent}\n{summary}\n{json.dumps(tree)}\n{secrets.token_hex(8)}".encode()).hexdigest()
        state["commits"][sha] = {"parent": parent, "summary": summary, "date": _now(), "files": tree}
        state["head"] = sha
        self._save(repo_type, repo_id, state)
        return sha

    def _sign(self, link: str) -> str:
        return hmac.new(self._secret, link.encode(), "sha256").hexdigest()

    # ---- auth ----

    def _user(self, headers) -> tuple[str, str] | None:
        auth = headers.get("Authorization")
        if not auth:
            return None
        user = self.tokens.get(auth.removeprefix("Bearer ").strip())
        if user is None:  # the exact message the client uses to tell a bad token from a hidden repo
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _namespaces(self, user) -> set[str]:
        return {user[0], *self.orgs.get(user[0], [])} if user else set()

    def _repo(self, repo_type: str, repo_id: str, user, write: bool = False) -> dict:
        """The repo's state, or the Hub's answer: hidden repos look missing (401 anonymous, 404 signed in)."""
        state = self._load(repo_type, repo_id)
        namespace = repo_id.split("/")[0]
        if state is None or (state["private"] and namespace not in self._namespaces(user)):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        if write and (user is None or user[1] != "write" or namespace not in self._namespaces(user)):
            raise HubError(403 if user else 401, f"You don't have the rights to write to {repo_id}")
        return state

    # ---- routing ----

    def _route(self, method: str, path: str, query: dict, headers, body: bytes):
        segs = [unquote(s) for s in path.strip("/").split("/")]  # tree paths come as one %2F-quoted segment
        user = self._user(headers)
        if segs[0] == "api":
            if method == "GET" and segs[1:] == ["whoami-v2"]:
                return self._whoami(user)
            if method == "POST" and segs[1:] == ["repos", "create"]:
                return self._create_repo(user, _parse_json(body))
            if method == "POST" and segs[1:] == ["validate-yaml"]:
                return _json({"errors": [], "warnings": []})  # called for README.md; metadata is not checked
            if len(segs) >= 4 and segs[1] in API_TYPES and "create_pr" not in query:
                repo_type, repo_id, action, rest = API_TYPES[segs[1]], f"{segs[2]}/{segs[3]}", segs[4:5], segs[5:]
                if method == "GET" and (not action or (action == ["revision"] and len(rest) == 1)):
                    return self._info(repo_type, repo_id, user, rest[0] if rest else "main", query)
                if method == "GET" and action == ["tree"] and rest:
                    return self._tree(repo_type, repo_id, user, rest[0], "/".join(rest[1:]), query)
                if method == "POST" and action == ["preupload"] and len(rest) == 1:
                    return self._preupload(repo_type, repo_id, user, rest[0], _parse_json(body))
                if method == "POST" and action == ["commit"] and len(rest) == 1:
                    return self._create_commit(repo_type, repo_id, user, rest[0], body)
        elif segs[0] == "_cdn" and len(segs) == 2 and method in ("GET", "HEAD"):
            return self._cdn(method, segs[1], query, headers)
        elif segs[0] == "_lfs" and len(segs) == 5 and method == "PUT":
            return self._lfs_put(segs[1], f"{segs[2]}/{segs[3]}", segs[4], body)
        else:
            repo_type = {"datasets": "dataset", "spaces": "space"}.get(segs[0], "model")
            rest = segs if repo_type == "model" else segs[1:]
            if len(rest) >= 5 and rest[2] == "resolve" and method in ("GET", "HEAD"):
                repo_id, revision, filename = f"{rest[0]}/{rest[1]}", rest[3], "/".join(rest[4:])
                return self._resolve(method, repo_type, repo_id, user, revision, filename, headers)
            if len(rest) == 6 and rest[1].endswith(".git") and rest[2:5] == ["info", "lfs", "objects"]:
                repo_id = f"{rest[0]}/{rest[1].removesuffix('.git')}"
                if method == "POST" and rest[5] == "batch":
                    return self._lfs_batch(repo_type, repo_id, user, _parse_json(body))
                if method == "POST" and rest[5] == "verify":
                    return self._lfs_verify(repo_type, repo_id, user, _parse_json(body))
        self.unhandled.append((method, path))
        log.warning("LocalHub does not implement %s %s", method, path)
        raise HubError(404, f"LocalHub does not implement {method} {path}")

    # ---- reads ----

    def _whoami(self, user):
        if user is None:
            raise HubError(401, "Invalid username or password.")
        name, role = user
        return _json(
            {
                "type": "user",
                "name": name,
                "fullname": name,
                "orgs": [{"type": "org", "name": org} for org in self.orgs.get(name, [])],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": role}},
            }
        )

    def _resolve(self, method, repo_type, repo_id, user, revision, filename, headers):
        sha, tree = _resolve_revision(self._repo(repo_type, repo_id, user), revision)
        entry = tree.get(filename)
        # X-Repo-Commit even on a miss: the client caches the file's absence under that commit.
        if entry is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        found = {"X-Repo-Commit": sha, "ETag": f'"{entry["oid"]}"'}
        if entry["lfs"]:  # like the Hub: redirect to a signed "CDN" link, naming the real bytes in X-Linked-*
            link = f"{entry['sha256']}?{urlencode({'repo': f'{repo_type}/{repo_id}', 'file': filename})}"
            location = f"{self.endpoint}/_cdn/{link}&sig={self._sign(link)}"
            found.update({"Location": location, "X-Linked-Etag": f'"{entry["sha256"]}"'})
            return 302, {**found, "X-Linked-Size": str(entry["size"])}, b""
        if method == "GET":
            self.served.append((repo_type, repo_id, filename))
        return _ranged(self._blob(entry["sha256"]), found, headers.get("Range"))

    def _cdn(self, method, sha256, query, headers):
        """The redirect target of an LFS file: like a presigned URL, it names repo and file and needs no token."""
        repo, file = query.get("repo", [""])[0], query.get("file", [""])[0]
        link = f"{sha256}?{urlencode({'repo': repo, 'file': file})}"
        if not hmac.compare_digest(query.get("sig", [""])[0], self._sign(link)):
            raise HubError(403, "Bad signature")
        if method == "GET":
            self.served.append((*repo.split("/", 1), file))
        return _ranged(self._blob(sha256), {"ETag": f'"{sha256}"'}, headers.get("Range"))

    def _info(self, repo_type, repo_id, user, revision, query):
        state = self._repo(repo_type, repo_id, user)
        sha, tree = _resolve_revision(state, revision)
        blobs = query.get("blobs", ["false"])[0].lower() == "true"  # files_metadata=True asks for sizes
        siblings = [
            {"rfilename": path, **({"blobId": entry["oid"], **_blob_info(entry, "sha256")} if blobs else {})}
            for path, entry in sorted(tree.items())
        ]
        return _json(
            {
                "id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": sha,
                "private": state["private"],
                "gated": False,
                "disabled": False,
                "lastModified": state["commits"][sha]["date"],
                "createdAt": state["created"],
                "tags": [],
                "siblings": siblings,
            }
        )

    def _tree(self, repo_type, repo_id, user, revision, folder, query):
        sha, tree = _resolve_revision(self._repo(repo_type, repo_id, user), revision)
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        folder = folder.strip("/")
        entries, seen = [], set()
        for path, entry in sorted(tree.items()):
            if folder and not path.startswith(folder + "/"):
                continue
            parts = path.split("/")
            depth = folder.count("/") + 1 if folder else 0
            for i in range(depth + 1, len(parts) if recursive else min(depth + 2, len(parts))):
                sub = "/".join(parts[:i])
                if sub not in seen:  # a stable stand-in for the git tree id, not a real one
                    seen.add(sub)
                    entries.append(
                        {
                            "type": "directory",
                            "oid": hashlib.sha1(f"{sha}:{sub}".encode()).hexdigest(),
                            "size": 0,
                            "path": sub,
                        }
                    )
            if recursive or len(parts) == depth + 1:
                entries.append({"type": "file", "oid": entry["oid"], "path": path, **_blob_info(entry, "oid")})
        if folder and not entries:  # the Hub's answer for a missing folder; transformers relies on it
            raise HubError(404, f"Entry not found: {folder}", "EntryNotFound", {"X-Repo-Commit": sha})
        return _json(entries)

    # ---- writes ----

    def _create_repo(self, user, body):
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        repo_type, namespace = body.get("type") or "model", body.get("organization") or user[0]
        if user[1] != "write" or namespace not in self._namespaces(user):
            raise HubError(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{namespace}"')
        if not re.fullmatch(r"[\w.-]+", str(body.get("name"))):
            raise HubError(400, f"Invalid repo name: {body.get('name')!r}")
        repo_id = f"{namespace}/{body['name']}"
        url = f"{self.endpoint}/{URL_PREFIX[repo_type]}{repo_id}"
        with self._lock:
            if self._load(repo_type, repo_id) is not None:  # the client reads "url" even from this 409
                return _json({"error": f"You already created this {repo_type} repo", "url": url}, status=409)
            self.add_repo(repo_id, repo_type, private=bool(body.get("private")))
        return _json({"url": url, "name": repo_id})

    def _preupload(self, repo_type, repo_id, user, revision, body):
        _, tree = _resolve_revision(self._repo(repo_type, repo_id, user, write=True), revision)
        answers = []
        for file in body.get("files", []):
            mode = "lfs" if uses_lfs(file["path"], file["size"]) else "regular"
            entry = tree.get(file["path"])
            # "oid" lets the client skip unchanged files: it compares sha256 for LFS, the git blob id otherwise.
            remote = entry and (entry["sha256"] if mode == "lfs" else git_oid(self._blob(entry["sha256"])))
            answers.append({"path": file["path"], "uploadMode": mode, "shouldIgnore": False, "oid": remote or None})
        return _json({"files": answers})

    def _lfs_batch(self, repo_type, repo_id, user, body):
        state = self._repo(repo_type, repo_id, user, write=True)
        if body.get("operation") != "upload" or "basic" not in body.get("transfers", ["basic"]):
            raise HubError(400, "LocalHub only accepts LFS uploads with the basic transfer")
        objects = []
        for obj in body.get("objects", []):
            oid, size = str(obj.get("oid")), obj.get("size")
            if not SHA256.fullmatch(oid) or not isinstance(size, int) or size < 0:
                objects.append({"oid": oid, "size": int(size or 0), "error": {"code": 422, "message": "Invalid oid"}})
            elif oid in state["lfs_oids"]:
                objects.append({"oid": oid, "size": size})  # no "actions": the client skips the upload
            else:
                self._pending[(f"{repo_type}/{repo_id}", oid)] = size
                verify = f"{self.endpoint}/{URL_PREFIX[repo_type]}{repo_id}.git/info/lfs/objects/verify"
                objects.append(
                    {
                        "oid": oid,
                        "size": size,
                        "authenticated": True,
                        "actions": {
                            "upload": {"href": f"{self.endpoint}/_lfs/{repo_type}/{repo_id}/{oid}"},
                            "verify": {"href": verify},
                        },
                    }
                )
        # "transfer": "basic" keeps the client off Xet even when hf_xet is installed.
        return _json({"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, repo_type, repo_id, oid, body):
        # The client PUTs without auth headers (as to a presigned S3 URL): only announced objects are accepted.
        size = self._pending.get((f"{repo_type}/{repo_id}", oid))
        if size is None:
            raise HubError(403, "No upload of this object was announced to the LFS batch API")
        if len(body) != size or hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"Uploaded bytes do not match oid {oid} and size {size}")
        self._store(body, True)
        with self._lock:
            state = self._load(repo_type, repo_id)
            if oid not in state["lfs_oids"]:
                state["lfs_oids"].append(oid)
            self._save(repo_type, repo_id, state)
            self._pending.pop((f"{repo_type}/{repo_id}", oid), None)
        return 200, {}, b""

    def _lfs_verify(self, repo_type, repo_id, user, body):
        state = self._repo(repo_type, repo_id, user, write=True)
        oid = str(body.get("oid"))
        if oid not in state["lfs_oids"] or len(self._blob(oid)) != body.get("size"):
            raise HubError(404, f"LFS object {oid} not found")
        return _json({"success": True})

    def _create_commit(self, repo_type, repo_id, user, revision, body):
        with self._lock:
            state = self._repo(repo_type, repo_id, user, write=True)
            if revision != "main":
                raise HubError(404, f"LocalHub commits to main only, not {revision!r}", "RevisionNotFound")
            try:
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            except ValueError:
                raise HubError(400, "Commit body is not NDJSON") from None
            if not lines or lines[0].get("key") != "header":
                raise HubError(400, "A commit starts with a header line")
            header = lines[0]["value"]
            if header.get("parentCommit") and not state["head"].startswith(header["parentCommit"]):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(state["commits"][state["head"]]["files"])
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                path = _check_path(value.get("path", ""))
                if key == "file":
                    data = base64.b64decode(value["content"])
                    if data and uses_lfs(path, len(data)):  # the client sends empty files as regular
                        raise HubError(400, f"{path} must be uploaded with LFS (preupload said so)")
                    tree[path] = self._store(data, False)
                elif key == "lfsFile":
                    if value.get("oid") not in state["lfs_oids"]:
                        raise HubError(400, f"{path}: LFS object {value.get('oid')} was never uploaded")
                    tree[path] = self._store(self._blob(value["oid"]), True)
                elif key == "deletedFile":
                    if tree.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    doomed = [p for p in tree if p.startswith(path.rstrip("/") + "/")]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in doomed:
                        del tree[p]
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}")
            sha = self._commit(repo_type, repo_id, state, tree, header.get("summary", ""))
        url = f"{self.endpoint}/{URL_PREFIX[repo_type]}{repo_id}/commit/{sha}"
        return _json({"success": True, "commitOid": sha, "commitUrl": url, "hookOutput": ""})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _resolve_revision(state: dict, revision: str) -> tuple[str, dict]:
    sha = state["head"] if revision == "main" else revision
    if sha not in state["commits"]:
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
    return sha, state["commits"][sha]["files"]


def _blob_info(entry: dict, lfs_key: str) -> dict:
    """Size, git id and LFS details of a file: tree listings name the sha256 "oid", repo info "sha256"."""
    info = {"size": entry["size"]}
    if entry["lfs"]:
        pointer_size = len(lfs_pointer(entry["sha256"], entry["size"]))
        info["lfs"] = {lfs_key: entry["sha256"], "size": entry["size"], "pointerSize": pointer_size}
    return info


def _check_path(path: str) -> str:
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


def _ranged(data: bytes, headers: dict, range_header: str | None):
    """Serve bytes, honouring a single `bytes=a-b` or `bytes=a-` range (the client resumes with one)."""
    headers = {**headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", (range_header or "").strip())
    if not match:  # no range, or a form this stand-in ignores: a server may always answer the whole body
        return 200, headers, data
    start, end = int(match[1]), min(int(match[2] or len(data) - 1), len(data) - 1)
    if start >= len(data) or end < start:
        raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
    return 206, {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}, data[start : end + 1]


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub  # set by LocalHub on a subclass

    def _dispatch(self):
        method, url = self.command, urlsplit(self.path)
        self.hub.requests.append((method, url.path))
        try:
            status, headers, payload = self.hub._route(
                method, url.path, parse_qs(url.query), self.headers, self._read_body()
            )
        except HubError as error:
            status, payload = error.status, json.dumps({"error": error.message}).encode()
            # Headers are latin-1 and one line: keep a message built from a request path printable.
            message = re.sub(r"[^\x20-\x7e]", "?", error.message)
            headers = {**error.headers, "Content-Type": "application/json", "X-Error-Message": message}
            if error.code:
                headers["X-Error-Code"] = error.code
        except Exception as error:  # a bug here: say so loudly (note the client retries 5xx a few times)
            log.exception("LocalHub failed on %s %s", method, self.path)
            status, headers, payload = 500, {"Content-Type": "text/plain"}, f"LocalHub error: {error!r}".encode()
        self.send_response(status)
        for name, value in {"Content-Length": str(len(payload)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format, *args):
        log.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))
