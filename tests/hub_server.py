"""A small stand-in for the Hugging Face Hub, served over real HTTP on 127.0.0.1, for tests.

huggingface_hub 2.x talks through its own HTTP client, so mocking libraries can't intercept it;
instead the tests point ``endpoint=`` (or ``HF_ENDPOINT`` in a subprocess) at this server, and the
library's real download and upload code runs against it. It speaks just enough of the Hub's
protocol for what rnn_demo does:

- downloads (``hf_hub_download``, ``snapshot_download``): ``HEAD``/``GET
  /{org}/{name}/resolve/{revision}/{path}`` with ``X-Repo-Commit``, ``ETag`` and
  ``Content-Length``; ``GET /api/models/{id}[/revision/{rev}]`` and ``/api/models/{id}/tree/{rev}``;
- uploads (``HfApi.create_repo`` + ``upload_folder`` / ``create_commit``): ``POST
  /api/repos/create``, ``/api/validate-yaml``, ``/api/models/{id}/preupload/{rev}`` and
  ``/api/models/{id}/commit/{rev}``; ``GET /api/whoami-v2``.

Errors carry the ``X-Error-Code`` / ``X-Error-Message`` headers huggingface_hub turns into its
exceptions: ``RepoNotFound`` → ``RepositoryNotFoundError``, ``EntryNotFound`` →
``RemoteEntryNotFoundError``, ``RevisionNotFound`` → ``RevisionNotFoundError``; a wrong token →
401 "Invalid credentials in Authorization header" (a plain ``HfHubHTTPError``).

Xet is never used: with ``hf_xet`` installed, huggingface_hub uploads every file the preupload
endpoint calls "lfs" through Xet storage, so this server calls every file "regular", and the
commit then carries the files' bytes inline (base64). Files land in the server's own storage
folder (``server.repos[repo_id]``), so a later download returns them.

Usage::

    with HubServer(token="hf_test") as hub:          # or hub.start() ... hub.stop()
        hub.add_repo("someone/model", checkpoint_dir)
        path = hf_hub_download("someone/model", "config.json", endpoint=hub.url, cache_dir=tmp)

With ``token=None`` every request is accepted; with a token, writes need exactly that bearer
token, and any request carrying a different one gets 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

def git_blob_sha1(data: bytes) -> str:
    """The id git (and the Hub, for non-LFS files) gives a file's content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubServer:
    """An in-process fake Hub: model repos kept as folders, served on a free localhost port."""

    def __init__(self, repos: dict[str, Path] | None = None, token: str | None = None) -> None:
        self.token = token
        self.url = ""
        self.repos: dict[str, Path] = {}  # repo id → the server's own folder holding its files
        self.private: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for assertions
        self._storage = Path(tempfile.mkdtemp(prefix="hub-server-"))
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for repo_id, folder in (repos or {}).items():
            self.add_repo(repo_id, folder)

    # ----- repo storage ----------------------------------------------------------------------

    def add_repo(self, repo_id: str, folder: str | Path | None = None, *, private: bool = False) -> Path:
        """Create ``repo_id`` holding a copy of ``folder``'s files (e.g. a checkpoint); return its storage."""
        with self._lock:
            target = self._storage / repo_id.replace("/", "--")
            shutil.rmtree(target, ignore_errors=True)
            if folder is None:
                target.mkdir(parents=True)
            else:
                shutil.copytree(folder, target)
            self.repos[repo_id] = target
            if private:
                self.private.add(repo_id)
            else:
                self.private.discard(repo_id)
            return target

    def add_file(self, repo_id: str, path_in_repo: str, data: bytes) -> None:
        """Put one file into a repo (created if needed), as a commit would."""
        if repo_id not in self.repos:
            self.add_repo(repo_id)
        with self._lock:
            self._write(repo_id, path_in_repo, data)

    def files(self, repo_id: str) -> dict[str, bytes]:
        """Every file of a repo, by its path in the repo."""
        root = self.repos[repo_id]
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    def commit_sha(self, repo_id: str) -> str:
        """A 40-hex commit id that changes whenever the repo's content does."""
        digest = hashlib.sha1(repo_id.encode())
        for path, data in self.files(repo_id).items():
            digest.update(f"{path}\0{git_blob_sha1(data)}\n".encode())
        return digest.hexdigest()

    def _write(self, repo_id: str, path_in_repo: str, data: bytes) -> None:
        target = self._file(repo_id, path_in_repo)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def _file(self, repo_id: str, path_in_repo: str) -> Path:
        root = self.repos[repo_id].resolve()
        target = (root / path_in_repo).resolve()
        if root not in target.parents:
            raise ValueError(f"path escapes the repo: {path_in_repo!r}")
        return target

    # ----- life cycle ------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on a free port of 127.0.0.1 from a daemon thread; return the endpoint URL."""
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hub-server", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving (the port then refuses connections) and delete the repo storage."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
            self._httpd = None
        shutil.rmtree(self._storage, ignore_errors=True)

    def __enter__(self) -> "HubServer":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class _HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, **body) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.body = status, message, code, headers or {}, body


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    # HTTP/1.0: one request per connection, so once stop() returns nothing answers any more
    # (a kept-alive connection would go on being served by its handler thread).
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args) -> None:  # quiet: tests read hub.requests instead
        pass

    # ----- dispatch --------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self, head: bool = False) -> None:
        url = urlsplit(self.path)
        path, self.query = unquote(url.path), parse_qs(url.query)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.hub.requests.append((self.command, path))
        try:
            self._check_token()
            status, headers, payload = self._route(path, body)
        except _HubError as error:
            status, payload = error.status, json.dumps({"error": error.message, **error.body}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Message": error.message, **error.headers}
            if error.code:
                headers["X-Error-Code"] = error.code
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not head:
            self.wfile.write(payload)

    def _route(self, path: str, body: bytes) -> tuple[int, dict, bytes]:
        parts = path.strip("/").split("/")
        if self.command in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        if parts[:1] != ["api"]:
            raise _HubError(404, f"no such page: {path}")
        if self.command == "GET" and parts[1:] == ["whoami-v2"]:
            if not self._authenticated():
                raise _HubError(401, "Invalid credentials in Authorization header")
            return _json({"type": "user", "name": "test-user", "auth": {"type": "access_token"}})
        if self.command == "POST" and parts[1:] == ["repos", "create"]:
            return self._create_repo(json.loads(body or b"{}"))
        if self.command == "POST" and parts[1:] == ["validate-yaml"]:
            return _json({"errors": [], "warnings": []})
        if len(parts) >= 4 and parts[1] == "models":
            repo_id, action, rest = f"{parts[2]}/{parts[3]}", parts[4:5], parts[5:]
            if self.command == "GET" and (action == [] or action == ["revision"]):
                return self._repo_info(repo_id, rest[0] if rest else "main")
            if self.command == "GET" and action == ["tree"] and rest:
                return self._tree(repo_id, rest[0], "/".join(rest[1:]))
            if self.command == "POST" and action == ["preupload"] and rest:
                return self._preupload(repo_id, rest[0], json.loads(body))
            if self.command == "POST" and action == ["commit"] and rest:
                return self._commit(repo_id, rest[0], body)
        raise _HubError(404, f"this test server does not implement {self.command} {path}")

    # ----- authentication --------------------------------------------------------------------

    def _check_token(self) -> None:
        """A token that is sent must be the right one; writes must send one."""
        expected, sent = self.hub.token, self.headers.get("Authorization")
        if expected is None:
            return
        if sent is not None and sent != f"Bearer {expected}":
            raise _HubError(401, "Invalid credentials in Authorization header")
        if sent is None and self.command == "POST":
            raise _HubError(401, "You must be authenticated to write to the Hub")

    def _authenticated(self) -> bool:
        return self.hub.token is None or self.headers.get("Authorization") == f"Bearer {self.hub.token}"

    # ----- reading ---------------------------------------------------------------------------

    def _repo(self, repo_id: str, revision: str | None = None) -> str:
        """Check the repo is visible (and the revision exists); return the commit sha."""
        if repo_id not in self.hub.repos or (repo_id in self.hub.private and not self._authenticated()):
            raise _HubError(404, "Repository not found", "RepoNotFound")
        sha = self.hub.commit_sha(repo_id)
        if revision is not None and revision not in ("main", sha):
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha

    def _resolve(self, repo_id: str, revision: str, filename: str) -> tuple[int, dict, bytes]:
        sha = self._repo(repo_id, revision)
        try:
            data = self.hub._file(repo_id, filename).read_bytes()
        except (OSError, ValueError):
            raise _HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha}) from None
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{git_blob_sha1(data)}"',
            "Content-Type": "application/octet-stream",
        }
        return 200, headers, data

    def _repo_info(self, repo_id: str, revision: str) -> tuple[int, dict, bytes]:
        sha = self._repo(repo_id, revision)
        siblings = [{"rfilename": path} for path in self.hub.files(repo_id)]
        return _json({"id": repo_id, "modelId": repo_id, "sha": sha, "private": repo_id in self.hub.private, "siblings": siblings})

    def _tree(self, repo_id: str, revision: str, folder: str) -> tuple[int, dict, bytes]:
        self._repo(repo_id, revision)
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        entries, folders = [], set()
        for path, data in self.hub.files(repo_id).items():
            if not path.startswith(prefix):
                continue
            inside = path[len(prefix) :].split("/")
            for depth in range(1, len(inside) if recursive else min(2, len(inside))):
                folders.add(prefix + "/".join(inside[:depth]))
            if recursive or len(inside) == 1:
                entries.append({"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)})
        entries += [{"type": "directory", "path": p, "oid": "0" * 40} for p in sorted(folders)]
        return _json(entries)

    # ----- writing ---------------------------------------------------------------------------

    def _create_repo(self, payload: dict) -> tuple[int, dict, bytes]:
        if payload.get("type", "model") not in (None, "model"):
            raise _HubError(400, "this test server only holds model repos")
        repo_id = f"{payload.get('organization') or 'test-user'}/{payload['name']}"
        if repo_id in self.hub.repos:
            # The real Hub answers a conflict with the repo's URL too; create_repo(exist_ok=True) reads it.
            raise _HubError(409, "You already created this model repo", url=f"{self.hub.url}/{repo_id}")
        self.hub.add_repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        return _json({"url": f"{self.hub.url}/{repo_id}", "name": repo_id, "id": repo_id})

    def _preupload(self, repo_id: str, revision: str, payload: dict) -> tuple[int, dict, bytes]:
        self._repo(repo_id, revision)
        existing = {path: git_blob_sha1(data) for path, data in self.hub.files(repo_id).items()}
        files = [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": existing.get(f["path"])}
            for f in payload["files"]
        ]
        return _json({"files": files, "commitOid": self.hub.commit_sha(repo_id)})

    def _commit(self, repo_id: str, revision: str, body: bytes) -> tuple[int, dict, bytes]:
        self._repo(repo_id, revision)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        with self.hub._lock:
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "file":
                    self.hub._write(repo_id, value["path"], base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    self.hub._file(repo_id, value["path"]).unlink(missing_ok=True)
                elif key == "deletedFolder":
                    shutil.rmtree(self.hub._file(repo_id, value["path"]), ignore_errors=True)
                elif key != "header":
                    raise _HubError(400, f"this test server does not accept {key!r} operations (no LFS)")
        sha = self.hub.commit_sha(repo_id)
        return _json({"commitUrl": f"{self.hub.url}/{repo_id}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None})


def _json(value) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(value).encode()
