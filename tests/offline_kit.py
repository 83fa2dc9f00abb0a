"""Helpers of the offline, mirror and doctor tests: a misbehaving HTTP server on 127.0.0.1,
a Hugging Face cache laid out by hand, and manifests written to a catalogue root."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: How a served file is sent: ``ok``; ``truncate`` (half the body, then the connection closes);
#: ``stall`` (half the body, then silence); ``corrupt`` (same length, other bytes);
#: ``slow`` (the body in pieces over about a second).
MODES = ("ok", "truncate", "stall", "corrupt", "slow")


@dataclass
class Server:
    """Files served from 127.0.0.1 with a chosen misbehaviour; ``hits`` counts GETs per path."""

    base: str = ""
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    stall_seconds: float = 5.0

    def add(self, name: str, data: bytes, mode: str = "ok") -> str:
        assert mode in MODES
        self.files["/" + name] = (data, mode)
        return f"{self.base}/{name}"


@contextmanager
def serve() -> Iterator[Server]:
    """Run a :class:`Server` in a thread for the duration of the block."""
    served = Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.hits[self.path] += 1
            if self.path not in served.files:
                self.send_error(404)
                return
            data, mode = served.files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            half = len(data) // 2
            if mode == "truncate":
                self.wfile.write(data[:half])
                self.wfile.flush()
                self.close_connection = True
                return
            if mode == "stall":
                self.wfile.write(data[:half])
                self.wfile.flush()
                time.sleep(served.stall_seconds)
                return
            if mode == "corrupt":
                data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
            if mode == "slow":
                for i in range(10):
                    self.wfile.write(data[i * len(data) // 10 : (i + 1) * len(data) // 10])
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            self.wfile.write(data)

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
