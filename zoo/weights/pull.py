"""``zoo pull``: fetch and verify the weights of models, into the caches or into a mirror.

Without a target the files land where loads look for them (zoo's download
cache, the Hugging Face cache). With ``to`` they are also copied into a
relocatable mirror folder and listed in its ``zoo.lock`` (see
:mod:`zoo.weights.mirror`); :func:`pull_lock` reproduces a mirror from a lock, from the
files next to the lock when they are there, else from the network.

No torch here, except for ``checkpoint.timm`` tags, whose location only timm's
registry knows.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from zoo.errors import IntegrityError, MirrorError, WeightsNotAvailableError
from zoo.manifest import HfLocation, Manifest
from zoo.weights import hub, integrity, mirror
from zoo.weights.mirror import LOCK_NAME, LockEntry


@dataclass(frozen=True)
class Pulled:
    """One file pulled: its lock entry (``path`` relative to the mirror) and where it is now."""

    entry: LockEntry
    local: Path

    def row(self) -> dict[str, object]:
        """A plain dict for tables and JSON."""
        e = self.entry
        return {
            "name": e.name,
            "source": e.source,
            "location": e.location,
            "revision": e.revision,
            "file": e.filename or PurePosixPath(e.path).name,
            "size": e.size,
            "sha256": e.sha256,
            "path": str(self.local),
        }


def repo_patterns(manifest: Manifest) -> list[str]:
    """The files of a Hub repository that a transformers load uses (the transformers loader's choice)."""
    patterns = ["*.json", "*.safetensors", "*.txt"]
    if manifest.checkpoint is not None and manifest.checkpoint.format == "pickle":
        patterns.append("*.bin")
    if getattr(manifest.wrapper, "trust_remote_code", False):
        patterns.append("*.py")
    return patterns


def _sha(path: Path, expected: str | None = None) -> str:
    if expected:
        integrity.verify(path, expected)
        return expected
    return integrity.file_sha256(path)


def _entry(
    manifest: Manifest,
    source: str,
    location: str,
    local: Path,
    mirror_path: str,
    *,
    revision: str | None = None,
    requested: str | None = None,
    filename: str | None = None,
    sha256: str | None = None,
) -> Pulled:
    digest = _sha(local, sha256)
    return Pulled(
        LockEntry(
            name=manifest.name,
            manifest_sha256=mirror.manifest_sha256(manifest),
            source=source,
            location=location,
            revision=revision,
            requested_revision=requested,
            filename=filename,
            path=mirror_path,
            sha256=digest,
            size=local.stat().st_size,
        ),
        local,
    )


def _url_files(manifest: Manifest, url: str, sha256: str | None) -> list[Pulled]:
    main = hub.url_file(url, sha256=sha256, name=manifest.name)
    folder = "files/url/" + hashlib.sha256(url.encode()).hexdigest()[:16]
    found = [_entry(manifest, "url", url, main, f"{folder}/{main.name}", sha256=sha256)]
    if manifest.wrapper.type == "onnx":
        for rel, path in hub.onnx_side_files(manifest, main):
            side = urllib.parse.urljoin(url, rel)
            found.append(_entry(manifest, "url", side, path, f"{folder}/{rel}"))
    return found


def _hf_files(manifest: Manifest, loc: HfLocation, sha256: str | None) -> list[Pulled]:
    folder = "files/hf/" + loc.repo.replace("/", "--")
    if loc.filename is None:
        snapshot = hub.hf_path(loc, name=manifest.name, allow_patterns=repo_patterns(manifest))
        commit = hub.hf_commit(snapshot) or loc.revision or "unknown"
        return [
            _entry(
                manifest,
                "hf",
                loc.repo,
                file,
                f"{folder}/{commit}/{file.relative_to(snapshot).as_posix()}",
                revision=commit,
                requested=loc.revision,
                filename=file.relative_to(snapshot).as_posix(),
            )
            for file in sorted(p for p in snapshot.rglob("*") if p.is_file())
        ]
    main = hub.hf_path(loc, name=manifest.name)
    commit = hub.hf_commit(main, loc.filename) or loc.revision or "unknown"

    def one(filename: str, path: Path, digest: str | None) -> Pulled:
        return _entry(
            manifest,
            "hf",
            loc.repo,
            path,
            f"{folder}/{commit}/{filename}",
            revision=commit,
            requested=loc.revision,
            filename=filename,
            sha256=digest,
        )

    found = [one(loc.filename, main, sha256)]
    if manifest.wrapper.type == "onnx":
        base = PurePosixPath(loc.filename).parent
        for rel, path in hub.onnx_side_files(manifest, main):
            found.append(one((base / rel).as_posix(), path, None))
    return found


def _local_files(manifest: Manifest, written: str, sha256: str | None) -> list[Pulled]:
    path = hub.resolve(manifest) if manifest.checkpoint is not None else Path(written)
    folder = f"files/local/{manifest.name}"
    if path.is_dir():
        return [
            _entry(
                manifest,
                "local",
                written,
                file,
                f"{folder}/{path.name}/{file.relative_to(path).as_posix()}",
                filename=file.relative_to(path).as_posix(),
            )
            for file in sorted(p for p in path.rglob("*") if p.is_file())
        ]
    found = [_entry(manifest, "local", written, path, f"{folder}/{path.name}", sha256=sha256)]
    if manifest.wrapper.type == "onnx":
        for rel, side in hub.onnx_side_files(manifest, path):
            location = (PurePosixPath(written).parent / rel).as_posix()
            found.append(_entry(manifest, "local", location, side, f"{folder}/{rel}"))
    return found


def _timm_files(manifest: Manifest) -> list[Pulled]:
    from zoo.build.loaders.timm import _weights_file, pretrained_location  # imports torch and timm

    ckpt = manifest.checkpoint
    assert ckpt is not None
    kind, where = pretrained_location(manifest)
    if kind == "url":
        return _url_files(manifest, where, ckpt.sha256)
    path = _weights_file(manifest)  # tries the file names timm publishes
    loc = where.model_copy(update={"filename": where.filename or path.name})
    return _hf_files(manifest, loc, ckpt.sha256)


def files_of(manifest: Manifest) -> list[Pulled]:
    """Fetch (when needed) and verify every weights file of a manifest."""
    ckpt = manifest.checkpoint
    if ckpt is None:
        return []
    if ckpt.timm is not None:
        return _timm_files(manifest)
    if ckpt.url is not None:
        return _url_files(manifest, ckpt.url, ckpt.sha256)
    if ckpt.hf is not None:
        return _hf_files(manifest, ckpt.hf, ckpt.sha256)
    return _local_files(manifest, ckpt.path or "", ckpt.sha256)


# -- writing a mirror ----------------------------------------------------------------------------


def _copy(source: Path, dest: Path, sha256: str) -> None:
    """Copy into the mirror atomically, unless an identical file is already there."""
    if dest.is_file():
        try:
            integrity.verify(dest, sha256)
        except IntegrityError:
            pass
        else:
            return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".incomplete", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(source, tmp)
        integrity.verify(tmp, sha256)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _existing(root: Path) -> list[LockEntry]:
    lock = root / LOCK_NAME
    return mirror.read_lock(lock) if lock.exists() else []


def write_mirror(pulled: Sequence[Pulled], root: Path) -> list[Pulled]:
    """Copy pulled files into ``root`` and add them to its ``zoo.lock`` (kept relocatable)."""
    root.mkdir(parents=True, exist_ok=True)
    entries = _existing(root)
    placed = []
    for item in pulled:
        dest = root / PurePosixPath(item.entry.path)
        _copy(item.local, dest, item.entry.sha256)
        placed.append(Pulled(item.entry, dest))
    mirror.write_lock(root / LOCK_NAME, [*entries, *(p.entry for p in placed)])
    return placed


def pull(manifests: Sequence[Manifest], *, to: str | Path | None = None) -> list[Pulled]:
    """Fetch and verify the weights of each manifest; with ``to``, also write a mirror there."""
    pulled = [item for m in manifests for item in files_of(m)]
    if to is not None:
        return write_mirror(pulled, Path(to).expanduser())
    return pulled


# -- reproducing a lock --------------------------------------------------------------------------


def _fetch_entry(entry: LockEntry, beside: Path) -> Path:
    """An entry's file: next to its lock when there and intact, else from its location."""
    local = beside / PurePosixPath(entry.path)
    if local.is_file():
        try:
            integrity.verify(local, entry.sha256)
        except IntegrityError:
            pass
        else:
            return local
    if entry.source == "url":
        path = hub.url_file(entry.location, sha256=entry.sha256, name=entry.name)
    elif entry.source == "hf":
        loc = HfLocation(repo=entry.location, revision=entry.revision, filename=entry.filename)
        path = hub.hf_path(loc, name=entry.name)
    else:
        raise WeightsNotAvailableError(
            entry.path,
            [str(local)],
            "A local checkpoint can only be copied from the mirror it was pulled into.",
            reason="local file not next to the lock",
        )
    integrity.verify(path, entry.sha256)
    return path


def pull_lock(lock_file: str | Path, *, to: str | Path | None = None) -> list[Pulled]:
    """Fetch every file a ``zoo.lock`` lists, verified against it; with ``to``, write a mirror."""
    lock_file = Path(lock_file).expanduser()
    if lock_file.is_dir():
        lock_file = lock_file / LOCK_NAME
    entries = mirror.read_lock(lock_file)
    if not entries:
        raise MirrorError(f"{lock_file} lists no files")
    beside = lock_file.resolve().parent
    pulled = [Pulled(e, _fetch_entry(e, beside)) for e in entries]
    if to is not None:
        root = Path(to).expanduser()
        if root.resolve() == beside:
            return pulled
        return write_mirror(pulled, root)
    return pulled
