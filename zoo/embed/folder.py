"""``zoo embed``'s output folder: what zoo wrote there, and what it may replace.

``zoo-embed.json`` is written before anything else and says the folder is zoo's output:
the settings of the run (to resume only the same run), its sessions, and once finished
every file zoo wrote with its size and sha256. zoo's files are that record, ``index.json``,
``provenance.json`` and the files of ``shards/`` named as zoo names them
(:data:`zoo.embed.shards.SHARD_FILE`); everything else in the folder is foreign.

- A new or empty folder: a fresh run.
- A folder with a record and without ``--overwrite``: the same run is resumed (other
  settings are refused, naming what differs); foreign files are left alone.
- ``--overwrite``: zoo deletes its own files and starts again, but refuses when the folder
  holds anything foreign or a file of zoo's was changed since it was written.
- A non-empty folder without a record: refused in every mode, naming a foreign file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.embed.shards import INDEX, SHARD_FILE, SHARDS, write_json
from zoo.errors import OutputFolderError, UsageError

RECORD = "zoo-embed.json"
PROVENANCE = "provenance.json"
RECORD_FORMAT = "zoo-embed-record"
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
    """

    path: Path
    record: dict[str, Any] | None = None
    foreign: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

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
        UsageError: ``out`` is a file.
        OutputFolderError: Its ``zoo-embed.json`` is unreadable.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    state = OutFolder(out)
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not names:
        return state
    if not _is_plain_file(out / RECORD):
        state.foreign = [_entry(out, n) for n in names]
        return state
    state.record = read_record(out / RECORD)
    for name in names:
        path = out / name
        if name in FILES or name.removesuffix(".tmp") in FILES:
            if not _is_plain_file(path):
                state.foreign.append(_entry(out, name))
        elif name == SHARDS and path.is_dir() and not path.is_symlink():
            for inner in sorted(p.name for p in path.iterdir()):
                if not (SHARD_FILE.match(inner) and _is_plain_file(path / inner)):
                    state.foreign.append(_entry(path, inner, f"{SHARDS}/"))
        else:
            state.foreign.append(_entry(out, name))
    for name, info in state.record.get("files", {}).items():
        path = out / name
        if path.is_file() and path.stat().st_size != info.get("size"):
            state.changed.append(name)
    return state


def _quote(names: list[str]) -> str:
    more = f" and {len(names) - QUOTE} more" if len(names) > QUOTE else ""
    return ", ".join(names[:QUOTE]) + more


def check_out(out: Path, overwrite: bool) -> OutFolder:
    """Whether zoo may write into ``out`` (read-only: nothing is created or deleted here).

    Raises:
        UsageError: ``out`` is a file.
        OutputFolderError: ``out`` holds files zoo did not write and no zoo output; or, with
            ``overwrite``, zoo's output next to foreign or changed files; or, without it, a
            changed file zoo would replace.
    """
    state = inspect(out)
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
    """Delete zoo's own files of the folder (never another): shards, index, provenance, and the
    record last, so that an interrupted clean-up still knows what is zoo's."""
    out = state.path
    shards = out / SHARDS
    if shards.is_dir() and not shards.is_symlink():
        for path in shards.iterdir():
            if SHARD_FILE.match(path.name) and _is_plain_file(path):
                path.unlink()
        shards.rmdir()  # empty: check_out refused a folder with anything foreign in it
    for name in (INDEX, PROVENANCE):
        for path in (out / name, out / f"{name}.tmp"):
            path.unlink(missing_ok=True)
    (out / f"{RECORD}.tmp").unlink(missing_ok=True)
    (out / RECORD).unlink(missing_ok=True)


def new_record(run: dict[str, Any]) -> dict[str, Any]:
    """The record of a fresh run (its settings; no session, no file yet)."""
    return {
        "format": RECORD_FORMAT,
        "version": 1,
        "about": (
            "Written by `zoo embed`. zoo's files in this folder are this one, index.json, "
            "provenance.json and shards/<12 digits>-<12 digits>.*; zoo resumes, replaces or "
            "deletes only those, and leaves anything else alone."
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
