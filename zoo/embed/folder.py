"""``zoo embed``'s output folder: what zoo wrote there, and what it may replace.

``zoo-embed.json`` is written before anything else and says the folder is zoo's output:
the settings of the run (to resume only the same run), its sessions, and once finished
every file zoo wrote with its size and sha256. zoo's files are that record, ``index.json``,
``provenance.json`` and the files of ``shards/`` named as zoo names them
(:data:`zoo.embed.shards.SHARD_FILE`) that the record holds: listed under ``files`` or,
while the run is unfinished, covering images a session recorded in ``images_pending``
before writing any. Everything else in the folder is foreign. zoo writes a file as a new
temporary sibling renamed over its name, never through a symbolic link
(:mod:`zoo.atomic`).

- A new or empty folder: a fresh run.
- A folder with a record and without ``--overwrite``: the same run is resumed (other
  settings are refused, naming what differs); foreign files are left alone.
- ``--overwrite``: zoo deletes its own files and starts again, but refuses when the folder
  holds anything foreign or a file of zoo's was changed since it was written.
- A non-empty folder without a record: refused in every mode, naming a foreign file.
- A foreign entry where zoo writes (a link named ``index.json.tmp``, a ``shards`` link, a shard
  file the record does not hold): refused in every mode; zoo never writes through, trusts or
  deletes it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.embed.shards import INDEX, SHARD_FILE, SHARDS, write_json
from zoo.errors import OutputFolderError, UsageError

RECORD = "zoo-embed.json"
PROVENANCE = "provenance.json"
RECORD_FORMAT = "zoo-embed-record"
#: A slide run's pictures (zoo.embed.slides): ``thumbnails/<slide>.png``.
THUMBNAILS = "thumbnails"
#: The names a slide run gives its files outside ``shards/``; a record listing anything else
#: (edited by hand) does not make it zoo's.
SLIDE_FILE = re.compile(rf"^(?:[^/]+\.h5|{THUMBNAILS}/[^/]+\.png)$")
#: Top-level files zoo writes (each also as ``<name>.tmp`` for a moment).
FILES = (RECORD, INDEX, PROVENANCE)
QUOTE = 3


@dataclass
class OutFolder:
    """What an output folder holds.

    Attributes:
        path: The folder.
        record: Its parsed ``zoo-embed.json``; ``None`` when there is none.
        foreign: Entries zoo did not write (relative paths, folders end with ``/``).
        changed: zoo's files whose size is no longer the one recorded.
        in_the_way: Foreign entries where zoo writes its own files: a link (or a folder) named
            as one of zoo's files, a ``shards`` that is not a plain folder, a file in ``shards/``
            named as zoo names shards that the record does not hold. zoo refuses the folder in
            every mode rather than write through, trust or delete them.
        owned: zoo's files in ``shards/`` (relative paths): the ones the record lists, and
            while the run is unfinished, the ones in the images its sessions set out to embed.
    """

    path: Path
    record: dict[str, Any] | None = None
    foreign: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    in_the_way: list[str] = field(default_factory=list)
    owned: list[str] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        """Nothing there: no record, no other file."""
        return self.record is None and not self.foreign


def _entry(folder: Path, name: str, prefix: str = "") -> str:
    path = folder / name
    return f"{prefix}{name}/" if path.is_dir() and not path.is_symlink() else f"{prefix}{name}"


def _is_plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def read_record(path: Path) -> dict[str, Any]:
    """A parsed ``zoo-embed.json``.

    Raises:
        OutputFolderError: The file is unreadable or not a zoo record.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
            raise ValueError("not a zoo-embed record")
    except (OSError, ValueError) as exc:
        raise OutputFolderError(
            f"{path} is not a record zoo can read ({exc}), so zoo cannot tell which files in "
            f"{path.parent} it wrote. Choose another --out.",
            str(path.parent),
            [path.name],
        ) from None
    return record


