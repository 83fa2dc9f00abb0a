"""Planning one process's slides: open each, read its scale, find its tissue, cut its tiles.

Done before the data loader starts (a thumbnail per slide, cheap next to embedding its
tiles); a slide that cannot be opened, has no scale or yields no tile is a failure with its
reason, and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.embed.slides.dataset import SlideRead
from zoo.embed.slides.open import SlideError, SlideInfo, open_slide, slide_info
from zoo.embed.slides.thumbnail import draw, write_png
from zoo.embed.slides.tiling import MIN_TISSUE, SlideTiles, Tiling, cut
from zoo.embed.slides.tissue import thumbnail, tissue_mask


@dataclass
class SlidePlan:
    """One slide of a process: its number in the run, its tiles, and what was found."""

    number: int
    key: str
    name: str
    path: Path
    info: SlideInfo
    tiles: SlideTiles
    threshold: int
    tissue_fraction: float

    def read(self, tiling: Tiling) -> SlideRead:
        return SlideRead(str(self.path), self.tiles.level, self.tiles.read_size, tiling.tile_size)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "slide": self.info.as_dict(),
            **self.tiles.as_dict(),
            "tissue": {
                "saturation_threshold": self.threshold,
                "fraction_of_thumbnail": round(self.tissue_fraction, 6),
            },
        }


def look(path: Path, slide_mpp: float | None) -> tuple[SlideInfo, np.ndarray, np.ndarray, int]:
    """A slide's info, thumbnail, tissue mask and saturation threshold.

    Raises:
        SlideError: It cannot be opened or read, or states no scale.
    """
    slide = open_slide(path)
    try:
        info = slide_info(slide, slide_mpp)
        try:
            picture = thumbnail(slide)
        except Exception as exc:  # OpenSlideError, a damaged tile: the slide's reason
            raise SlideError(f"{type(exc).__name__}: {exc} (reading the thumbnail)") from None
    finally:
        slide.close()
    mask, threshold = tissue_mask(picture)
    return info, picture, mask, threshold


def plan(
    number: int,
    key: str,
    name: str,
    path: Path,
    tiling: Tiling,
    slide_mpp: float | None,
    picture: Path | None = None,
) -> SlidePlan:
    """The tiles of one slide; with ``picture``, its thumbnail with the tissue and the tiles
    drawn is written there (from the thumbnail read here: the slide's is read once).

    Raises:
        SlideError: It cannot be read, states no scale, or has no tile with tissue.
        OutputWriteError: The picture cannot be written.
    """
    info, rgb, mask, threshold = look(path, slide_mpp)
    tiles = cut(info, tiling, mask)
    if not len(tiles.coords):
        found = f"{mask.mean():.1%} of the thumbnail is tissue"
        raise SlideError(
            f"NoTissueError: no tile of {tiling.tile_size} px at {tiling.target_mpp} µm/px is at "
            f"least {MIN_TISSUE:.0%} tissue ({found}; a slide of "
            f"{info.width}x{info.height} px at {info.mpp} µm/px)"
        )
    if picture is not None:
        size0 = tiles.patch_size_level0
        write_png(picture, draw(rgb, mask, tiles.coords, size0, info.width, info.height))
    return SlidePlan(number, key, name, path, info, tiles, threshold, float(mask.mean()))
