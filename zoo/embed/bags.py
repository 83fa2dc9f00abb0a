"""Bags of tile features on disk, and whether a model may take them (``zoo embed --from-features``).

Two layouts are read:

- TRIDENT's patch features, one ``<slide>.h5`` per slide (TRIDENT's ``WSI.extract_patch_features``
  and ``IO.coords_to_h5`` at https://github.com/mahmoodlab/TRIDENT/tree/
  a91fa8490e0210ebbbe58452c3babe009e0ab7ca): dataset ``features`` ``[N, D]`` with attributes
  ``name`` and ``encoder`` (TRIDENT's patch-encoder name, ``conch_v15``), dataset ``coords``
  ``[N, 2]`` (level-0 ``x, y``) with attributes ``patch_size`` (pixels at the target
  magnification), ``patch_size_level0``, ``target_magnification``, ``level0_magnification``...
- zoo's own output (``zoo embed NAME ... --out DIR``, read with :func:`zoo.read_embeddings`): one
  folder per slide, its ``embedding`` rows the tiles, ``provenance.json`` naming the entry; a
  level ``coords`` ``[N, 2]`` and ``provenance.json``'s ``tiling`` (``mpp``, ``tile_size``,
  ``patch_size_level0``) where the run recorded them.

The pairing: the features must come from an entry the slide encoder names in ``pairs_with``
(TRIDENT's encoder name is matched through the entries' ``trident/`` aliases), be as wide as
``input.feature_dim``, and have been cut at its scale (``input.mpp``, within 2%, TRIDENT's
magnification read as ``10 / magnification`` microns per pixel) and ``tile_size``. Anything else
is a :class:`~zoo.errors.TilesError` naming what was expected; ``check=False`` (the command line's
``--no-pairing-check``) skips the encoder and scale checks for features whose files do not say
(the width is always checked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import TilesError, UsageError, require
from zoo.manifest import Manifest, TilesInputSpec

#: Relative difference of two scales still taken as the same (TRIDENT's magnifications are
#: rounded: 20x is 0.5 um/px by convention, scanners give 0.48 to 0.52).
MPP_TOLERANCE = 0.02


@dataclass
class Bag:
    """The tile features of one slide, and what their file says about them.

    Attributes:
        name: The slide's name (the file stem, or the zoo output folder's name).
        source: The file or folder read.
        features: ``[N, D]`` float32.
        coords: ``[N, 2]`` level-0 pixel ``x, y``, when stored.
        encoder: The patch encoder that made them (a TRIDENT name or a zoo entry), when stated.
        layout: ``trident`` or ``zoo``.
        mpp: Microns per pixel of the tiles, when stated.
        tile_size: Tile size in pixels at ``mpp``, when stated.
        patch_size_level0: Tile size in level-0 pixels, when stated.
        coords_attrs: TRIDENT's ``coords`` attributes, carried to the output.
    """

    name: str
    source: Path
    features: np.ndarray
    coords: np.ndarray | None = None
    encoder: str | None = None
    layout: str = "trident"
    mpp: float | None = None
    tile_size: int | None = None
    patch_size_level0: int | None = None
    coords_attrs: dict[str, Any] = field(default_factory=dict)


def _h5py() -> Any:
    return require("h5py", package="h5py", extra="embed", purpose="TRIDENT's h5 features")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _number(attrs: dict[str, Any], key: str) -> float | None:
    value = attrs.get(key)
    try:
        return None if value in (None, "None") else float(value)
    except (TypeError, ValueError):
        return None


def read_trident(path: Path) -> Bag:
    """One TRIDENT patch-features file."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            if "features" not in f:
                raise TilesError(
                    str(path), "no dataset `features` (TRIDENT's tile features [N, D])"
                )
            features = np.asarray(f["features"][()], dtype=np.float32)
            feature_attrs = {k: _plain(v) for k, v in f["features"].attrs.items()}
            coords = np.asarray(f["coords"][()]) if "coords" in f else None
            coords_attrs = (
                {k: _plain(v) for k, v in f["coords"].attrs.items()} if "coords" in f else {}
            )
    except OSError as exc:
        raise TilesError(str(path), f"not a readable h5 file: {exc}") from None
    if features.ndim != 2:
        raise TilesError(str(path), f"`features` is {list(features.shape)}, not [N, D]")
    if coords is not None and coords.shape != (features.shape[0], 2):
        raise TilesError(
            str(path), f"`coords` is {list(coords.shape)} for {features.shape[0]} tiles, not [N, 2]"
        )
    magnification = _number(coords_attrs, "target_magnification")
    # zoo's own h5 files also state the scale exactly (`target_mpp`); TRIDENT's give the
    # magnification only.
    mpp = _number(coords_attrs, "target_mpp") or (10.0 / magnification if magnification else None)
    encoder = feature_attrs.get("encoder")
    size0 = _number(coords_attrs, "patch_size_level0")
    size = _number(coords_attrs, "patch_size")
    return Bag(
        name=path.stem,
        source=path,
        features=features,
        coords=coords,
        encoder=None if encoder in (None, "None", "") else str(encoder),
        layout="trident",
        mpp=mpp,
        tile_size=int(size) if size else None,
        patch_size_level0=int(size0) if size0 else None,
        coords_attrs=coords_attrs,
    )


