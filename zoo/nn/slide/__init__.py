"""Slide encoders: a bag of tile features (and their coordinates) in, one slide embedding out.

Each builder returns a module whose ``forward(features [B, N, D], coords [B, N, 2] | None,
patch_size_level0 | None)`` returns ``[B, E]``, with parameter names as in the authors' released
checkpoint, so the checkpoint loads strictly. Coordinates are level-0 pixels (a tile's corner);
``patch_size_level0`` is the tile's side in level-0 pixels.
"""

from zoo.nn.slide.gigapath import GigaPathSlide, gigapath_slide
from zoo.nn.slide.moozy import Moozy, moozy
from zoo.nn.slide.prism import Prism, prism
from zoo.nn.slide.titan import Titan, titan

__all__ = [
    "GigaPathSlide",
    "Moozy",
    "Prism",
    "Titan",
    "gigapath_slide",
    "moozy",
    "prism",
    "titan",
]
