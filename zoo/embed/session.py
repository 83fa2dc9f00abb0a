"""The bookkeeping of an embedding run (global rank 0), shared by image, volume and slide runs:
the output folder's record opened (new, or the same run resumed) and the session stamped at its
start; at the end, the session's closing stamp and provenance, the finished record listing every
file zoo wrote, and the summary fields every run reports."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from zoo.atomic import write_error
from zoo.embed import folder as embed_out
from zoo.embed.provenance import now, provenance, skipped_reasons
from zoo.embed.shards import INDEX, SHARD_FILE, SHARDS, sha256_of

#: Failed inputs quoted in the summary (all are in provenance.json).
QUOTE = 3


def open_record(out: Path, run: dict[str, Any], overwrite: bool, **fields: Any) -> dict[str, Any]:
    """The folder's record for ``run``: a new one, written first (from then on the folder is
    zoo's; ``fields`` go into it), or the one there when it is the same run. With ``overwrite``
    zoo's own files of another run are cleared first.

    Raises:
        OutputError: The folder is not zoo's, or holds another run (without ``overwrite``).
    """
    state = embed_out.vet_output_folder(out, overwrite)
    if state.record is not None and overwrite:
        embed_out.clear(state)
        state = embed_out.OutFolder(out)
    if state.record is not None:
        if diffs := embed_out.differences(state.record["run"], run):
            raise embed_out.refuse_other_run(out, diffs)
        return state.record
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(out, exc) from None
    record = {**embed_out.new_record(run), **fields}
    embed_out.write_record(out, record)
    return record


def start_session(
    writer: Any,
    trainer: Any,
    record: dict[str, Any],
    run: dict[str, Any],
    blocks: list[Any],
    done: int,
    rows: int,
    **fields: Any,
) -> dict[str, Any]:
    """Stamp the session's start (what was done before it, where it runs; ``fields`` last) on
    the record, write it and keep it on ``writer``; returns the decision rank 0 broadcasts."""
    config = writer.config
    record["sessions"][-1].update(
        started=now(),
        images_done_before=done,
        rows_before=rows,
        world_size=trainer.world_size,
        devices=config.devices,
        num_nodes=config.num_nodes,
        accelerator=type(trainer.accelerator).__name__,
        batch_size=config.batch,
        workers=config.workers,
        **fields,
    )
    embed_out.write_record(writer.out, record)
    writer.record = record
    return {
        "blocks": blocks,
        "done": done,
        "rows": rows,
        "session": len(record["sessions"]),
        "images_sha256": run["images"]["keys_sha256"],
    }


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
