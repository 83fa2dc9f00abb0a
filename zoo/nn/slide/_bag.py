"""The checks every slide encoder runs on its input before any work: one clear error each.

A bag is ``features [B, N, D]`` (one row per tile, from the paired tile encoder) with, for the
encoders that place tiles on a grid, ``coords [B, N, 2]`` (level-0 pixels, the tile's corner) and
``patch_size_level0`` (the tile's side in level-0 pixels).
"""

from __future__ import annotations

import torch

from zoo.errors import TilesError


def check_features(features: torch.Tensor, width: int, encoder: str) -> None:
    """``features`` is a finite floating ``[B, N, width]`` tensor with at least one tile."""
    if features.ndim != 3:
        raise TilesError(
            encoder,
            f"takes tile features shaped [B, N, {width}] (a batch of bags), "
            f"got shape {list(features.shape)}",
        )
    if features.shape[-1] != width:
        raise TilesError(
            encoder,
            f"takes {width}-d tile features (its paired tile encoder's width), "
            f"got {features.shape[-1]}-d",
        )
    if features.shape[1] == 0:
        raise TilesError(encoder, "needs at least one tile, got an empty bag")
    if not features.is_floating_point():
        raise TilesError(encoder, f"takes floating-point features, got {features.dtype}")
    if features.device.type != "meta" and not bool(torch.isfinite(features).all()):
        raise TilesError(encoder, "the tile features hold NaN or inf")


def check_coords(
    features: torch.Tensor,
    coords: torch.Tensor | None,
    patch_size_level0: int | None,
    encoder: str,
) -> tuple[torch.Tensor, int]:
    """The coordinates and tile size, checked: ``[B, N, 2]`` finite non-negative level-0 pixels
    and a positive integer tile side."""
    if coords is None or patch_size_level0 is None:
        raise TilesError(
            encoder,
            "places tiles on a grid: give coords [B, N, 2] (level-0 pixels) and "
            "patch_size_level0 (the tile side in level-0 pixels)",
        )
    if coords.ndim != 3 or coords.shape[-1] != 2 or coords.shape[:2] != features.shape[:2]:
        raise TilesError(
            encoder,
            f"takes coords shaped [B, N, 2] = {[*features.shape[:2], 2]}, got {list(coords.shape)}",
        )
    if isinstance(patch_size_level0, bool) or int(patch_size_level0) != patch_size_level0:
        raise TilesError(
            encoder, f"patch_size_level0 must be an integer, got {patch_size_level0!r}"
        )
    if patch_size_level0 <= 0:
        raise TilesError(encoder, f"patch_size_level0 must be positive, got {patch_size_level0}")
    if coords.device.type != "meta":
        if not bool(torch.isfinite(coords).all()):
            raise TilesError(encoder, "the coordinates hold NaN or inf")
        if bool((coords < 0).any()):
            raise TilesError(encoder, "coordinates are level-0 pixels, got a negative one")
    return coords, int(patch_size_level0)
