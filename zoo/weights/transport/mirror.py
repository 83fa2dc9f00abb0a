"""Mirrors: a folder of weights plus ``zoo.lock``, made by ``zoo pull --to DIR``.

A mirror is relocatable (every path in the lock is relative to the folder) and
is read without network: with ``ZOO_MIRROR=DIR`` (or ``Catalog.load(...,
mirror=DIR)``, ``zoo load --mirror DIR``) the hub looks here first for every
URL, Hugging Face file or repository and local checkpoint. This module only
reads and writes the lock and looks files up; the hub verifies their sha256.

``zoo.lock`` is JSON::

    {"zoo_lock": 1, "files": [{"name": "group/model", "manifest_sha256": "...",
      "source": "hf", "location": "owner/repo", "revision": "<commit>",
      "requested_revision": null, "filename": "model.safetensors",
      "path": "files/hf/owner--repo/<commit>/model.safetensors",
      "sha256": "...", "size": 123}]}

``location`` is the URL (``url``), the repository (``hf``) or the manifest's
``checkpoint.path`` (``local``); ``filename`` is the file inside a repository
or a local folder (``null`` for a single URL or local file).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

from zoo import settings
from zoo.catalog.roots import inside
from zoo.errors import MirrorError
from zoo.manifest import HfLocation, Manifest
from zoo.text import unsafe_name

LOCK_NAME = "zoo.lock"
LOCK_VERSION = 1


@dataclass(frozen=True)
class LockEntry:
    """One file of a mirror."""

    name: str
    manifest_sha256: str
    source: str
    location: str
    revision: str | None
    requested_revision: str | None
    filename: str | None
    path: str
    sha256: str
    size: int

    @classmethod
    def from_dict(cls, data: Any, where: str) -> LockEntry:
        """Parse one entry, refusing paths that leave the mirror."""
        if not isinstance(data, dict):
            raise MirrorError(f"{where}: an entry must be an object")
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data))
        if missing:
            raise MirrorError(f"{where}: entry misses {', '.join(missing)}")
        for f in fields(cls):
            value, texts = data[f.name], ("str", "str | None")
            if isinstance(value, bool) or not (
                (f.type == "int" and isinstance(value, int))
                or (f.type in texts and isinstance(value, str))
                or (f.type == "str | None" and value is None)
            ):
                raise MirrorError(f"{where}: {f.name} must be {f.type}, not {value!r:.80}")
        entry = cls(**{k: data[k] for k in names})
        for key in ("path", "filename"):
            value = getattr(entry, key)
            if value is not None and (why := unsafe_name(value)) is not None:
                raise MirrorError(f"{where}: {key} {value!r} {why}; it must stay inside the mirror")
        if entry.filename is not None and not entry.path.endswith(f"/{entry.filename}"):
            raise MirrorError(f"{where}: path {entry.path!r} must end with its filename")
        if entry.source not in ("hf", "url", "local"):
            raise MirrorError(f"{where}: unknown source {entry.source!r}")
        if entry.source == "hf":
            try:
                HfLocation(repo=entry.location, revision=entry.revision, filename=entry.filename)
            except ValueError as exc:  # pydantic's ValidationError: one line per field
                said = [f"{e['loc'][0]}: {e['msg']}" for e in getattr(exc, "errors", list)()]
                raise MirrorError(f"{where}: {'; '.join(said) or exc}") from None
        if not isinstance(entry.sha256, str) or len(entry.sha256) != 64:
            raise MirrorError(f"{where}: sha256 must be 64 hexadecimal digits")
        return entry


def manifest_sha256(manifest: Manifest) -> str:
    """A hash of what the manifest says (not of its formatting or comments)."""
    data = manifest.model_dump(mode="json")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class Mirror:
    """A mirror folder and its lock.

    Raises:
        MirrorError: The folder has no readable, well-formed ``zoo.lock``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.lock_file = self.root / LOCK_NAME
        self.entries = read_lock(self.lock_file)

    def path_of(self, entry: LockEntry) -> Path:
        """Where an entry's file is on this machine.

        Raises:
            PathEscapeError: The file is a link out of the mirror.
        """
        return inside(self.root, entry.path, what=f"{LOCK_NAME}'s path")

    def intact(self, entry: LockEntry) -> bool:
        """Whether an entry's file is in the mirror with the size the lock gives (no hashing)."""
        try:
            return self.path_of(entry).stat().st_size == entry.size
        except OSError:  # missing, unreadable, or a link out of the mirror
            return False

    def _matching(self, source: str, location: str, revision: str | None = None) -> list[LockEntry]:
        found = [e for e in self.entries if e.source == source and e.location == location]
        if source != "hf":
            return found
        if revision is None:
            # Unpinned: prefer what an unpinned manifest mirrored, else any mirrored revision.
            unpinned = [e for e in found if e.requested_revision is None]
            if unpinned:
                return unpinned
            newest = found[-1].revision if found else None
            return [e for e in found if e.revision == newest]
        return [e for e in found if revision in (e.revision, e.requested_revision)]

    def find_url(self, url: str) -> LockEntry | None:
        """The entry of a URL's file."""
        found = self._matching("url", url)
        return found[0] if found else None

    def find_hf_file(self, loc: HfLocation) -> LockEntry | None:
        """The entry of one file of a Hub repository (``loc.filename``)."""
        found = [
            e for e in self._matching("hf", loc.repo, loc.revision) if e.filename == loc.filename
        ]
        return found[0] if found else None

    def find_folder(
        self, source: str, location: str, revision: str | None = None
    ) -> tuple[Path, list[LockEntry]] | None:
        """The folder of a whole repository snapshot (``hf``) or local folder (``local``)."""
        found = [e for e in self._matching(source, location, revision) if e.filename]
        if not found:
            return None
        entry = found[0]
        assert entry.filename is not None
        depth = len(PurePosixPath(entry.filename).parts)
        folder = PurePosixPath(entry.path).parents[depth - 1]
        where = inside(self.root, folder.as_posix(), what=f"{LOCK_NAME}'s folder")
        return where, [e for e in found if e.path.startswith(f"{folder}/")]

    def find_local(self, location: str, name: str) -> LockEntry | None:
        """The entry of a manifest's local single-file checkpoint."""
        found = [
            e for e in self._matching("local", location) if e.name == name and e.filename is None
        ]
        return found[0] if found else None


