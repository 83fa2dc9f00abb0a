"""``zoo embed`` provenance: what ran (model, weights, preprocessing, versions), and the settings a
resumed run must share with the one it continues.

No torch, no Lightning: only the manifest and what zoo can know offline.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

from zoo import __version__
from zoo.manifest import Manifest
from zoo.weights.sources import source_of

# -- provenance ----------------------------------------------------------------------------------


def manifest_sha256(manifest: Manifest) -> tuple[str, str]:
    """``(sha256, of what)``: of the manifest file's bytes, or of its canonical JSON when in memory."""
    if manifest.file is not None and Path(manifest.file).is_file():
        return hashlib.sha256(Path(manifest.file).read_bytes()).hexdigest(), "file"
    text = json.dumps(manifest.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), "canonical-json"


def weights_info(manifest: Manifest, pretrained: bool) -> dict[str, Any]:
    """Where the weights came from: the manifest field, the location, and every file with its
    sha256 (and Hub commit). The weights source answers; after a load its files are on disk, so
    nothing is fetched and hashes come from zoo's verification records."""
    source = source_of(manifest)
    if source is None or not pretrained:
        return {"source": "none", "note": "random initialization"}
    files = source.files()
    return {
        "source": source.kind,
        "field": source.field,
        "location": source.describe(),
        "sha256": files[0].sha256 if len(files) == 1 else None,
        "revision": next((f.revision for f in files if f.revision), None),
        "files": [
            {
                "location": f.location,
                "file": f.filename,
                "revision": f.revision,
                "sha256": f.sha256,
            }
            for f in files
        ],
    }


_VERSIONED = (
    "torch",
    "torchvision",
    "timm",
    "transformers",
    "onnxruntime",
    "onnxruntime-gpu",
    "lightning",
    "pillow",
)


def versions() -> dict[str, str]:
    """Versions of zoo, Python and the libraries that shape the numbers."""
    found = {"zoo": __version__, "python": platform.python_version()}
    for package in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def fingerprint(
    manifest: Manifest,
    *,
    transform: Any,
    out_indices: Any,
    pretrained: bool,
    seed: int,
    fmt: str,
    precision: str | None,
    images: int,
    images_sha256: str,
) -> dict[str, Any]:
    """The settings that decide the numbers of a run: a resumed run must have the same ones.

    Batch size, devices, nodes and workers are not among them: a run may resume on
    other hardware.
    """
    digest, of_what = manifest_sha256(manifest)
    random_init = not pretrained or manifest.checkpoint is None
    return {
        "model": {
            "name": manifest.name,
            "manifest_sha256": digest,
            "manifest_sha256_of": of_what,
            "wrapper": manifest.wrapper.type,
            "pretrained": not random_init,
            "seed": seed if random_init else None,
        },
        "weights": weights_info(manifest, pretrained),
        "preprocessing": {
            "transform": repr(transform),
            **manifest.input.model_dump(mode="json"),
        },
        "output": {
            "kind": "feature_maps" if out_indices is not None else "embedding",
            "out_indices": list(out_indices) if isinstance(out_indices, tuple) else out_indices,
            "pooling": manifest.output.pooling,
            "format": fmt,
            "dtype": "float32",
        },
        "precision": precision or "32-true",
        "images": {"count": images, "keys_sha256": images_sha256},
    }


def provenance(
    record: dict[str, Any],
    index: dict[str, Any],
    *,
    manifest: Manifest,
    sources: list[str],
    skipped: list[dict[str, str]],
) -> dict[str, Any]:
    """``provenance.json``: the run's settings and sessions, the output, every skipped image."""
    run = record["run"]
    return {
        "created": now(),
        "model": {**run["model"], "manifest_file": str(manifest.file) if manifest.file else None},
        "weights": run["weights"],
        "preprocessing": run["preprocessing"],
        "output": {
            **run["output"],
            "index": "index.json",
            "rows": index["rows"],
            "shards": len(index["shards"]),
            "levels": index["levels"],
            "shapes": [level["shape"] for level in index["levels"]],
        },
        "precision": run["precision"],
        "sessions": record["sessions"],
        "images": {
            "sources": sources,
            "count": index["images"],
            "keys_sha256": run["images"]["keys_sha256"],
            "embedded": index["rows"],
            "skipped_reasons": skipped_reasons(skipped),
            "skipped": skipped,
        },
        "versions": versions(),
    }


def skipped_reasons(skipped: list[dict[str, str]]) -> dict[str, int]:
    """How many files were skipped for each kind of error (``ImageSizeError``: too elongated or
    too large; ``NonFiniteEmbeddingError``: a NaN row; ``UnidentifiedImageError``: unreadable)."""
    counts: dict[str, int] = {}
    for entry in skipped:
        kind = entry["error"].partition(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))
