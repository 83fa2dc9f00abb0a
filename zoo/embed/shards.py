"""``zoo embed`` output format: shards, their records, and the index that ties them together.

An output folder (README, "Output format") holds::

    index.json        levels, shapes, dtype, row count, and every shard in row order
    shards/<a>-<b>.safetensors (or .parquet)
    shards/<a>-<b>.json   the shard's record: rows, images a..b-1 it covers, skipped ones,
                          size and sha256 of its data file (written last: the commit)
    provenance.json  zoo-embed.json

``a`` and ``b`` (12 digits) number the images of the sorted image list: a shard holds the
rows of images ``a`` to ``b - 1`` that could be read, in key order. Shards never overlap,
so the rows of all shards in ``a`` order are the rows of the run in key order, however
many processes wrote them and however often the run was resumed. The index is built
from the records alone, never from the rows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo import atomic
from zoo.errors import LoadError, MissingExtraError

FORMAT = "zoo-embed"
VERSION = 1
FORMATS = ("safetensors", "parquet")
INDEX = "index.json"
SHARDS = "shards"
KEYS = "keys"  # safetensors: uint8, the UTF-8 keys one after another
KEY_OFFSETS = "key_offsets"  # safetensors: int64 [rows + 1]; key i is keys[o[i]:o[i + 1]]
KEY_COLUMN = "key"  # parquet: a large_string column
DTYPE = "float32"
#: Names zoo gives files in ``shards/``: ``<12 digits>-<12 digits>.<ext>``, ``.tmp`` while written.
SHARD_FILE = re.compile(r"^(\d{12})-(\d{12})\.(safetensors|parquet|json)(\.tmp)?$")

Interval = tuple[int, int]


def shard_name(start: int, end: int) -> str:
    """The stem of the shard holding images ``start`` to ``end - 1``."""
    return f"{start:012d}-{end:012d}"


def level_names(count: int, feature_maps: bool) -> list[str]:
    """``embedding``, or ``feature_0`` ... in the order of ``out_indices``."""
    return [f"feature_{j}" for j in range(count)] if feature_maps else ["embedding"]


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtraError("pyarrow", "embed", "--format parquet") from None
    return pa, pq


# -- files that respect the umask ----------------------------------------------------------------


def file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` gives a new file."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no way to read it without setting it elsewhere
    os.umask(mask)
    return 0o666 & ~mask


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, data: Any) -> None:
    """``path`` replaced atomically (a ``.tmp`` sibling renamed over it), mode as the umask says,
    never through a link (:mod:`zoo.atomic`).

    Raises:
        OutputWriteError: It cannot be written (a full disk, a read-only folder, a link in the way).
    """
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    try:
        atomic.write_file(path, text.encode("utf-8"), path.with_name(path.name + ".tmp"))
    except OSError as exc:
        raise atomic.write_error(path, exc) from None


# -- one shard -----------------------------------------------------------------------------------


def write_shard(
    folder: Path,
    interval: Interval,
    *,
    fmt: str,
    keys: tuple[np.ndarray, np.ndarray],
    levels: dict[str, torch.Tensor],
    skipped: Sequence[tuple[int, str, str]] = (),
    info: dict[str, Any] | None = None,
    extra: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Write one shard's data file, then its record (the commit); returns the record.

    Args:
        folder: The ``shards`` folder.
        interval: The images ``(start, end)`` the shard covers.
        fmt: ``safetensors`` or ``parquet``.
        keys: The rows' keys as a UTF-8 buffer and ``rows + 1`` offsets.
        levels: One ``[rows, ...]`` float32 tensor per output level, in order.
        skipped: ``(image number, key, error)`` of the images of the interval that have no row.
        info: Extra fields for the record (the writing rank, the session).
        extra: Tensors stored with the rows that are not output levels (a slide's tile
            coordinates, ``coords`` int64 ``[rows, 2]``).
    """
    blob, offsets = keys
    rows = len(offsets) - 1
    stem = shard_name(*interval)
    record: dict[str, Any] = {
        "start": interval[0],
        "end": interval[1],
        "rows": rows,
        "file": None,
        "levels": [{"name": n, "shape": list(t.shape[1:])} for n, t in levels.items()],
        "dtype": DTYPE,
        "skipped": [list(s) for s in skipped],
        **(info or {}),
    }
    if rows:
        for name, tensor in levels.items():
            if len(tensor) != rows:
                raise LoadError(f"shard {stem}: level {name} has {len(tensor)} rows, keys {rows}")
        path = folder / f"{stem}.{fmt}"
        try:
            tmp = atomic.new_temporary(path, path.with_name(path.name + ".tmp"))
            if fmt == "parquet":
                _write_parquet(tmp, blob, offsets, levels, extra or {})
            else:
                _write_safetensors(tmp, blob, offsets, levels, interval, extra or {})
            tmp.chmod(file_mode())
            size, digest = tmp.stat().st_size, sha256_of(tmp)
            record.update(file=f"{SHARDS}/{path.name}", size=size, sha256=digest)
            atomic.commit(tmp, path)
        except OSError as exc:
            raise atomic.write_error(path, exc) from None
    write_json(folder / f"{stem}.json", record)
    return record


