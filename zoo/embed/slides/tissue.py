"""Finding tissue on a slide's thumbnail: deterministic, numpy only.

The method (``TISSUE_METHOD``, recorded in the provenance):

1. The thumbnail (longest side ``THUMBNAIL`` pixels, OpenSlide's ``get_thumbnail``, the
   slide's background white) is taken to HSV saturation, ``(max - min) / max`` of R, G, B
   on 0..255. Glass is white or grey, so its saturation is low; stained tissue is coloured.
2. Otsu's threshold on the saturation histogram (256 bins; the threshold that maximises the
   between-class variance), but never below ``MIN_SATURATION``, so that a slide of glass
   alone (where Otsu splits noise) yields no tissue rather than noise.
3. A binary closing then an opening with a ``(2 * RADIUS + 1)``-pixel square: fills small
   holes in tissue, then removes specks smaller than the square.

A tile is kept when at least ``MIN_TISSUE`` of its footprint on the thumbnail is tissue
(:mod:`zoo.embed.slides.tiling`).
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import numpy as np

#: Longest side of the thumbnail tissue is found on (pixels).
THUMBNAIL = 1024
#: Saturation (0..255) below which a pixel is never tissue, whatever Otsu says.
MIN_SATURATION = 20
#: Half the side of the square of the closing and the opening (thumbnail pixels).
RADIUS = 2
TISSUE_METHOD = {
    "name": "otsu-saturation",
    "thumbnail_longest_side": THUMBNAIL,
    "min_saturation": MIN_SATURATION,
    "closing_then_opening_square": 2 * RADIUS + 1,
}


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation of an ``[H, W, 3]`` uint8 image, on 0..255 (uint8)."""
    rgb = rgb.astype(np.int32)
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    sat = np.where(high > 0, (high - low) * 255 // np.maximum(high, 1), 0)
    return sat.astype(np.uint8)


def otsu(values: np.ndarray) -> int:
    """Otsu's threshold of uint8 values: pixels ``> t`` are the upper class."""
    hist = np.bincount(values.reshape(-1), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 255
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(hist)  # pixels <= t
    mass = np.cumsum(hist * levels)
    upper = total - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = mass / weight
        mean_high = (mass[-1] - mass) / upper
        between = weight * upper * (mean_low - mean_high) ** 2
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0, neginf=-1.0)
    return int(np.argmax(between))


def _filter(mask: np.ndarray, radius: int, op: Any) -> np.ndarray:
    """Dilation (``np.maximum``) or erosion (``np.minimum``) with a square, one axis after the
    other (a square is separable); outside the image is glass."""
    if radius == 0:
        return mask
    out = np.pad(mask, radius, constant_values=False)
    width = 2 * radius + 1
    rows = out.shape[0] - 2 * radius
    out = reduce(op, (out[k : k + rows] for k in range(width)))  # [H, W + 2r]
    cols = out.shape[1] - 2 * radius
    return reduce(op, (out[:, k : k + cols] for k in range(width)))


def morphology(mask: np.ndarray, radius: int = RADIUS) -> np.ndarray:
    """Closing then opening of a boolean mask with a square of side ``2 * radius + 1``."""
    closed = _filter(_filter(mask, radius, np.maximum), radius, np.minimum)
    return _filter(_filter(closed, radius, np.minimum), radius, np.maximum)


def tissue_mask(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """The tissue of a thumbnail (boolean ``[H, W]``) and the saturation threshold used."""
    sat = saturation(rgb)
    threshold = max(otsu(sat), MIN_SATURATION)
    return morphology(sat > threshold), threshold


def thumbnail(slide: Any) -> np.ndarray:
    """The slide's thumbnail (longest side ``THUMBNAIL``), RGB uint8 ``[H, W, 3]``."""
    width, height = slide.dimensions
    scale = THUMBNAIL / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(slide.get_thumbnail(size).convert("RGB"))


def outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` on its border (tissue next to glass)."""
    return mask & ~_filter(mask, 1, np.minimum)