def _provenance(folder: Path) -> dict[str, Any]:
    try:
        found = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def is_slide_run(folder: Path) -> bool:
    """A ``zoo embed`` output of whole-slide images: one bag per slide."""
    try:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(index, dict) and "slides" in index


def read_zoo_slides(folder: Path) -> list[Bag]:
    """The bags of a ``zoo embed`` run over slides (any format): one per slide, with its
    coordinates, and the encoder and tiling its provenance records."""
    from zoo.embed.reader import read_embeddings

    emb = read_embeddings(folder)
    provenance = _provenance(folder)
    slides = provenance.get("slides") or {}
    tiling = slides.get("tiling") or {}
    per_slide = {s.get("name"): s for s in slides.get("slides") or [] if isinstance(s, dict)}
    model = (provenance.get("model") or {}).get("name")
    bags = []
    for name in emb.slides:
        tiles = emb.slide(name)
        size0 = (per_slide.get(name) or {}).get("patch_size_level0")
        bags.append(
            Bag(
                name=name,
                source=folder,
                features=tiles.features.numpy().astype(np.float32, copy=False),
                coords=tiles.coords.numpy().astype(np.int64, copy=False),
                encoder=str(model) if model else None,
                layout="zoo",
                mpp=_number(tiling, "target_mpp"),
                tile_size=int(tiling["tile_size"]) if tiling.get("tile_size") else None,
                patch_size_level0=int(size0) if size0 else None,
            )
        )
    return bags


def read_zoo(folder: Path) -> Bag:
    """One ``zoo embed`` output folder: the tiles of one slide."""
    from zoo.embed.reader import read_embeddings

    emb = read_embeddings(folder)
    if "embedding" not in emb.levels:
        raise TilesError(str(folder), f"no `embedding` level (it holds {emb.levels})")
    features = torch_rows(emb, "embedding")
    coords = torch_rows(emb, "coords").astype(np.int64) if "coords" in emb.levels else None
    provenance = _provenance(folder)
    tiling = provenance.get("tiling") or {}
    model = (provenance.get("model") or {}).get("name")
    return Bag(
        name=folder.name,
        source=folder,
        features=features,
        coords=coords,
        encoder=str(model) if model else None,
        layout="zoo",
        mpp=_number(tiling, "mpp"),
        tile_size=int(tiling["tile_size"]) if tiling.get("tile_size") else None,
        patch_size_level0=int(tiling["patch_size_level0"])
        if tiling.get("patch_size_level0")
        else None,
    )


def torch_rows(emb: Any, level: str) -> np.ndarray:
    """Every row of one level of a zoo output, shard after shard."""
    parts = [shard.tensor(level).numpy() for shard in emb.shards]
    if not parts:
        return np.zeros((0, *emb.shapes[level]), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)


