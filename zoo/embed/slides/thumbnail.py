"""The picture of a slide's tiling: its thumbnail with the tissue outline (green, drawn last) and each
tile's square (blue), ``<out>/thumbnails/<slide>.png``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo import atomic
from zoo.embed.folder import THUMBNAILS
from zoo.embed.slides.tissue import outline

__all__ = ["THUMBNAILS", "draw", "write_png"]
TISSUE_COLOUR = (0, 200, 0)
TILE_COLOUR = (30, 60, 230)


def draw(
    rgb: np.ndarray, mask: np.ndarray, coords: np.ndarray, size0: int, width: int, height: int
) -> np.ndarray:
    """The thumbnail ``rgb`` with the outline of ``mask`` and the squares of the tiles at
    ``coords`` (level-0 top-left, ``size0`` level-0 pixels wide) drawn on it."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(rgb)
    pen = ImageDraw.Draw(image)
    sx, sy = rgb.shape[1] / width, rgb.shape[0] / height
    for x, y in coords.tolist():
        box = (x * sx, y * sy, (x + size0) * sx - 1, (y + size0) * sy - 1)
        pen.rectangle(box, outline=TILE_COLOUR)
    picture = np.array(image)
    picture[outline(mask)] = TISSUE_COLOUR  # over the tiles: the tissue's edge stays visible
    return picture


def write_png(path: Path, picture: np.ndarray) -> None:
    """``path`` as a PNG, atomically and never through a link."""
    from PIL import Image

    def write(tmp: Path) -> None:
        Image.fromarray(picture).save(tmp, format="PNG")

    try:
        atomic.write_with(path, write, path.with_name(path.name + ".tmp"))
    except OSError as exc:
        raise atomic.write_error(path, exc) from None
