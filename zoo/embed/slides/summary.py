"""The end of a slide run (global rank 0): ``index.json`` from the slides' records, the
provenance (each slide's scale, tiling and tissue, every failed slide with its reason), the
finished ``zoo-embed.json`` and the summary the CLI prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.embed import folder as embed_out
from zoo.embed import session
from zoo.embed.shards import (
    INDEX,
    SHARDS,
    build_index,
    read_records,
    sha256_of,
    write_json,
)
from zoo.embed.slides.tissue import TISSUE_METHOD


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
    prov, computed, seconds = session.close_session(writer, trainer, index, failed)
    record = writer.record
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
    written = {
        name: session.described(out / name)
        for r in records
        for name in (r["file"], r.get("thumbnail"))
        if name and (out / name).is_file()
    }
    session.seal(out, record, written)
    return {
        **session.summary(writer, trainer, index, failed, computed, seconds),
        "kind": "slide",
        "slides_embedded": len(listed),
        "target_mpp": writer.tiling.target_mpp,
        "tile_size": writer.tiling.tile_size,
        "overlap": writer.tiling.overlap,
        "tiles_per_second": round(computed / seconds, 2) if seconds > 0 else None,
    }