def _write_safetensors(
    path: Path,
    blob: np.ndarray,
    offsets: np.ndarray,
    levels: dict[str, torch.Tensor],
    interval: Interval,
    extra: dict[str, torch.Tensor],
) -> None:
    from safetensors.torch import save_file

    tensors = {name: t.to(torch.float32).contiguous() for name, t in levels.items()}
    tensors.update({name: t.contiguous() for name, t in extra.items()})
    tensors[KEYS] = torch.from_numpy(_writable(blob, np.uint8))
    tensors[KEY_OFFSETS] = torch.from_numpy(_writable(offsets, np.int64))
    meta = {"format": FORMAT, "version": str(VERSION), "images": f"{interval[0]}-{interval[1]}"}
    try:
        save_file(tensors, str(path), metadata=meta)
    except Exception as exc:  # safetensors' own error type wraps the system's (a full disk)
        number = re.search(r"os error (\d+)", str(exc))
        if number is None:
            raise
        code = int(number[1])
        raise OSError(code, os.strerror(code), str(path)) from None


def _writable(array: np.ndarray, dtype: Any) -> np.ndarray:
    """``array`` as a contiguous array torch may wrap (copied only when read-only or another type)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    return array if array.flags.writeable else array.copy()


def _write_parquet(
    path: Path,
    blob: np.ndarray,
    offsets: np.ndarray,
    levels: dict[str, torch.Tensor],
    extra: dict[str, torch.Tensor],
) -> None:
    pa, pq = _pyarrow()
    rows = len(offsets) - 1
    columns = [
        pa.LargeStringArray.from_buffers(
            rows,
            pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int64)),
            pa.py_buffer(np.ascontiguousarray(blob, dtype=np.uint8)),
        )
    ]
    shapes = {}
    for name, tensor in levels.items():
        shapes[name] = list(tensor.shape[1:])
        flat = tensor.to(torch.float32).reshape(rows, -1)
        values = pa.array(flat.reshape(-1).numpy(), pa.float32())
        columns.append(pa.FixedSizeListArray.from_arrays(values, flat.shape[1]))
    for tensor in extra.values():
        flat = tensor.reshape(rows, -1)
        values = pa.array(flat.reshape(-1).numpy())
        columns.append(pa.FixedSizeListArray.from_arrays(values, flat.shape[1]))
    table = pa.Table.from_arrays(columns, names=[KEY_COLUMN, *levels, *extra])
    table = table.replace_schema_metadata({"zoo.shapes": json.dumps(shapes)})
    pq.write_table(table, str(path))


# -- records: what is done, what is left ---------------------------------------------------------


def _record_ok(folder: Path, record: dict[str, Any]) -> bool:
    if not record.get("rows"):
        return True
    data = folder.parent / record["file"]
    return data.is_file() and data.stat().st_size == record["size"]


def read_records(folder: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """The committed shards of ``folder`` in image order, and zoo's files there that belong to
    none (half-written ``.tmp`` files, data whose record was never written, records whose data
    file is gone or has another size): a resumed run deletes and recomputes those.

    Raises:
        LoadError: Two committed shards overlap (never written by zoo).
    """
    records: list[dict[str, Any]] = []
    owned: set[str] = set()
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    for name in names:
        match = SHARD_FILE.match(name)
        if not match or match[3] != "json" or match[4]:
            continue
        try:
            record = json.loads((folder / name).read_text(encoding="utf-8"))
            valid = record["start"] == int(match[1]) and record["end"] == int(match[2])
        except (OSError, ValueError, KeyError, TypeError):
            valid = False
        if valid and _record_ok(folder, record):
            records.append(record)
            owned.add(name)
            if record.get("file"):
                owned.add(Path(record["file"]).name)
    leftovers = [folder / n for n in names if SHARD_FILE.match(n) and n not in owned]
    records.sort(key=lambda r: r["start"])
    for before, after in itertools.pairwise(records):
        if after["start"] < before["end"]:
            raise LoadError(
                f"{folder}: shards {shard_name(before['start'], before['end'])} and "
                f"{shard_name(after['start'], after['end'])} overlap; this folder was not written "
                "by one zoo run. Start again with --overwrite or another --out."
            )
    return records, leftovers


def pending(
    records: Sequence[dict[str, Any]], total: int, shard_size: int, parts: int = 1
) -> list[Interval]:
    """The images no record covers, cut into blocks of at most ``shard_size`` images (aligned to
    multiples of it, so a fresh run's shards are ``[0, n)``, ``[n, 2n)``, ...), and cut further
    into at least ``parts`` blocks (the processes) where there are that many images, so that
    every process has work even when all of it fits in one shard."""
    gaps: list[Interval] = []
    cursor = 0
    for record in records:
        if record["start"] > cursor:
            gaps.append((cursor, record["start"]))
        cursor = max(cursor, record["end"])
    if cursor < total:
        gaps.append((cursor, total))
    blocks = []
    for start, end in gaps:
        while start < end:
            stop = min(end, (start // shard_size + 1) * shard_size)
            blocks.append((start, stop))
            start = stop
    return spread(blocks, parts)


def spread(blocks: Sequence[Interval], parts: int) -> list[Interval]:
    """``blocks`` cut into ``min(parts, images)`` blocks or more: while there are fewer, the block
    with the most images per piece gets one piece more; each is cut into near-equal pieces."""
    images = sum(b - a for a, b in blocks)
    pieces = [1] * len(blocks)
    while blocks and sum(pieces) < min(parts, images):
        i = max(range(len(blocks)), key=lambda k: (blocks[k][1] - blocks[k][0]) / pieces[k])
        pieces[i] += 1
    cut: list[Interval] = []
    for (a, b), n in zip(blocks, pieces, strict=True):
        bounds = [a + (b - a) * j // n for j in range(n + 1)]
        cut.extend(itertools.pairwise(bounds))
    return cut


def build_index(
    records: Sequence[dict[str, Any]], total: int, fmt: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``index.json``: every shard with rows, in image order (from the records, no row read).

    Raises:
        LoadError: The shards do not cover the images ``0 .. total - 1`` exactly, or disagree
            on the levels.
    """
    cursor = 0
    levels: list[dict[str, Any]] | None = None
    shards = []
    rows = 0
    for record in sorted(records, key=lambda r: r["start"]):
        if record["start"] != cursor:
            raise LoadError(
                f"images {cursor}..{record['start'] - 1} are in no shard; re-run the same "
                "command to embed them"
            )
        cursor = record["end"]
        if not record["rows"]:
            continue
        if levels is None:
            levels = record["levels"]
        elif record["levels"] != levels:
            raise LoadError(
                f"shard {record['file']} has levels {record['levels']}, the others {levels}"
            )
        shards.append(
            {
                "file": record["file"],
                "rows": record["rows"],
                "first_row": rows,
                "images": [record["start"], record["end"]],
                "size": record["size"],
                "sha256": record["sha256"],
            }
        )
        rows += record["rows"]
    if cursor != total:
        raise LoadError(f"images {cursor}..{total - 1} are in no shard; re-run the same command")
    keys = (
        {"column": KEY_COLUMN}
        if fmt == "parquet"
        else {"tensor": KEYS, "offsets": KEY_OFFSETS, "encoding": "utf-8"}
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "storage": fmt,
        "rows": rows,
        "images": total,
        "dtype": DTYPE,
        "levels": levels or [],
        "keys": keys,
        "order": "rows sorted by key (Unicode code points); keys are unique",
        "shards": shards,
        **(extra or {}),
    }