def read_lock(file: Path) -> list[LockEntry]:
    """The entries of a ``zoo.lock``.

    Raises:
        MirrorError: Missing, unreadable or malformed.
    """
    if not file.is_file():
        raise MirrorError(
            f"no {LOCK_NAME} in {file.parent}: make a mirror with `zoo pull NAME... --to "
            f"{file.parent}` or point ZOO_MIRROR at one"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MirrorError(f"cannot read {file}: {exc}") from None
    if not isinstance(data, dict) or data.get("zoo_lock") != LOCK_VERSION:
        raise MirrorError(f"{file} is not a zoo lock file of version {LOCK_VERSION}")
    items = data.get("files")
    if not isinstance(items, list):
        raise MirrorError(f"{file}: `files` must be a list")
    return [LockEntry.from_dict(item, f"{file}: files[{i}]") for i, item in enumerate(items)]


def write_lock(file: Path, entries: Iterable[LockEntry]) -> None:
    """Write a ``zoo.lock`` atomically, entries sorted and de-duplicated by path."""
    unique = {e.path: e for e in entries}
    data = {
        "zoo_lock": LOCK_VERSION,
        "files": [asdict(unique[p]) for p in sorted(unique)],
    }
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(file)


# -- the active mirror ---------------------------------------------------------------------------

_ACTIVE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("zoo_mirror", default=None)
_PARSED: dict[tuple[Path, int, int], Mirror] = {}


@contextlib.contextmanager
def use_mirror(root: str | Path | None) -> Iterator[None]:
    """Make loads inside the block read from the mirror at ``root`` (``None``: leave as is)."""
    if root is None:
        yield
        return
    token = _ACTIVE.set(Path(root).expanduser())
    try:
        active()  # a folder without a lock fails here, before any loading starts
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> Mirror | None:
    """The mirror loads read from: ``use_mirror``'s, else ``ZOO_MIRROR``'s, else none."""
    root = _ACTIVE.get() or settings.mirror_dir()
    if root is None:
        return None
    lock = root.expanduser().resolve() / LOCK_NAME
    try:
        stat = lock.stat()
    except OSError:
        return Mirror(root)  # raises MirrorError naming the folder
    key = (lock, stat.st_size, stat.st_mtime_ns)
    if key not in _PARSED:
        _PARSED.clear()
        _PARSED[key] = Mirror(root)
    return _PARSED[key]
