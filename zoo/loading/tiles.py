"""Slide encoders: the output contract for a bag of tile features (``input.kind: tiles``).

``model(features, coords=None, patch_size_level0=None)`` takes the features of a slide's
tiles ``[B, N, D]`` (``D == input.feature_dim``, the paired patch encoder's embedding width),
their level-0 pixel coordinates ``[B, N, 2]`` (``x, y`` of each tile's top-left corner, as
TRIDENT stores them) and the tile size in level-0 pixels, and returns the slide embedding
``[B, output.embedding_dim]``. The module a manifest builds (a :mod:`zoo.nn.slide` builder)
is called ``module(features, coords=coords, patch_size_level0=patch_size_level0)``.

A slide encoder has no image preprocessing: :attr:`TilesModel.preprocess` raises, naming the
patch encoder whose features it takes.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.errors import ContractError, TilesError, UsageError
from zoo.loading.model import ZooModel
from zoo.manifest import Manifest, TilesInputSpec

#: Tiles in the bag the build check runs (``zoo validate --build``).
CHECK_TILES = 16


def is_tiles(manifest: Manifest) -> bool:
    """Whether the manifest is a slide encoder (``input.kind: tiles``)."""
    return isinstance(manifest.input, TilesInputSpec)


def _spec(manifest: Manifest) -> TilesInputSpec:
    spec = manifest.input
    if not isinstance(spec, TilesInputSpec):
        raise TypeError(f"{manifest.name} is not a slide encoder")
    return spec


def expected(manifest: Manifest) -> str:
    """What a slide encoder takes, in words: ``768-d features of pathology/x at 0.5 mpp``."""
    spec = _spec(manifest)
    pairs = " or ".join(manifest.pairs_with) or "its patch encoder"
    return (
        f"{spec.feature_dim}-d tile features of {pairs} ({spec.tile_size} px tiles at "
        f"{spec.mpp.value:g} mpp)"
    )


def check_bag(
    manifest: Manifest,
    features: Any,
    coords: Any = None,
    patch_size_level0: Any = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The bag as the module takes it, or a :class:`~zoo.errors.TilesError` saying what was
    expected: features ``[B, N, D]`` floating, coordinates ``[B, N, 2]`` where the encoder
    reads them, a positive ``patch_size_level0``."""
    spec, name = _spec(manifest), manifest.name
    want = expected(manifest)
    if not isinstance(features, torch.Tensor) or not features.is_floating_point():
        raise TilesError(name, f"features must be a floating tensor [B, N, D] of {want}", want)
    if features.ndim != 3:
        hint = " (one slide: features[None])" if features.ndim == 2 else ""
        raise TilesError(
            name,
            f"expected a batch of bags [B, N, D], got shape {tuple(features.shape)}{hint}",
            want,
        )
    batch, count, width = features.shape
    if width != spec.feature_dim:
        raise TilesError(name, f"tile features are {width}-d, but it takes {want}", want)
    if count < 1:
        raise TilesError(name, "the bag has no tiles", want)
    if coords is None:
        if spec.coords == "required":
            raise TilesError(
                name,
                "it reads the tiles' positions: pass coords [B, N, 2] (level-0 pixel x, y of each "
                "tile) and patch_size_level0 (the tile size in level-0 pixels)",
                want,
            )
    else:
        if not isinstance(coords, torch.Tensor):
            raise TilesError(name, "coords must be a tensor [B, N, 2]", want)
        if tuple(coords.shape) != (batch, count, 2):
            raise TilesError(
                name,
                f"coords must be [B, N, 2] = [{batch}, {count}, 2] for these features, got "
                f"{tuple(coords.shape)}",
                want,
            )
        coords = coords.to(features.device)
    if patch_size_level0 is not None and (
        isinstance(patch_size_level0, bool)
        or not isinstance(patch_size_level0, int)
        or patch_size_level0 < 1
    ):
        raise TilesError(
            name,
            f"patch_size_level0 must be a positive int (tile size in level-0 pixels), got "
            f"{patch_size_level0!r}",
            want,
        )
    return features, coords


class TilesModel(ZooModel):
    """A slide encoder with zoo's output contract: a bag of tile features in, ``[B, E]`` out."""

    @property
    def preprocess(self) -> Any:
        """Refused: a slide encoder takes tile features, not pixels (there is nothing to
        normalise); the paired patch encoder's ``preprocess`` prepares the tiles."""
        raise UsageError(
            f"{self.manifest.name} is a slide encoder: it takes tile features, not images, so it "
            f"has no preprocessing; embed the tiles with {' or '.join(self.manifest.pairs_with)} "
            "(its model.preprocess) and pass the features"
        )

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """The slide embedding ``[B, output.embedding_dim]`` of a bag ``[B, N, D]``."""
        features, coords = check_bag(self.manifest, features, coords, patch_size_level0)
        if features.dtype != (dtype := self.dtype):
            features = features.to(dtype)
        out = self.backbone(features, coords=coords, patch_size_level0=patch_size_level0)
        want = (features.shape[0], self.manifest.output.embedding_dim)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ContractError(
                f"{self.manifest.name}: the slide encoder returned {got}, not {list(want)} "
                "(output.embedding_dim)",
                fields={"output.embedding_dim": f"declared {want[1]}, the model returns {got}"},
            )
        return out

    def features(self, x: torch.Tensor, blocks: list[int]) -> list[torch.Tensor]:
        """Refused: a slide encoder has no feature maps."""
        raise UsageError(f"{self.manifest.name} is a slide encoder: it has no feature maps")


def check_bag_for_build(manifest: Manifest, device: str, batch: int = 1) -> dict[str, Any]:
    """A random bag for the build check and ``zoo load``: features, coordinates on a 4x4 grid of
    tiles, the tile size in level-0 pixels."""
    spec = _spec(manifest)
    side = 4
    features = torch.randn(batch, CHECK_TILES, spec.feature_dim, device=device)
    grid = (
        torch.stack(
            torch.meshgrid(torch.arange(side), torch.arange(CHECK_TILES // side), indexing="xy"),
            dim=-1,
        )
        .reshape(1, CHECK_TILES, 2)
        .expand(batch, -1, -1)
    )
    coords = (grid * spec.tile_size).to(device)
    return {"features": features, "coords": coords, "patch_size_level0": spec.tile_size}
