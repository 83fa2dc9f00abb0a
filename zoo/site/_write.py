"""Writing the site into a folder, touching only files that ``zoo site`` wrote itself.

The folder's ledger (``.zoo-site.json``) lists every file the last generation wrote.
A new generation refuses a non-empty folder without a ledger, refuses to replace a
file the ledger does not list, rewrites only files whose bytes changed (so a
re-generation leaves unchanged pages' mtimes alone), and deletes only listed files
that the catalogue no longer produces. Every file is written as a new temporary file
renamed over its name (:mod:`zoo.atomic`): never through a symbolic link, and a link
where a page goes is refused, not replaced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from zoo import atomic
from zoo.errors import SiteOutputError

LEDGER = ".zoo-site.json"
LEDGER_FORMAT = 1


@dataclass
class WriteReport:
    """What a generation did to the folder (paths relative to it, sorted)."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _inside(root: Path, rel: str) -> Path:
    """``root/rel``, refusing paths that leave ``root`` (``..``, absolute, through a link)."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or rel != pure.as_posix():
        raise SiteOutputError(
            str(root / LEDGER),
            f"lists {rel!r}, which is not a plain relative path; remove the ledger's entry or the folder",
        )
    target = root.joinpath(*pure.parts)
    if not target.resolve().is_relative_to(root.resolve()):
        raise SiteOutputError(
            str(target),
            "resolves outside the site folder (a symbolic link?); remove the link or choose another --out",
        )
    for depth in range(1, len(pure.parts) + 1):  # a link inside the folder is not zoo's either
        if (part := root.joinpath(*pure.parts[:depth])).is_symlink():
            raise SiteOutputError(
                str(part),
                "is a symbolic link, and zoo never writes through or deletes a link it did not "
                "create; remove the link or choose another --out",
            )
    return target


def _read_ledger(out: Path) -> set[str] | None:
    ledger = out / LEDGER
    if ledger.is_symlink():
        raise SiteOutputError(
            str(ledger),
            "is a symbolic link, not a ledger `zoo site` wrote; zoo will not touch the folder: "
            "delete the folder or choose another --out",
        )
    if not ledger.is_file():
        return None
    try:
        data = json.loads(ledger.read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("format") != LEDGER_FORMAT or not all(isinstance(f, str) for f in files):
            raise ValueError("unexpected content")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SiteOutputError(
            str(ledger),
            f"cannot read this ledger of a previous `zoo site` ({exc}); zoo will not touch the "
            "folder without it: delete the folder or choose another --out",
        ) from None
    return set(files)


def write_site(out: Path, files: Mapping[str, bytes]) -> WriteReport:
    """Put ``files`` (relative POSIX path -> bytes) into ``out`` as described above.

    Raises:
        SiteOutputError: ``out`` is a file, holds files of someone else (or a symbolic link)
            where the site goes, or is a non-empty folder that no ``zoo site`` wrote.
        OutputWriteError: A file cannot be written (a full disk, a read-only folder).
    """
    if out.exists() and not out.is_dir():
        raise SiteOutputError(str(out), "is a file, not a folder; choose a folder for --out")
    previous = _read_ledger(out) if out.is_dir() else None
    if previous is None and out.is_dir() and any(out.iterdir()):
        raise SiteOutputError(
            str(out),
            "is not empty and holds no site written by `zoo site` (no .zoo-site.json); "
            "zoo only overwrites files it wrote: choose a new or empty folder",
        )
    previous = previous or set()
    targets = {rel: _inside(out, rel) for rel in sorted(files)}
    for rel, target in targets.items():
        if rel not in previous and (target.exists() or target.is_symlink()):
            raise SiteOutputError(
                str(target),
                "exists and was not written by `zoo site`; move it away or choose another --out",
            )
    stale = sorted(previous - set(files))
    stale_targets = [(rel, _inside(out, rel)) for rel in stale]

    report = WriteReport()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise atomic.write_error(out, exc) from None
    for rel, target in targets.items():
        data = files[rel]
        if target.is_file() and not target.is_symlink() and target.read_bytes() == data:
            report.unchanged.append(rel)
            continue
        _write(target, data, mkdir=True)
        report.written.append(rel)
    for rel, target in stale_targets:
        if target.is_file() and not target.is_symlink():
            target.unlink()
            report.removed.append(rel)
            _prune(out, target.parent)
    ledger = {"format": LEDGER_FORMAT, "generator": "zoo site", "files": sorted(files)}
    _write(out / LEDGER, (json.dumps(ledger, indent=1) + "\n").encode("utf-8"))
    return report


def _write(target: Path, data: bytes, mkdir: bool = False) -> None:
    """``target`` replaced by ``data`` through a new temporary file, never through a link.

    Raises:
        OutputWriteError: A full disk, a read-only folder, a link in the way.
    """
    try:
        if mkdir:
            target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_file(target, data)
    except OSError as exc:
        raise atomic.write_error(target, exc) from None


def _prune(out: Path, folder: Path) -> None:
    """Remove folders left empty by deleting stale pages, up to (not including) ``out``."""
    root = out.resolve()
    while folder.resolve() != root and folder.resolve().is_relative_to(root):
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            return
        folder = folder.parent
