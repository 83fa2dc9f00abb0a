"""The end of an embedding run (global rank 0), shared by image, volume and slide runs: the
session's closing stamp and provenance, the finished record listing every file zoo wrote, and
the summary fields every run reports."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from zoo.embed import folder as embed_out
from zoo.embed.provenance import now, provenance, skipped_reasons
from zoo.embed.shards import INDEX, SHARD_FILE, SHARDS, sha256_of

#: Failed inputs quoted in the summary (all are in provenance.json).
QUOTE = 3


def described(path: Path) -> dict[str, Any]:
    """A written file's size and sha256, as the record lists it."""
    return {"size": path.stat().st_size, "sha256": sha256_of(path)}


def close_session(
    writer: Any, trainer: Any, index: dict[str, Any], skipped: list[dict[str, Any]]
) -> tuple[dict[str, Any], int, float]:
    """Stamp the session's end on ``writer.record``; returns the provenance (to be completed
    and written by the caller), the rows computed in this session and its seconds."""
    seconds = time.perf_counter() - writer.started
    computed = index["rows"] - writer.rows_before
    record = writer.record
    record["sessions"][-1].update(
        finished=now(),
        seconds=round(seconds, 3),
        images=len(writer.images) - writer.done_before,
        rows=computed,
        precision=str(trainer.precision),
    )
    sources = [str(Path(s).expanduser().absolute()) for s in writer.config.images]
    prov = provenance(
        record, index, manifest=writer.model.manifest, sources=sources, skipped=skipped
    )
    return prov, computed, seconds


def seal(out: Path, record: dict[str, Any], files: dict[str, dict[str, Any]]) -> None:
    """Finish the record: ``files`` (the run's outputs) plus the shards' records, the index and
    the provenance, each with size and sha256; then mark it complete and write it."""
    files = dict(files)
    for path in sorted((out / SHARDS).iterdir()):
        if SHARD_FILE.match(path.name) and path.suffix == ".json":
            files[f"{SHARDS}/{path.name}"] = described(path)
    for name in (INDEX, embed_out.PROVENANCE):
        files[name] = described(out / name)
    record["files"] = files
    record["complete"] = True
    embed_out.write_record(out, record)


def summary(
    writer: Any,
    trainer: Any,
    index: dict[str, Any],
    skipped: list[dict[str, Any]],
    computed: int,
    seconds: float,
) -> dict[str, Any]:
    """The summary fields every run reports (the CLI prints them; ``--json`` gives them)."""
    out = writer.out
    return {
        "name": writer.model.manifest.name,
        "out": str(out),
        "index": str(out / INDEX),
        "provenance": str(out / embed_out.PROVENANCE),
        "format": writer.config.fmt,
        "images": len(writer.images),
        "embedded": index["rows"],
        "skipped": len(skipped),
        "skipped_reasons": skipped_reasons(skipped),
        "skipped_first": skipped[:QUOTE],
        "reused": writer.rows_before,
        "computed": computed,
        "levels": [level["name"] for level in index["levels"]],
        "shapes": [level["shape"] for level in index["levels"]],
        "world_size": trainer.world_size,
        "seconds": round(seconds, 2),
    }
