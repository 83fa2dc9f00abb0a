"""File integrity: streamed hashes, cheap re-verification, and what vouches for a file's content.

Each file zoo verified or downloaded has a record in ``<ZOO_HOME>/verified`` (path, size,
mtime, sha256). While size and mtime are unchanged the hash is not recomputed. A download
records the hash of what arrived, so the record is also the file's *own* voucher: a file
that still matches its record is intact, whatever a manifest claims. Nothing is written
next to the weights, in the Hugging Face cache or in a mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from zoo import settings
from zoo.errors import IntegrityError

CHUNK = 1 << 20

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


def _stream(path: Path, *digests: Any) -> None:
    """Feed a file's bytes to every digest, in one read."""
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            for digest in digests:
                digest.update(chunk)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    _stream(path, digest)
    return digest.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The git object id of a file's content (how the Hub names small, non-LFS files)."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"blob {path.stat().st_size}\0".encode())
    _stream(path, digest)
    return digest.hexdigest()


def is_sha256(text: str) -> bool:
    """Whether ``text`` is 64 lowercase hexadecimal digits."""
    return bool(_SHA256.fullmatch(text))


def state_file(kind: str, key: str, suffix: str) -> Path:
    """A file of zoo's own bookkeeping (``<ZOO_HOME>/<kind>/``), never next to the weights."""
    return settings.zoo_home() / kind / (hashlib.sha256(key.encode()).hexdigest()[:32] + suffix)


def _record_file(real: Path) -> Path:
    return state_file("verified", str(real), ".json")


def read_record(path: Path) -> dict[str, Any] | None:
    """The verification record of a file (``sha256``, ``size``, ``mtime_ns``), if there is one."""
    real = path.resolve()
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(_record_file(real).read_text())
        if isinstance(record, dict) and record.get("path") == str(real):
            return record
    return None


def write_record(path: Path, sha256: str, md5: str | None = None) -> None:
    """Remember that ``path`` (as it is now: size and mtime) has this sha256 (and md5)."""
    real = path.resolve()
    stat = real.stat()
    record: dict[str, Any] = {
        "path": str(real),
        "sha256": sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }
    if md5 is not None:
        record["md5"] = md5
    file = _record_file(real)
    with contextlib.suppress(OSError):  # a read-only ZOO_HOME only costs a re-hash next time
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(file)


def forget(path: Path) -> None:
    """Drop a file's record (the file is gone or replaced)."""
    _record_file(path.resolve()).unlink(missing_ok=True)


def _unchanged(record: dict[str, Any] | None, path: Path) -> bool:
    if record is None:
        return False
    stat = path.resolve().stat()
    return bool(record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns)


def file_sha256(path: Path) -> str:
    """A file's sha256: its record's while size and mtime are unchanged, else computed and recorded."""
    record = read_record(path)
    if record is not None and _unchanged(record, path):
        return str(record["sha256"])
    actual = sha256_of(path.resolve())
    if record is None or record.get("sha256") == actual:
        write_record(path, actual)
    return actual


def recorded(path: Path) -> str | None:
    """The sha256 a file had when zoo last verified or downloaded it (``None``: never seen)."""
    record = read_record(path)
    return str(record["sha256"]) if record is not None else None


def check(
    path: Path, expected: str | None = None, *, fix: str = "", declared_by: str = ""
) -> str | None:
    """Check a file against ``expected`` (default: its own record), cheaply when unchanged.

    Never removes anything: what to do about a mismatch is the caller's decision,
    because only the caller knows whose file it is and who else vouches for it.

    Returns:
        The file's sha256, or ``None`` when there was nothing to compare with.

    Raises:
        IntegrityError: The content differs (``removed=False``).
    """
    record = read_record(path)
    if expected is None:
        if record is None:
            return None
        expected = str(record["sha256"])
    if record is not None and record.get("sha256") == expected and _unchanged(record, path):
        return expected
    actual = sha256_of(path.resolve())
    if actual != expected:
        raise IntegrityError(
            str(path), expected, actual, removed=False, fix=fix, declared_by=declared_by
        )
    if record is None or record.get("sha256") == actual or not _unchanged(record, path):
        write_record(path, actual)
    return actual


def check_md5(path: Path, expected: str, *, fix: str = "", declared_by: str = "") -> None:
    """Check a file against the MD5 its publisher states, once while the file is unchanged (the
    record remembers it). Never removes anything.

    Raises:
        IntegrityError: The content differs (``algorithm="md5"``, ``removed=False``).
    """
    record = read_record(path)
    if record is not None and record.get("md5") == expected and _unchanged(record, path):
        return
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    _stream(path.resolve(), md5, sha)
    if md5.hexdigest() != expected:
        raise IntegrityError(
            str(path),
            expected,
            md5.hexdigest(),
            removed=False,
            fix=fix,
            declared_by=declared_by,
            algorithm="md5",
        )
    actual = sha.hexdigest()
    if record is None or record.get("sha256") == actual or not _unchanged(record, path):
        write_record(path, actual, md5=expected)


def hub_blob_name(path: Path) -> str | None:
    """The content hash a Hugging Face cache blob is named by (sha256 for LFS files, the git
    object id for small files), or ``None`` when the path is not such a blob."""
    real = path.resolve()
    if real.parent.name != "blobs":
        return None
    name = real.name
    return name if _SHA256.fullmatch(name) or _SHA1.fullmatch(name) else None


def check_hub_blob(path: Path, *, fix: str = "") -> str | None:
    """Check a Hugging Face cache file against the content hash its blob is named by.

    Returns:
        The file's sha256 when the blob name is one (LFS files), else ``None``.

    Raises:
        IntegrityError: The content differs from the name.
    """
    name = hub_blob_name(path)
    if name is None:
        return None
    if len(name) == 64:
        return check(path, name, fix=fix, declared_by="its Hugging Face blob name")
    record = read_record(path)
    if record is not None and _unchanged(record, path):
        return None
    actual = git_blob_sha1(path.resolve())
    if actual != name:
        raise IntegrityError(
            str(path),
            name,
            actual,
            removed=False,
            fix=fix,
            declared_by="its Hugging Face blob name (git sha1)",
        )
    write_record(path, sha256_of(path.resolve()))
    return None
