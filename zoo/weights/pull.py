"""``zoo pull``: fetch and verify the weights of models, into the caches or into a mirror.

Without a target the files land where loads look for them (zoo's download cache, the
Hugging Face cache). With ``to`` they are also copied into a relocatable mirror folder and
listed in its ``zoo.lock`` (see :mod:`zoo.weights.transport.mirror`); :func:`pull_lock` reproduces
a mirror from a lock, from the files next to the lock when they are there, else from the
network.

Every model is tried: one that fails is recorded with its reason and the others go on;
the mirror and its lock hold what succeeded. Which files a model has is the weights
source's answer (:mod:`zoo.weights.sources`), as for a load.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from zoo import atomic
from zoo.catalog.roots import inside
from zoo.errors import IntegrityError, MirrorError, WeightsNotAvailableError, ZooError
from zoo.manifest import HfLocation, Manifest
from zoo.weights.locations import Context, hf_file, url_file
from zoo.weights.sources import Source, WeightsFile, source_of
from zoo.weights.transport import integrity, mirror
from zoo.weights.transport.mirror import LOCK_NAME, LockEntry


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


@dataclass(frozen=True)
class Failure:
    """A model whose weights could not be pulled."""

    name: str
    reason: str

    def row(self) -> dict[str, str]:
        """A plain dict for tables and JSON."""
        return {"name": self.name, "reason": self.reason}


@dataclass
class PullReport:
    """What a pull did: the files it verified (and placed), the models that failed."""

    pulled: list[Pulled] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Models without weights (random initialization)."""

    @property
    def ok(self) -> bool:
        """True when no model failed."""
        return not self.failed


def _entry(manifest: Manifest, f: WeightsFile) -> Pulled:
    return Pulled(
        LockEntry(
            name=manifest.name,
            manifest_sha256=mirror.manifest_sha256(manifest),
            source=f.source,
            location=f.location,
            revision=f.revision,
            requested_revision=f.requested_revision,
            filename=f.filename,
            path=f.mirror_path,
            sha256=f.sha256,
            size=f.path.stat().st_size,
        ),
        f.path,
    )


def files_pulled(manifest: Manifest, source: Source, main: Path) -> list[Pulled]:
    """The files of a checkpoint already at ``main`` (made elsewhere, e.g. by ``zoo verify``), as
    a pull records them."""
    return [_entry(manifest, f) for f in source.records(main)]


def files_of(manifest: Manifest) -> list[Pulled]:
    """Fetch (when needed) and verify every weights file of a manifest."""
    source = source_of(manifest)
    if source is None:
        return []
    return [_entry(manifest, f) for f in source.files()]


# -- writing a mirror ----------------------------------------------------------------------------


def _copy(source: Path, dest: Path, sha256: str) -> None:
    """Copy into the mirror atomically (0666 minus the umask), unless an identical file is there."""
    if dest.is_file():
        try:
            integrity.check(dest, sha256)
        except IntegrityError:
            pass
        else:
            return
    dest.parent.mkdir(parents=True, exist_ok=True)

    def fill(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, integrity.CHUNK)
        integrity.check(tmp, sha256)

    # A fresh temporary created here, renamed over a plain file only: never written through a
    # link, and removed when the copy fails (zoo.atomic, as for zoo embed's and zoo site's files).
    atomic.write_with(dest, fill)
    integrity.write_record(dest, sha256)


def _existing(root: Path) -> list[LockEntry]:
    lock = root / LOCK_NAME
    return mirror.read_lock(lock) if lock.exists() else []


def write_mirror(pulled: Sequence[Pulled], root: Path) -> list[Pulled]:
    """Copy pulled files into ``root`` and add them to its ``zoo.lock`` (kept relocatable)."""
    root.mkdir(parents=True, exist_ok=True)
    entries = _existing(root)
    placed = []
    for item in pulled:
        dest = inside(root, item.entry.path, what="the mirror path")
        _copy(item.local, dest, item.entry.sha256)
        placed.append(Pulled(item.entry, dest))
    mirror.write_lock(root / LOCK_NAME, [*entries, *(p.entry for p in placed)])
    return placed


def pull(manifests: Sequence[Manifest], *, to: str | Path | None = None) -> PullReport:
    """Fetch and verify the weights of each manifest; with ``to``, also write a mirror there.

    A model that fails is listed in the report with its reason; the others are pulled, and
    the mirror (written after each model, so an interruption keeps what was done) holds them.
    """
    report = PullReport()
    root = Path(to).expanduser() if to is not None else None
    for manifest in manifests:
        if manifest.checkpoint is None:
            report.skipped.append(manifest.name)
            continue
        try:
            files = files_of(manifest)
            if root is not None:
                files = write_mirror(files, root)
        except ZooError as exc:
            report.failed.append(Failure(manifest.name, str(exc)))
            continue
        except OSError as exc:  # a full disk or a read-only mirror: this model, not the rest
            reason = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
            report.failed.append(Failure(manifest.name, f"cannot write {reason}"))
            continue
        report.pulled.extend(files)
    return report


# -- reproducing a lock --------------------------------------------------------------------------


def _fetch_entry(entry: LockEntry, beside: Path) -> Path:
    """An entry's file: next to its lock when there and intact, else from its location."""
    local = inside(beside, entry.path, what=f"{LOCK_NAME}'s path")
    if local.is_file():
        try:
            integrity.check(local, entry.sha256)
        except IntegrityError:
            pass
        else:
            return local
    ctx = Context(entry.name, "zoo.lock", entry.location, f"{beside / LOCK_NAME}", lambda _: [])
    if entry.source == "url":
        return url_file(entry.location, entry.sha256, ctx)
    if entry.source == "hf":
        loc = HfLocation(repo=entry.location, revision=entry.revision, filename=entry.filename)
        return hf_file(loc, entry.sha256, ctx)
    raise WeightsNotAvailableError(
        entry.path,
        [str(local)],
        "A local checkpoint can only be copied from the mirror it was pulled into.",
        reason="local file not next to the lock",
    )


def pull_lock(lock_file: str | Path, *, to: str | Path | None = None) -> PullReport:
    """Fetch every file a ``zoo.lock`` lists, verified against it; with ``to``, write a mirror."""
    lock_file = Path(lock_file).expanduser()
    if lock_file.is_dir():
        lock_file = lock_file / LOCK_NAME
    entries = mirror.read_lock(lock_file)
    if not entries:
        raise MirrorError(f"{lock_file} lists no files")
    beside = lock_file.resolve().parent
    report = PullReport()
    for entry in entries:
        try:
            report.pulled.append(Pulled(entry, _fetch_entry(entry, beside)))
        except ZooError as exc:
            report.failed.append(Failure(entry.name, f"{entry.path}: {exc}"))
    if to is not None and Path(to).expanduser().resolve() != beside:
        report.pulled = write_mirror(report.pulled, Path(to).expanduser())
    return report