def find_bags(folder: Path) -> list[Path]:
    """The bags under ``folder``: its ``*.h5`` files, or zoo output folders (``folder`` itself
    or its subfolders with an ``index.json``), in name order."""
    if not folder.is_dir():
        raise UsageError(f"--from-features {folder}: not a folder")
    if (folder / "index.json").is_file():
        return [folder]  # one slide's tiles, or a run over slides (one bag per slide)
    found = sorted(p for p in folder.iterdir() if p.suffix == ".h5" and p.is_file())
    found += sorted(p for p in folder.iterdir() if p.is_dir() and (p / "index.json").is_file())
    if not found:
        raise UsageError(
            f"--from-features {folder}: no TRIDENT features (*.h5) and no zoo embed output "
            "(a folder with index.json) in it"
        )
    return found


def read_bags(path: Path) -> list[Bag]:
    """A TRIDENT file, a zoo output folder of one slide's tiles, or a zoo run over slides."""
    if path.suffix == ".h5":
        return [read_trident(path)]
    return read_zoo_slides(path) if is_slide_run(path) else [read_zoo(path)]


def accepted_encoders(names: list[str], catalog: Any) -> dict[str, str]:
    """Every name a bag's ``encoder`` may carry for features of these entries -> the entry:
    the entry's name and its ``trident/`` aliases (TRIDENT writes its own names)."""
    accepted: dict[str, str] = {}
    for name in names:
        accepted[name] = name
        try:
            entry = catalog.get(name)
        except LookupError:
            continue
        for alias in entry.aliases:
            if alias.startswith("trident/"):
                accepted[alias.removeprefix("trident/")] = name
    return accepted


def check_pairing(
    manifest: Manifest,
    bag: Bag,
    catalog: Any,
    *,
    patch_entry: Manifest | None = None,
    check: bool = True,
) -> None:
    """Refuse a bag the model was not trained on; see the module's docstring.

    Args:
        manifest: The slide encoder, or the patch encoder whose features are pooled.
        bag: The bag read.
        catalog: Resolves the entries named in ``pairs_with``.
        patch_entry: ``--slide-pool``: the patch encoder itself (its own features are wanted).
        check: Check the encoder and the scale (the width is always checked).
    """
    spec = manifest.input
    mpp: float | None
    if isinstance(spec, TilesInputSpec):
        wanted, width = list(manifest.pairs_with), spec.feature_dim
        mpp, tile = spec.mpp.value, spec.tile_size
    else:
        assert patch_entry is not None
        wanted, width = [patch_entry.name], patch_entry.output.embedding_dim
        scale = getattr(patch_entry.input, "mpp", None)
        mpp, tile = (scale.value if scale is not None else None), None
    where = f"{bag.source}"
    expect = f"{width}-d features of {' or '.join(wanted)}"
    if bag.features.shape[1] != width:
        raise TilesError(
            manifest.name,
            f"{where} holds {bag.features.shape[1]}-d tile features; it takes {expect}",
            expect,
        )
    if not check:
        return
    accepted = accepted_encoders(wanted, catalog)
    if bag.encoder is None:
        raise TilesError(
            manifest.name,
            f"{where} does not say which patch encoder made its features; it takes {expect} "
            "(pass --no-pairing-check if you know they are)",
            expect,
        )
    if bag.encoder not in accepted:
        raise TilesError(
            manifest.name,
            f"{where} holds features of {bag.encoder}; it takes {expect}",
            expect,
        )
    if mpp is not None:
        if bag.mpp is None:
            raise TilesError(
                manifest.name,
                f"{where} does not say the tiles' scale; it takes tiles at {mpp:g} mpp "
                "(pass --no-pairing-check if you know they are)",
                expect,
            )
        if abs(bag.mpp - mpp) > MPP_TOLERANCE * mpp:
            raise TilesError(
                manifest.name,
                f"{where} holds tiles at {bag.mpp:g} mpp; it takes tiles at {mpp:g} mpp "
                f"({10 / mpp:g}x)",
                expect,
            )
    if tile is not None and bag.tile_size is not None and bag.tile_size != tile:
        raise TilesError(
            manifest.name,
            f"{where} holds {bag.tile_size} px tiles; it takes {tile} px tiles at {mpp:g} mpp",
            expect,
        )
