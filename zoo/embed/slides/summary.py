"""The end of a slide run (global rank 0): ``index.json`` from the slides' records, the
provenance (each slide's scale, tiling and tissue, every failed slide with its reason), the
finished ``zoo-embed.json`` and the summary the CLI prints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from zoo.embed import folder as embed_out
from zoo.embed.provenance import now, provenance, skipped_reasons
from zoo.embed.shards import (
    INDEX,
    SHARD_FILE,
    SHARDS,
    build_index,
    read_records,
    sha256_of,
    write_json,
)
from zoo.embed.slides.tissue import TISSUE_METHOD

QUOTE = 3


def h5_record(
    number: int, path: Path, features: torch.Tensor, info: dict[str, Any]
) -> dict[str, Any]:
    """The record of a slide written as ``<slide>.h5``."""
    return {
        "start": number,
        "end": number + 1,
        "rows": len(features),
        "file": path.name,
        "levels": [{"name": "embedding", "shape": [int(features.shape[1])]}],
        "dtype": "float32",
        "skipped": [],
        "size": path.stat().st_size,
        "sha256": sha256_of(path),
        **info,
    }


def _described(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_of(path)}


def finish(writer: Any, trainer: Any) -> dict[str, Any]:
    """Index, provenance and the finished record; returns the summary."""
    out, config, slides = writer.out, writer.config, writer.images
    records, _ = read_records(out / SHARDS)
    listed = [
        {
            "number": r["start"],
            "key": r["slide"]["key"],
            "name": r["slide"]["name"],
            "rows": r["rows"],
            "file": r["file"],
            "thumbnail": r.get("thumbnail"),
        }
        for r in records
        if r["rows"]
    ]
    extra = {"model": writer.model.manifest.name, "kind": "slides", "slides": listed}
    index = build_index(records, len(slides), config.fmt, extra)
    index["order"] = "slides sorted by key; each slide's tiles row by row from its top-left corner"
    write_json(out / INDEX, index)
    failed = [{"path": key, "error": error} for r in records for _, key, error in r["skipped"]]
    seconds = time.perf_counter() - writer.started
    computed = index["rows"] - writer.rows_before
    record = writer.record
    record["sessions"][-1].update(
        finished=now(),
        seconds=round(seconds, 3),
        images=len(slides) - writer.done_before,
        rows=computed,
        precision=str(trainer.precision),
    )
    sources = [str(Path(s).expanduser().absolute()) for s in config.images]
    prov = provenance(
        record, index, manifest=writer.model.manifest, sources=sources, skipped=failed
    )
    prov["slides"] = {
        "tiling": record["run"]["slides"],
        "tissue_method": TISSUE_METHOD,
        "slides": [
            {
                "number": r["start"],
                **(r.get("slide") or {"key": r["skipped"][0][1]}),
                "rows": r["rows"],
                **({"error": r["skipped"][0][2]} if r["skipped"] else {}),
            }
            for r in records
        ],
        "failed": failed,
    }
    write_json(out / embed_out.PROVENANCE, prov)
    files: dict[str, dict[str, Any]] = {}
    for r in records:
        for name in (r["file"], r.get("thumbnail")):
            if name and (out / name).is_file():
                files[name] = _described(out / name)
    for path in sorted((out / SHARDS).iterdir()):
        if SHARD_FILE.match(path.name) and path.suffix == ".json":
            files[f"{SHARDS}/{path.name}"] = _described(path)
    for name in (INDEX, embed_out.PROVENANCE):
        files[name] = _described(out / name)
    record["files"] = files
    record["complete"] = True
    embed_out.write_record(out, record)
    return {
        "name": writer.model.manifest.name,
        "out": str(out),
        "index": str(out / INDEX),
        "provenance": str(out / embed_out.PROVENANCE),
        "format": config.fmt,
        "kind": "slide",
        "images": len(slides),
        "slides_embedded": len(listed),
        "embedded": index["rows"],
        "skipped": len(failed),
        "skipped_reasons": skipped_reasons(failed),
        "skipped_first": failed[:QUOTE],
        "target_mpp": writer.tiling.target_mpp,
        "tile_size": writer.tiling.tile_size,
        "overlap": writer.tiling.overlap,
        "reused": writer.rows_before,
        "computed": computed,
        "levels": [level["name"] for level in index["levels"]],
        "shapes": [level["shape"] for level in index["levels"]],
        "world_size": trainer.world_size,
        "seconds": round(seconds, 2),
        "tiles_per_second": round(computed / seconds, 2) if seconds > 0 else None,
    }
