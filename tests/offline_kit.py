"""Helpers of the offline, mirror and doctor tests: a misbehaving HTTP server on 127.0.0.1,
a Hugging Face cache laid out by hand, and manifests written to a catalogue root."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: How a served file is sent: ``ok`` (honours ``Range``); ``truncate`` (half the body, then the
#: connection closes); ``truncate_once`` (like ``truncate`` the first time, then ``ok``);
#: ``stall`` (half the body, then silence); ``corrupt`` (same length, other bytes);
#: ``slow`` (the body in pieces over about a second); ``busy`` (HTTP 503 every time).
MODES = ("ok", "truncate", "truncate_once", "stall", "corrupt", "slow", "busy")


@dataclass
class Server:
    """Files served from 127.0.0.1 with a chosen misbehaviour; ``hits`` counts GETs per path."""

    base: str = ""
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    stall_seconds: float = 5.0
    #: (path, headers) of every request, in order.
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    #: Bytes of body sent per path.
    sent: Counter[str] = field(default_factory=Counter)
    #: Extra handlers by path prefix: ``fn(handler) -> bool`` (True: answered).
    routes: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, data: bytes, mode: str = "ok") -> str:
        assert mode in MODES
        self.files["/" + name] = (data, mode)
        return f"{self.base}/{name}"


@contextmanager
def serve() -> Iterator[Server]:
    """Run a :class:`Server` in a thread for the duration of the block."""
    served = Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            served.hits[self.path] += 1
            served.requests.append((self.path, dict(self.headers.items())))
            for prefix, route in served.routes.items():
                if self.path.startswith(prefix) and route(self):
                    return
            if self.path not in served.files:
                self.send_error(404)
                return
            data, mode = served.files[self.path]
            if mode == "busy":
                self.send_error(503)
                return
            if mode == "truncate_once" and served.hits[self.path] > 1:
                mode = "ok"
            start = 0
            wanted = self.headers.get("Range", "")
            if mode == "ok" and wanted.startswith("bytes=") and wanted.endswith("-"):
                start = int(wanted[6:-1])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("ETag", f'"{sha(data)}"')
            self.end_headers()
            body = data[start:]
            half = len(body) // 2
            if mode in ("truncate", "truncate_once"):
                self.wfile.write(body[:half])
                served.sent[self.path] += half
                self.wfile.flush()
                self.close_connection = True
                return
            if mode == "stall":
                self.wfile.write(body[:half])
                self.wfile.flush()
                time.sleep(served.stall_seconds)
                return
            if mode == "corrupt":
                body = bytes(b ^ 0xFF for b in body[:16]) + body[16:]
            if mode == "slow":
                for i in range(10):
                    self.wfile.write(body[i * len(body) // 10 : (i + 1) * len(body) // 10])
                    self.wfile.flush()
                    time.sleep(0.1)
                served.sent[self.path] += len(body)
                return
            self.wfile.write(body)
            served.sent[self.path] += len(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safetensors_bytes(note: str) -> bytes:
    """A well-formed safetensors file without tensors (its metadata says ``note``), no torch."""
    header = json.dumps({"__metadata__": {"note": note}}).encode()
    return struct.pack("<Q", len(header)) + header


def hf_add(
    root: Path, repo: str, files: dict[str, bytes], *, commit: str, ref: str | None = "main"
) -> Path:
    """Put files in a Hugging Face cache as ``hf download`` leaves them; returns the snapshot folder."""
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot = repo_dir / "snapshots" / commit
    for name, data in files.items():
        blob = repo_dir / "blobs" / sha(data)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(*[".."] * (len(Path(name).parts) + 1)) / "blobs" / blob.name)
    if ref is not None:
        (repo_dir / "refs").mkdir(exist_ok=True)
        (repo_dir / "refs" / ref).write_text(commit)
    return snapshot


TINY_TIMM: dict[str, Any] = {
    "depth": 2,
    "embed_dim": 32,
    "num_heads": 2,
    "img_size": 32,
    "patch_size": 8,
}


def manifest(
    name: str = "testing/tiny", checkpoint: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """A tiny timm ViT manifest (builds without downloads) with the given checkpoint."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "description": "A tiny ViT made by the offline tests.",
        "license": {"id": "Apache-2.0", "commercial": True},
        "wrapper": {"type": "timm", "architecture": "vit_tiny_patch16_224", "kwargs": TINY_TIMM},
        "input": {"size": [32, 32], "mean": [0.5] * 3, "std": [0.5] * 3},
        "output": {
            "embedding_dim": 32,
            "pooling": "cls",
            "prefix_tokens": 1,
            "patch_size": 8,
            "feature_levels": 2,
            "feature_dim": 32,
        },
    }
    if checkpoint is not None:
        data["checkpoint"] = checkpoint
    data.update(extra)
    return data


def write(root: Path, data: dict[str, Any]) -> Path:
    """Write a manifest as ``<root>/<group>/<name>.yaml``."""
    group, _, stem = data["name"].partition("/")
    path = root / group / f"{stem}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def tiny_weights(seed: int = 0) -> tuple[Any, bytes]:
    """A tiny timm ViT (eval mode) and its weights as safetensors bytes (imports torch)."""
    import timm
    import torch
    from safetensors.torch import save

    torch.manual_seed(seed)
    model = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=0, **TINY_TIMM
    ).eval()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    return model, save(state)


