"""``zoo embed NAME --from-features DIR``: one slide embedding per bag of tile features.

NAME is a slide encoder (``input.kind: tiles``), or a patch encoder with ``--slide-pool mean|max``
(the mean or the max over the tiles of each feature: TRIDENT's ``mean-<encoder>`` and
raw2features' mean/max baselines, no manifest needed). Every bag is checked against the model
first (:mod:`zoo.embed.bags`), so nothing is written when one does not fit.

The output folder (new, or empty, or zoo's own earlier output of this command with
``overwrite``) gets ``provenance.json`` (the model, weights, pooling, every slide and its
source, in row order) and, by format:

- ``safetensors``: ``slide_embeddings.safetensors``, one tensor ``slide_embeddings``
  ``[slides, E]`` float32, rows in the order of ``provenance.json``'s ``slides``;
- ``h5``: TRIDENT's slide-feature layout, one ``<slide>.h5`` per slide with dataset ``features``
  ``[E]`` (attributes ``name``, ``encoder``) and the tiles' ``coords`` with their attributes as
  read (TRIDENT's ``WSI.extract_slide_features`` at a91fa8490e0210ebbbe58452c3babe009e0ab7ca).
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.atomic import LinkInTheWay, write_error, write_file, write_with
from zoo.embed.bags import Bag, check_pairing, find_bags, read_bags
from zoo.errors import OutputFolderError, UsageError
from zoo.manifest import TilesInputSpec

FORMAT = "zoo-slide-embeddings"
PROVENANCE = "provenance.json"
SAFETENSORS = "slide_embeddings.safetensors"
LEVEL = "slide_embeddings"


@dataclass
class SlideConfig:
    """What ``zoo embed --from-features`` was asked to do."""

    name: str
    features: Path
    out: Path
    slide_pool: str | None = None
    fmt: str = "safetensors"
    pretrained: bool = True
    trust_remote_code: bool = False
    device: str | None = None
    check_pairing: bool = True
    overwrite: bool = False
    progress: bool = True
    seed: int = 0
    """The seed of a random initialisation (``pretrained=False``)."""


def _claim(out: Path, overwrite: bool) -> list[str]:
    """Make sure ``out`` is ours to write; the files an earlier run wrote (to replace)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputFolderError(f"--out {out}: not a folder", str(out))
    if not out.exists():
        return []
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return []
    record: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        record = json.loads((out / PROVENANCE).read_text(encoding="utf-8"))
    ours = set(record.get("files", [])) | {PROVENANCE} if record.get("format") == FORMAT else set()
    foreign = [e for e in entries if e not in ours or (out / e).is_symlink()]
    if foreign or not overwrite:
        what = f"{foreign[0]} is not zoo's" if foreign else "it holds an earlier run's output"
        fix = "choose a new or empty folder" if foreign else "pass --overwrite to replace it"
        raise OutputFolderError(f"--out {out}: {what}; {fix}", str(out), foreign)
    return entries


def _model(config: SlideConfig) -> tuple[Any, Any, Any]:
    """The model called per bag, its manifest, and the patch entry of ``--slide-pool``."""
    import zoo
    from zoo.catalog.reader import Catalog

    catalog = Catalog()
    manifest = catalog.resolve(config.name)
    tiles = isinstance(manifest.input, TilesInputSpec)
    if tiles and config.slide_pool:
        raise UsageError(
            f"{manifest.name} is a slide encoder: it makes the slide embedding itself; drop "
            "--slide-pool (it pools a patch encoder's features)"
        )
    if not tiles and not config.slide_pool:
        raise UsageError(
            f"{manifest.name} is a patch encoder: pass --slide-pool mean or max to pool its tile "
            "features, or name a slide encoder that takes them"
        )
    if not tiles:
        return None, manifest, catalog
    if not config.pretrained:
        import torch

        torch.manual_seed(config.seed)  # a random init is reproducible, as for zoo embed
    model = zoo.load(
        manifest,
        pretrained=config.pretrained,
        device=config.device,
        trust_remote_code=config.trust_remote_code,
    )
    return model, manifest, catalog


