"""Slide encoders: zoo's blocks that turn a bag of tile features into one slide embedding.

The contract every module here keeps (a manifest with ``input.kind: tiles`` names a builder of
this package as its ``function`` wrapper's ``path``):

- ``forward(features, coords=None, patch_size_level0=None) -> Tensor[B, E]``: ``features`` is
  ``[B, N, D]`` (``D`` = the manifest's ``input.feature_dim``), ``coords`` the tiles' level-0
  pixel ``(x, y)`` ``[B, N, 2]`` (``None`` where the encoder does not read them,
  ``input.coords: unused``), ``patch_size_level0`` the tile size in level-0 pixels; ``E`` is the
  manifest's ``output.embedding_dim``.
- ``state_dict()`` keys are the authors' released checkpoint keys (or reached from them with the
  manifest's ``checkpoint.key`` / ``remap``), so the checkpoint loads strictly.

:class:`zoo.loading.tiles.TilesModel` checks the bag (width, coordinates) before calling it.
"""

from zoo.nn.slide.abmil import AbmilSlide, abmil
from zoo.nn.slide.chief import ChiefSlide, chief
from zoo.nn.slide.cobra import Cobra, cobra
from zoo.nn.slide.feather import FeatherSlide, feather
from zoo.nn.slide.gigapath import GigaPathSlide, gigapath_slide
from zoo.nn.slide.madeleine import Madeleine, madeleine
from zoo.nn.slide.moozy import Moozy, moozy
from zoo.nn.slide.prism import Prism, prism
from zoo.nn.slide.tangle import TangleSlide, tangle
from zoo.nn.slide.titan import Titan, titan

__all__ = [
    "AbmilSlide",
    "ChiefSlide",
    "Cobra",
    "FeatherSlide",
    "GigaPathSlide",
    "Madeleine",
    "Moozy",
    "Prism",
    "TangleSlide",
    "Titan",
    "abmil",
    "chief",
    "cobra",
    "feather",
    "gigapath_slide",
    "madeleine",
    "moozy",
    "prism",
    "tangle",
    "titan",
]