# -- the weights layer, called as the loaders call it ----------------------------------------------


def context(name: str = "testing/x") -> Any:
    """The message context a manifest's source passes to :mod:`zoo.weights.locations`."""
    from zoo.weights.locations import Context
    from zoo.weights.sources import manifests_declaring

    return Context(
        name, "checkpoint.url", "a test file", f"{name} (in memory)", manifests_declaring
    )


def url_file(url: str, sha256: str | None = None, name: str = "testing/x") -> Path:
    """A URL's file through the real lookup (mirror, zoo's cache, network)."""
    from zoo.weights.locations import url_file as fetch_url

    return fetch_url(url, sha256, context(name))


def hf_path(loc: Any, name: str = "testing/x", patterns: list[str] | None = None) -> Path:
    """A Hub file or repository snapshot through the real lookup (mirror, HF cache, Hub)."""
    from zoo.weights.locations import hf_file, hf_repo

    if loc.filename:
        return hf_file(loc, None, context(name))
    return hf_repo(loc, patterns or ["*.json", "*.safetensors", "*.txt"], context(name))


def fetch(manifest: Any) -> Path:
    """A manifest's checkpoint, fetched and verified by its weights source."""
    from zoo.weights.sources import source_of

    source = source_of(manifest)
    assert source is not None
    return source.fetch()


# -- endpoints that misbehave at the socket level ---------------------------------------------------


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """A host that accepts connections and never answers: a listening socket nobody reads.

    The kernel completes the TCP handshake from the listen backlog, so clients connect and
    send their request, then wait for an answer that never comes (a black-holed service).
    """
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


# -- a Hugging Face Hub on 127.0.0.1 ---------------------------------------------------------------


def git_sha1(data: bytes) -> str:
    """The git object id of a blob (the Hub's ETag of a small, non-LFS file)."""
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


@dataclass
class Hub:
    """A Hub's two endpoints zoo uses: ``/api/models/<repo>/revision/<rev>`` (the commit and
    file list) and ``/<repo>/resolve/<rev>/<file>`` (LFS files redirect to ``/cdn/<sha256>``
    with ``X-Linked-Etag``; small files answer directly with their git object id as ETag).

    ``token``: when set, repositories in ``gated`` answer 401 unless it is sent as a bearer token.
    """

    server: Server
    repos: dict[str, tuple[str, dict[str, bytes]]] = field(default_factory=dict)
    gated: set[str] = field(default_factory=set)
    token: str | None = None
    lie_about: set[str] = field(default_factory=set)
    """Files whose ETag names other content (a Hub or proxy serving bad bytes)."""

    @property
    def endpoint(self) -> str:
        return self.server.base

    def add(self, repo: str, files: dict[str, bytes], commit: str) -> None:
        self.repos[repo] = (commit, files)
        for data in files.values():
            self.server.files[f"/cdn/{sha(data)}"] = (data, "ok")


@contextmanager
def hub_server() -> Iterator[Hub]:
    """A :class:`Hub` on a :class:`Server`; set ``HF_ENDPOINT`` to ``hub.endpoint``."""
    import json as _json
    import re

    with serve() as served:
        hub = Hub(served)

        def refuse(handler: Any, repo: str) -> bool:
            if repo in hub.gated and handler.headers.get("Authorization") != f"Bearer {hub.token}":
                handler.send_response(401)
                handler.send_header("X-Error-Code", "GatedRepo")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return True
            if repo not in hub.repos:
                handler.send_error(404)
                return True
            return False

        def api(handler: Any) -> bool:
            found = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/([^/]+)", handler.path)
            if not found or refuse(handler, found[1]):
                return found is not None
            commit, files = hub.repos[found[1]]
            if found[2] not in ("main", commit):
                handler.send_error(404)
                return True
            body = _json.dumps({"sha": commit, "siblings": [{"rfilename": n} for n in files]})
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body.encode())
            return True

        def resolve(handler: Any) -> bool:
            found = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", handler.path)
            if not found or found[1] == "api/models":
                return False
            if refuse(handler, found[1]):
                return True
            commit, files = hub.repos[found[1]]
            name = found[3]
            if found[2] not in ("main", commit) or name not in files:
                handler.send_error(404)
                return True
            data = files[name]
            lfs = name.endswith((".safetensors", ".bin", ".onnx", ".data", ".pth"))
            tag = sha(data) if lfs else git_sha1(data)
            if name in hub.lie_about:
                tag = sha(data + b"other") if lfs else git_sha1(data + b"other")
            if lfs:
                handler.send_response(302)
                handler.send_header("Location", f"{hub.endpoint}/cdn/{sha(data)}")
                handler.send_header("X-Linked-Etag", f'"{tag}"')
                handler.send_header("X-Linked-Size", str(len(data)))
                handler.send_header("X-Repo-Commit", commit)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return True
            handler.send_response(200)
            handler.send_header("ETag", f'"{tag}"')
            handler.send_header("X-Repo-Commit", commit)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return True

        served.routes["/api/models/"] = api
        served.routes["/"] = resolve
        yield hub


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small file system mounted at ``folder`` (tmpfs with ``options``, e.g. ``size=96k`` or
    ``ro,size=64k``), unmounted afterwards; skips the test where it cannot be mounted (not root)."""
    import subprocess

    import pytest

    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