def inspect(out: Path) -> OutFolder:
    """Sort the folder's entries into zoo's and foreign ones (reads nothing but names, sizes and
    the record).

    Raises:
        UsageError: ``out`` or the nearest existing folder above it is a file.
        OutputFolderError: Its ``zoo-embed.json`` is unreadable.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    for parent in out.parents if not out.exists() else ():
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise UsageError(f"--out {out}: {parent} is a file, not a folder")
            break
    state = OutFolder(out)
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not names:
        return state
    if not _is_plain_file(out / RECORD):
        state.foreign = [_entry(out, n) for n in names]
        return state
    state.record = read_record(out / RECORD)
    slide_files = _slide_files(state.record)
    for name in names:
        path = out / name
        if name in slide_files or name.removesuffix(".tmp") in slide_files:
            _claim(
                state, out, name, name in slide_files or name.removesuffix(".tmp") in slide_files
            )
        elif name == THUMBNAILS and any(f.startswith(f"{THUMBNAILS}/") for f in slide_files):
            if not (path.is_dir() and not path.is_symlink()):
                state.foreign.append(_entry(out, name))
                state.in_the_way.append(state.foreign[-1])
                continue
            for inner in sorted(p.name for p in path.iterdir()):
                rel = f"{THUMBNAILS}/{inner}"
                _claim(
                    state, out, rel, rel in slide_files or rel.removesuffix(".tmp") in slide_files
                )
        elif name in FILES or name.removesuffix(".tmp") in FILES:
            if not _is_plain_file(path):
                state.foreign.append(_entry(out, name))
                state.in_the_way.append(state.foreign[-1])
        elif name == SHARDS:
            if not (path.is_dir() and not path.is_symlink()):
                state.foreign.append(_entry(out, name))
                state.in_the_way.append(state.foreign[-1])
                continue
            for inner in sorted(p.name for p in path.iterdir()):
                rel = f"{SHARDS}/{inner}"
                if (
                    SHARD_FILE.match(inner)
                    and _is_plain_file(path / inner)
                    and _recorded(state.record, rel)
                ):
                    state.owned.append(rel)
                    continue
                state.foreign.append(_entry(path, inner, f"{SHARDS}/"))
                if SHARD_FILE.match(inner):
                    state.in_the_way.append(state.foreign[-1])
        else:
            state.foreign.append(_entry(out, name))
    for name, info in state.record.get("files", {}).items():
        path = out / name
        if _is_plain_file(path) and path.stat().st_size != info.get("size"):
            state.changed.append(name)
    return state


def _slide_files(record: dict[str, Any]) -> set[str]:
    """The files outside ``shards/`` a slide run may write (``<slide>.h5``, ``thumbnails/<slide>.png``),
    as its record lists them when the run starts."""
    files = record.get("slide_files")
    if not isinstance(files, list):
        return set()
    return {f for f in files if isinstance(f, str) and SLIDE_FILE.match(f)}


def _claim(state: OutFolder, out: Path, rel: str, listed: bool) -> None:
    """A slide run's file: zoo's when the record lists it and it is a plain file; else foreign
    (and in the way where zoo would write it)."""
    if listed and _is_plain_file(out / rel):
        state.owned.append(rel)
        return
    state.foreign.append(
        rel + ("/" if (out / rel).is_dir() and not (out / rel).is_symlink() else "")
    )
    if listed:
        state.in_the_way.append(state.foreign[-1])


def _recorded(record: dict[str, Any], rel: str) -> bool:
    """Whether the record holds ``shards/<a>-<b>.<ext>``: it lists the file, or (while the run is
    unfinished) ``a..b`` lies in images a session of the run set out to embed."""
    files = record.get("files")
    if isinstance(files, dict) and rel in files:
        return True
    if record.get("complete"):
        return False
    match = SHARD_FILE.match(rel.removeprefix(f"{SHARDS}/"))
    assert match is not None
    start, end = int(match[1]), int(match[2])
    for session in record.get("sessions", []):
        for span in session.get("images_pending", []) if isinstance(session, dict) else []:
            if isinstance(span, list) and len(span) == 2 and span[0] <= start < end <= span[1]:
                return True
    return False


def _quote(names: list[str]) -> str:
    more = f" and {len(names) - QUOTE} more" if len(names) > QUOTE else ""
    return ", ".join(names[:QUOTE]) + more


def vet_output_folder(out: Path, overwrite: bool) -> OutFolder:
    """Whether zoo may write into ``out`` (read-only: nothing is created or deleted here).

    Raises:
        UsageError: ``out`` is a file.
        OutputFolderError: ``out`` holds files zoo did not write and no zoo output; or, with
            ``overwrite``, zoo's output next to foreign or changed files; or, without it, a
            changed file zoo would replace.
    """
    state = inspect(out)
    if state.in_the_way:
        raise OutputFolderError(
            f"--out {out} holds {_quote(state.in_the_way)} where zoo writes its own files, but "
            f"zoo did not write {'it' if len(state.in_the_way) == 1 else 'them'} (a symbolic "
            "link, a folder, or a shard file its zoo-embed.json does not record). zoo never "
            "writes through, trusts or deletes such entries, with --overwrite or without: move "
            "them away, or choose another --out.",
            str(out),
            state.in_the_way,
        )
    if state.record is None and state.foreign:
        raise OutputFolderError(
            f"--out {out} is not empty and holds files zoo did not write ({_quote(state.foreign)}). "
            "zoo writes only into a new or empty folder, or one holding its own earlier output "
            "(zoo-embed.json), and never deletes or replaces other files, with --overwrite or "
            "without. Choose another --out.",
            str(out),
            state.foreign,
        )
    if overwrite and state.foreign:
        raise OutputFolderError(
            f"--out {out} holds zoo's earlier output but also files zoo did not write "
            f"({_quote(state.foreign)}). --overwrite replaces only zoo's own files and refuses "
            "a folder that holds anything else: move those files, or choose another --out.",
            str(out),
            state.foreign,
        )
    if state.changed:
        raise OutputFolderError(
            f"--out {out}: {_quote(state.changed)} changed after zoo wrote it (its size is not the "
            "recorded one), so zoo will not replace it. Move it away, or choose another --out.",
            str(out),
            state.changed,
        )
    return state


def clear(state: OutFolder) -> None:
    """Delete zoo's own files of the folder (never another, never a link): the shard files the
    record holds (and a slide run's ``.h5`` files and thumbnails), index, provenance, and the
    record last, so that an interrupted clean-up still knows what is zoo's."""
    out = state.path
    for rel in state.owned:  # the shard files the record holds, nothing else
        if _is_plain_file(out / rel):
            (out / rel).unlink()
    for name in (SHARDS, THUMBNAILS):
        inner = out / name
        if inner.is_dir() and not inner.is_symlink() and not any(inner.iterdir()):
            inner.rmdir()
    for name in (INDEX, PROVENANCE, f"{INDEX}.tmp", f"{PROVENANCE}.tmp", f"{RECORD}.tmp", RECORD):
        if _is_plain_file(out / name):
            (out / name).unlink()


def new_record(run: dict[str, Any]) -> dict[str, Any]:
    """The record of a fresh run (its settings; no session, no file yet)."""
    return {
        "format": RECORD_FORMAT,
        "version": 1,
        "about": (
            "Written by `zoo embed`. zoo's files in this folder are this one, index.json, "
            "provenance.json and the shards/<12 digits>-<12 digits>.* files this record holds "
            "(under files; while unfinished, those of the images a session set out to embed, "
            "images_pending); zoo resumes, replaces or deletes only those, never through a "
            "symbolic link, and leaves anything else alone."
        ),
        "run": run,
        "complete": False,
        "sessions": [],
        "files": {},
    }


def write_record(out: Path, record: dict[str, Any]) -> None:
    """``zoo-embed.json``, replaced atomically."""
    write_json(out / RECORD, record)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def differences(then: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(setting, then, now)`` for each setting (a dotted path) that differs."""
    a, b = _flatten(then), _flatten(now)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def refuse_other_run(out: Path, diffs: list[tuple[str, Any, Any]]) -> OutputFolderError:
    """The error for resuming a run with other settings."""
    shown = "; ".join(f"{k}: {then!r} then, {now!r} now" for k, then, now in diffs[:6])
    more = f"; and {len(diffs) - 6} more" if len(diffs) > 6 else ""
    return OutputFolderError(
        f"--out {out} holds the output of a zoo embed run with other settings ({shown}{more}). "
        "Re-run with the same settings to resume it, pass --overwrite to replace it, or choose "
        "another --out.",
        str(out),
        differences=diffs,
    )
