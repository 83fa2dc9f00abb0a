"""Cutting a slide into tiles at a target scale, and where to read each tile from.

A tile is ``tile_size`` pixels square at ``target_mpp`` microns per pixel. On level 0 (at
the slide's own ``mpp``) it covers ``patch_size_level0 = round(tile_size * target_mpp / mpp)``
pixels; tiles start every ``round((tile_size - overlap) * target_mpp / mpp)`` level-0
pixels from the top-left corner, row by row, and only tiles lying wholly inside the slide
are cut. A tile is kept when at least ``MIN_TISSUE`` of its footprint on the tissue mask
is tissue. Coordinates are level-0 top-left corners ``(x, y)``, as TRIDENT and CLAM write
them.

Each tile is read from the coarsest pyramid level whose downsample is at most the wanted
one (``target_mpp / mpp``, so it never upsamples a level that has less detail than the
target where a finer one exists), ``ceil(patch_size_level0 / downsample)`` pixels square,
and resized to ``tile_size`` (bilinear, antialiased).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.embed.slides.open import SlideInfo

#: Fraction of a tile's footprint on the tissue mask that must be tissue for it to be kept.
MIN_TISSUE = 0.25
#: Downsamples this close to the wanted one count as equal (vendors round them).
TOLERANCE = 1e-3


@dataclass(frozen=True)
class Tiling:
    """A run's tiling: ``tile_size`` pixels at ``target_mpp``, ``overlap`` pixels of overlap (both
    at the target scale)."""

    target_mpp: float
    tile_size: int
    overlap: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_mpp": self.target_mpp,
            "tile_size": self.tile_size,
            "overlap": self.overlap,
            "min_tissue": MIN_TISSUE,
            "order": "row by row from the top-left corner; only tiles wholly inside the slide",
        }


@dataclass(frozen=True)
class SlideTiles:
    """One slide's tiles and how to read them.

    Attributes:
        coords: ``[N, 2]`` int64 level-0 top-left ``(x, y)`` of each kept tile.
        patch_size_level0: A tile's side on level 0 (pixels).
        step_level0: Distance between neighbouring tiles on level 0 (pixels).
        level: The pyramid level tiles are read from.
        read_size: A tile's side at that level (pixels), before resizing to ``tile_size``.
    """

    coords: np.ndarray
    patch_size_level0: int
    step_level0: int
    level: int
    read_size: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "tiles": len(self.coords),
            "patch_size_level0": self.patch_size_level0,
            "step_level0": self.step_level0,
            "read_level": self.level,
            "read_size": self.read_size,
        }


def best_level(downsamples: tuple[float, ...], wanted: float) -> int:
    """The coarsest level whose downsample is at most ``wanted`` (level 0 when none is)."""
    fitting = [i for i, d in enumerate(downsamples) if d <= wanted * (1 + TOLERANCE)]
    return max(fitting, key=lambda i: downsamples[i]) if fitting else 0


def cut(info: SlideInfo, tiling: Tiling, mask: np.ndarray) -> SlideTiles:
    """The tiles of a slide whose footprint on ``mask`` (the tissue of its thumbnail, which
    spans the whole slide) is at least ``MIN_TISSUE`` tissue."""
    scale = tiling.target_mpp / info.mpp
    size0 = max(1, round(tiling.tile_size * scale))
    step0 = max(1, round((tiling.tile_size - tiling.overlap) * scale))
    level = best_level(info.downsamples, scale)
    read_size = max(1, math.ceil(size0 / info.downsamples[level] - TOLERANCE))
    xs = np.arange(0, info.width - size0 + 1, step0, dtype=np.int64)
    ys = np.arange(0, info.height - size0 + 1, step0, dtype=np.int64)
    empty = np.zeros((0, 2), dtype=np.int64)
    if not len(xs) or not len(ys):
        return SlideTiles(empty, size0, step0, level, read_size)
    height, width = mask.shape
    sx, sy = width / info.width, height / info.height
    # Each tile's footprint on the mask, at least one mask pixel, summed with an integral image.
    x0 = np.minimum(np.floor(xs * sx).astype(np.int64), width - 1)
    x1 = np.maximum(np.ceil((xs + size0) * sx).astype(np.int64), x0 + 1)
    y0 = np.minimum(np.floor(ys * sy).astype(np.int64), height - 1)
    y1 = np.maximum(np.ceil((ys + size0) * sy).astype(np.int64), y0 + 1)
    x1, y1 = np.minimum(x1, width), np.minimum(y1, height)
    integral = np.zeros((height + 1, width + 1), dtype=np.int64)
    integral[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0), axis=1)
    inside = (
        integral[y1[:, None], x1[None, :]]
        - integral[y0[:, None], x1[None, :]]
        - integral[y1[:, None], x0[None, :]]
        + integral[y0[:, None], x0[None, :]]
    )
    area = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    keep_y, keep_x = np.nonzero(inside >= MIN_TISSUE * area)  # row-major: row by row
    coords = np.stack([xs[keep_x], ys[keep_y]], axis=1) if len(keep_x) else empty
    return SlideTiles(coords.astype(np.int64), size0, step0, level, read_size)


def tiling_for(
    manifest: Any, mpp: float | None, tile_size: int | None, overlap: int | None
) -> Tiling:
    """A run's tiling: ``--mpp`` or the entry's ``input.mpp``, ``--tile-size`` or its input size.

    Raises:
        UsageError: No scale (the entry states none and ``--mpp`` is not given), a tile size
            a fixed-size encoder does not take, or an overlap of a whole tile or more.
    """
    from zoo.errors import UsageError

    spec = manifest.input
    stated = spec.mpp.value if getattr(spec, "mpp", None) is not None else None
    if mpp is None:
        mpp = stated
    if mpp is None:
        raise UsageError(
            f"{manifest.name} does not state the microns per pixel it was trained at "
            "(input.mpp), so zoo cannot tell at which scale to tile slides: pass --mpp "
            "(0.5 for 20x, 0.25 for 40x)"
        )
    target = float(mpp)
    if target <= 0:
        raise UsageError(f"--mpp {mpp}: must be positive")
    height, width = spec.size
    if tile_size is None:
        if height != width:
            raise UsageError(
                f"{manifest.name} takes {height}x{width} inputs; tiles are square: pass --tile-size"
            )
        tile_size = int(height)
    if tile_size < 1:
        raise UsageError(f"--tile-size {tile_size}: must be at least 1")
    # A model that takes one input size only gets each whole tile resized to it (its authors'
    # evaluation resize; no crop, so the tile's field of view is kept): TRIDENT's patch_size.
    overlap = overlap or 0
    if not 0 <= overlap < tile_size:
        raise UsageError(f"--overlap {overlap}: must be at least 0 and less than the tile size")
    return Tiling(target, tile_size, overlap)
