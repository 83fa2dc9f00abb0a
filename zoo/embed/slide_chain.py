"""``zoo embed <slide encoder> SLIDE... --out OUT``: from whole-slide images to slide embeddings.

Two steps, each the command a user could run alone: the slide encoder's first paired patch
encoder (``pairs_with``) over the slides at the slide encoder's scale (``input.mpp``) and tile
size (``input.tile_size``), into ``OUT/tiles`` (:mod:`zoo.embed.slides`: the tile features,
coordinates, thumbnails, per-slide resume); then the slide encoder over those tiles into
``OUT/slides`` (:mod:`zoo.embed.slide_run`, the pairing checked from the tiles' provenance).
``--mpp``, ``--tile-size`` and ``--format h5`` apply as for the two steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from zoo.errors import UsageError
from zoo.manifest import Manifest, TilesInputSpec

TILES = "tiles"
SLIDES = "slides"


def is_slide_encoder(manifest: Manifest) -> bool:
    """A slide encoder takes a bag of tile features (``input.kind: tiles``)."""
    return isinstance(manifest.input, TilesInputSpec)


def run_chain(
    config: Any, manifest: Manifest, report: Callable[[str], None] | None = None
) -> dict[str, Any] | None:
    """Tiles, then slide embeddings (see the module docstring); ``None`` on a process that is
    not global rank 0 (rank 0 runs the slide encoder and reports).

    Raises:
        UsageError: Options that only make sense for images or tile features.
    """
    from zoo.embed.runner import run
    from zoo.embed.slide_run import SlideConfig, run_slides

    spec = manifest.input
    assert isinstance(spec, TilesInputSpec)
    if config.out_indices is not None:
        raise UsageError(f"{manifest.name} is a slide encoder: --out-indices does not apply")
    if config.fmt == "parquet":
        raise UsageError("a slide encoder's run writes safetensors or h5 (--format)")
    patch = manifest.pairs_with[0]
    tiles = dataclasses.replace(
        config,
        name=patch,
        out=config.out / TILES,
        mpp=config.mpp if config.mpp is not None else spec.mpp.value,
        tile_size=config.tile_size if config.tile_size is not None else spec.tile_size,
        slides=True,
    )
    if report is not None:
        report(
            f"{manifest.name}: tiles with {patch} at {tiles.mpp:g} µm/px, {tiles.tile_size} px, "
            f"into {tiles.out}"
        )
    tile_summary = run(tiles, report=report)
    if tile_summary is None:
        return None
    slide_summary = run_slides(
        SlideConfig(
            name=manifest.name,
            features=tiles.out,
            out=config.out / SLIDES,
            fmt=config.fmt,
            pretrained=config.pretrained,
            trust_remote_code=config.trust_remote_code,
            overwrite=config.overwrite,
            progress=config.progress,
            seed=config.seed,
        ),
        report=report,
    )
    return {"tiles": tile_summary, "slides": slide_summary}
