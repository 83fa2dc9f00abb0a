"""File integrity: streamed sha256 and cheap re-verification.

Each verified file has a record in ``<ZOO_HOME>/verified`` (size, mtime, sha256); while
size and mtime are unchanged the hash is not recomputed. Nothing is written next to the
weights, in the Hugging Face cache or in a mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from zoo import constants
from zoo.errors import IntegrityError

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def state_file(kind: str, key: str, suffix: str) -> Path:
    """A file of zoo's own bookkeeping (``<ZOO_HOME>/<kind>/``), never next to the weights."""
    return constants.zoo_home() / kind / (hashlib.sha256(key.encode()).hexdigest()[:32] + suffix)


def _record_file(real: Path) -> Path:
    return state_file("verified", str(real), ".json")


def _read_record(real: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(_record_file(real).read_text())
        if isinstance(record, dict) and record.get("path") == str(real):
            return record
    return None


def write_record(real: Path, sha256: str) -> None:
    """Remember that ``real`` (as it is now: size and mtime) has this sha256."""
    stat = real.stat()
    record = {
        "path": str(real),
        "sha256": sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }
    file = _record_file(real)
    with contextlib.suppress(OSError):  # a read-only ZOO_HOME only costs a re-hash next time
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(file)


def verify(
    path: Path, expected: str | None = None, *, remove_bad: bool = False, fix: str = ""
) -> str | None:
    """Check a file's sha256, cheaply when it was verified before and is unchanged.

    Each verified file has a record (in ``<ZOO_HOME>/verified``) of its size,
    mtime and hash; while size and mtime match, the hash is not recomputed.
    Without ``expected`` the file is compared with its record, if it has one
    (a download records the hash of what arrived), so a cached file that was
    truncated or overwritten is caught even when the manifest gives no sha256.

    Returns:
        The file's sha256, or ``None`` when there was nothing to compare with.

    Raises:
        IntegrityError: The content differs (the file is removed when ``remove_bad``).
    """
    real = path.resolve()
    stat = real.stat()
    record = _read_record(real)
    if expected is None:
        if record is None:
            return None
        expected = str(record["sha256"])
    if (
        record is not None
        and record.get("sha256") == expected
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    ):
        return expected
    actual = sha256_of(real)
    if actual != expected:
        if remove_bad:
            path.unlink(missing_ok=True)
            _record_file(real).unlink(missing_ok=True)
        size = "" if record is None else f" (size {stat.st_size}, recorded {record.get('size')})"
        raise IntegrityError(str(path) + size, expected, actual, removed=remove_bad, fix=fix)
    write_record(real, actual)
    return actual


def file_sha256(path: Path) -> str:
    """A file's sha256: its record's while size and mtime are unchanged, else computed and recorded."""
    real = path.resolve()
    stat = real.stat()
    record = _read_record(real)
    if (
        record is not None
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    ):
        return str(record["sha256"])
    actual = sha256_of(real)
    write_record(real, actual)
    return actual
