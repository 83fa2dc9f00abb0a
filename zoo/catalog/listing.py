"""The listing index: what ``zoo list`` prints, kept under ``ZOO_HOME`` so that listing skips validation.

Reading the catalogue means parsing YAML and validating every manifest with pydantic,
which costs a fresh process far more than printing the table. The first listing does
it and stores each manifest's summary (:meth:`zoo.manifest.Manifest.summary`) in one
JSON file, ``<ZOO_HOME>/index/listing-<key>.json``, together with the path, size and
modification time of every manifest file. Later listings stat the files; when the
set of files and every size and time are unchanged, the stored summaries are used and
neither pydantic, YAML nor the manifest models are imported.

The file name's key covers the catalogue roots, zoo's version and this index's format;
the stored data also records the size and time of the modules that decide what a
summary says (an edited checkout rebuilds it). Only a catalogue without problems is
stored, so invalid files keep being reported. A ``ZOO_HOME`` that cannot be written
costs speed, never a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from zoo import __version__, settings
from zoo.catalog.roots import default_roots, manifest_files
from zoo.problems import Problem

#: Bump when what the index stores changes.
INDEX_FORMAT = 2

#: The manifest's wrapper types (:data:`zoo.manifest.WRAPPER_TYPES`, which imports pydantic;
#: a test keeps the two equal).
WRAPPER_TYPES: tuple[str, ...] = (
    "timm",
    "transformers",
    "onnx",
    "torchhub",
    "function",
    "monai",
    "open_clip",
)

_PACKAGE = Path(__file__).resolve().parent.parent
#: The modules whose code decides the summaries (relative to the package).
_CODE = ("catalogue", "manifest", "text.py")

Row = dict[str, Any]
FileStat = list[Any]  # [path, size, mtime_ns]


def _stat_files(roots: Iterable[Path]) -> list[FileStat]:
    """Path, size and mtime of every manifest file."""
    found: list[FileStat] = []
    for file in manifest_files(roots):
        st = file.stat()
        found.append([str(file), st.st_size, st.st_mtime_ns])
    return found


def _code_stamp() -> list[FileStat]:
    stamp: list[FileStat] = []
    for name in _CODE:
        path = _PACKAGE / name
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        for file in files:
            with contextlib.suppress(OSError):
                st = file.stat()
                stamp.append(
                    [name if file == path else f"{name}/{file.name}", st.st_size, st.st_mtime_ns]
                )
    return stamp


def index_path(roots: Sequence[Path]) -> Path:
    """The index file of these catalogue roots (and of this zoo version and index format)."""
    import hashlib

    key = json.dumps([INDEX_FORMAT, __version__, [str(Path(r).absolute()) for r in roots]])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.zoo_home() / "index" / f"listing-{digest}.json"


def _read(path: Path, files: list[FileStat], code: list[FileStat]) -> list[Row] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        return None
    if data.get("version") != __version__ or data.get("code") != code:
        return None
    if data.get("files") != files:
        return None
    rows = data.get("summaries")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return None
    return rows


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (a reader sees the old file or the new one); failures are ignored."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def summaries(roots: Sequence[str | Path] | None = None) -> tuple[list[Row], list[Problem]]:
    """Every valid manifest's summary, sorted by name, and the catalogue's problems.

    From the index when it is fresh (no problems then); otherwise from
    :class:`zoo.catalog.reader.Catalog`, and the index is written when there are no problems.

    Raises:
        DuplicateNameError: Two manifests claim one name (as ``Catalog.list`` does).
    """
    paths = [Path(p) for p in roots] if roots is not None else default_roots()
    path = index_path(paths)
    try:
        files = _stat_files(paths)
    except OSError:
        files = None  # a file vanished while looking: read the catalogue, do not store
    code = _code_stamp()
    if files is not None and (rows := _read(path, files, code)) is not None:
        return rows, []

    from zoo.catalog.reader import Catalog

    catalog = Catalog(roots)
    rows = [m.summary() for m in catalog.list()]
    problems = catalog.problems
    same_roots = [p.absolute() for p in catalog.roots] == [p.absolute() for p in paths]
    if files is not None and not problems and same_roots and json.loads(json.dumps(rows)) == rows:
        data = {
            "format": INDEX_FORMAT,
            "version": __version__,
            "code": code,
            "files": files,
            "summaries": rows,
        }
        _write(path, data)
    return rows, problems
