"""Is a local file a checkpoint of its declared format? Read from its first bytes, no torch.

``zoo pull --to`` copies a manifest's ``checkpoint.path`` into a shareable mirror only after
this check: ``~/.ssh/id_ed25519`` (or any other text file) named as weights is refused.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from zoo.errors import LoadError

#: A safetensors header larger than this is not believed (the format's own limit is 100 MB).
MAX_HEADER = 100_000_000
#: Suffixes of checkpoint files, by the format their bytes must have.
SUFFIXES = {
    ".safetensors": "safetensors",
    ".onnx": "onnx",
    **dict.fromkeys((".bin", ".pt", ".pth", ".ckpt", ".pkl", ".tar", ".npz"), "pickle"),
}


def _safetensors(head: bytes, size: int, path: Path) -> bool:
    if len(head) < 8:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    if not 2 <= length <= min(MAX_HEADER, size - 8):
        return False
    with path.open("rb") as fh:
        fh.seek(8)
        try:
            return isinstance(json.loads(fh.read(length)), dict)
        except ValueError:
            return False


def _pickle(head: bytes) -> bool:
    """torch.save's zip archive (and numpy's npz), or a bare pickle of protocol 2 to 5."""
    if head.startswith(b"PK\x03\x04"):
        return True
    return len(head) > 1 and head[0] == 0x80 and head[1] in (2, 3, 4, 5)


def _onnx(head: bytes) -> bool:
    """An ONNX ModelProto starts with its field 1 (``ir_version``, a varint): byte 0x08."""
    return head[:1] == b"\x08" and len(head) > 1


def matches(path: Path, fmt: str) -> bool:
    """Whether ``path``'s bytes are a checkpoint of format ``fmt`` (safetensors, pickle, onnx)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(16)
    if fmt == "safetensors":
        return _safetensors(head, size, path)
    if fmt == "onnx":
        return _onnx(head)
    return _pickle(head)


def expected_format(path: Path, declared: str, wrapper: str) -> str:
    """The format a single checkpoint file must have: ONNX for an ONNX model, else the declared
    ``checkpoint.format``, else (``auto``) safetensors by the suffix and a pickle otherwise, as
    the loader reads it."""
    if wrapper == "onnx":
        return "onnx"
    if declared != "auto":
        return declared
    return "safetensors" if path.suffix == ".safetensors" else "pickle"


def check_checkpoint(path: Path, declared: str, wrapper: str, *, what: str) -> None:
    """Refuse a local file (or folder) that is not a checkpoint of its declared format.

    A folder must hold at least one checkpoint file, each checkpoint file of it must match its
    suffix's format, and no file of it may be a PEM or OpenSSH private key.

    Raises:
        LoadError: Names the file and the format it is not.
    """
    if path.is_file():
        fmt = expected_format(path, declared, wrapper)
        if not matches(path, fmt):
            raise LoadError(
                f"{what}: {path} is not a {fmt} checkpoint (its first bytes say otherwise); "
                "refusing to copy it"
            )
        return
    found = 0
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        with file.open("rb") as fh:
            head = fh.read(64)
        if b"PRIVATE KEY-----" in head or head.startswith(b"openssh-key-v1"):
            raise LoadError(f"{what}: {file} is a private key; refusing to copy it")
        kind = SUFFIXES.get(file.suffix)
        if kind is None:
            continue
        if not matches(file, kind):
            raise LoadError(f"{what}: {file} is not a {kind} checkpoint; refusing to copy it")
        found += 1
    if not found:
        raise LoadError(
            f"{what}: the folder {path} holds no checkpoint file "
            f"({', '.join(sorted(SUFFIXES))}); refusing to copy it"
        )