def _embed(model: Any, bag: Bag, pool: str | None, device: str | None) -> np.ndarray:
    import torch

    x = torch.from_numpy(bag.features)
    if model is None:
        return (x.mean(dim=0) if pool == "mean" else x.amax(dim=0)).numpy()
    target = device or "cpu"
    coords = None if bag.coords is None else torch.from_numpy(bag.coords).long()[None].to(target)
    with torch.inference_mode():
        out = model(x[None].to(target), coords=coords, patch_size_level0=bag.patch_size_level0)
    return np.asarray(out[0].float().cpu().numpy(), dtype=np.float32)


def run_slides(config: SlideConfig, report: Any = None) -> dict[str, Any]:
    """Embed every bag under ``config.features``; returns the summary the command prints."""
    model, manifest, catalog = _model(config)
    patch = manifest if model is None else None
    paths = find_bags(config.features)
    earlier = _claim(config.out, config.overwrite)
    bags = []
    for path in paths:  # every bag checked before anything is computed or written
        for bag in read_bags(path):
            check_pairing(manifest, bag, catalog, patch_entry=patch, check=config.check_pairing)
            bags.append(bag)
    names = [b.name for b in bags]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UsageError(f"--from-features {config.features}: two bags are named {twice[0]}")
    rows = []
    for i, bag in enumerate(bags, start=1):
        rows.append(_embed(model, bag, config.slide_pool, config.device))
        if config.progress:
            sys.stderr.write(f"\rslides {i}/{len(bags)}")
    if config.progress and bags:
        sys.stderr.write("\n")
    files = _write(config, manifest, bags, rows, earlier)
    summary = {
        "name": manifest.name,
        "kind": "slides",
        "slides": len(bags),
        "embedding_dim": int(rows[0].shape[0]) if rows else None,
        "pooling": config.slide_pool or "slide encoder",
        "format": config.fmt,
        "out": str(config.out),
        "files": len(files),
        "provenance": str(config.out / PROVENANCE),
    }
    if report is not None and not rows:
        report(f"no bags under {config.features}")
    return summary


def _write(
    config: SlideConfig, manifest: Any, bags: list[Bag], rows: list[np.ndarray], earlier: list[str]
) -> list[str]:
    out = config.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        if config.fmt == "h5":
            files = [
                _write_h5(out, manifest, bag, row) for bag, row in zip(bags, rows, strict=True)
            ]
        else:
            from safetensors.numpy import save_file

            matrix = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
            write_with(out / SAFETENSORS, lambda tmp: save_file({LEVEL: matrix}, str(tmp)))
            files = [SAFETENSORS]
        for name in earlier:
            if name not in files and name != PROVENANCE:
                (out / name).unlink()
        record = {
            "format": FORMAT,
            "model": {"name": manifest.name, "pretrained": config.pretrained},
            "pooling": config.slide_pool or "slide encoder",
            "pairing_checked": config.check_pairing,
            "output": {"format": config.fmt, "level": LEVEL, "dtype": "float32"},
            "slides": [
                {
                    "name": b.name,
                    "source": str(b.source),
                    "tiles": int(b.features.shape[0]),
                    "encoder": b.encoder,
                    "mpp": b.mpp,
                }
                for b in bags
            ],
            "files": files,
        }
        write_file(out / PROVENANCE, (json.dumps(record, indent=2) + "\n").encode())
    except LinkInTheWay as exc:
        raise OutputFolderError(f"--out {out}: {exc}", str(out)) from None
    except OSError as exc:
        raise write_error(out, exc) from None
    return files


def _write_h5(out: Path, manifest: Any, bag: Bag, row: np.ndarray) -> str:
    import h5py

    name = f"{bag.name}.h5"

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            features = f.create_dataset("features", data=row.astype(np.float32))
            features.attrs["name"] = bag.name
            features.attrs["encoder"] = manifest.name
            if bag.coords is not None:
                coords = f.create_dataset("coords", data=bag.coords.astype(np.int64))
                for key, value in bag.coords_attrs.items():
                    coords.attrs[key] = value

    write_with(out / name, write)
    return name
