"""The output contract for volumes: input checks, the pooled embedding and the expected map shapes.

A 3-D encoder takes ``[B, C, D, H, W]``; its feature level ``i`` is a map
``[B, C_i, D/d_i, H/h_i, W/w_i]`` (``output.grid.strides``), and its embedding is
the global average of the levels ``output.grid.pool``, concatenated in that order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from zoo.errors import ContractError, UsageError
from zoo.manifest import Manifest, VolumeGrid, VolumeInputSpec

if TYPE_CHECKING:
    from zoo.loading.wrappers._base import Adapter


def is_volume(manifest: Manifest) -> bool:
    """Whether the manifest's input is a volume."""
    return isinstance(manifest.input, VolumeInputSpec)


def _grid(manifest: Manifest) -> VolumeGrid:
    grid = manifest.output.grid
    if grid is None:  # the manifest model refuses a volume input without a grid
        raise ContractError(f"{manifest.name}: a volume input needs output.grid")
    return grid


def _axes(size: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in size)


def check_volume_input(manifest: Manifest, x: torch.Tensor) -> None:
    """Refuse a batch the encoder cannot take, with the fix in the message.

    Raises:
        UsageError: Not ``[B, C, D, H, W]``, the wrong number of channels, a size other than
            the declared one (without ``dynamic_size``), or a size that is not a multiple of
            the network's downsampling.
    """
    spec = manifest.input
    assert isinstance(spec, VolumeInputSpec)
    name = manifest.name
    if x.ndim != 5:
        hint = " (add the channel axis: x[:, None])" if x.ndim == 4 and spec.channels == 1 else ""
        raise UsageError(
            f"{name}: expected a volume batch [B, C, D, H, W], got shape {tuple(x.shape)}{hint}"
        )
    if x.shape[1] != spec.channels:
        raise UsageError(f"{name}: expected {spec.channels} input channels, got {x.shape[1]}")
    size = tuple(int(s) for s in x.shape[-3:])
    if not spec.dynamic_size and size != tuple(spec.size):
        raise UsageError(
            f"{name}: input {_axes(size)} but the model takes {_axes(spec.size)} "
            "(input.dynamic_size is false; crop or pad the volume to that size, or slide a window "
            "of that size over it)"
        )
    multiple = _grid(manifest).multiple_of()
    if any(s % m for s, m in zip(size, multiple, strict=True)):
        raise UsageError(
            f"{name}: input {_axes(size)} is not a multiple of {_axes(multiple)} per axis (the "
            "network downsamples by that much); pad or crop each axis to a multiple"
        )


def pool_levels(manifest: Manifest) -> list[int]:
    """The absolute feature levels the embedding pools, in the declared order."""
    levels = manifest.output.feature_levels
    return [i % levels for i in _grid(manifest).pool]


def pool_volume(adapter: Adapter, x: torch.Tensor, manifest: Manifest) -> torch.Tensor:
    """The embedding ``[B, D]``: global average of each pooled level, concatenated."""
    wanted = pool_levels(manifest)
    unique = sorted(set(wanted))
    maps = dict(zip(unique, adapter.blocks(x, unique), strict=True))
    for level, fmap in maps.items():
        if fmap.ndim != 5:
            raise ContractError(
                f"{manifest.name}: feature level {level} has shape {tuple(fmap.shape)}, "
                "not a 3-D map [B, C, d, h, w]"
            )
    return torch.cat([maps[i].mean(dim=(2, 3, 4)) for i in wanted], dim=1)


def example_size(manifest: Manifest) -> tuple[int, int, int]:
    """The declared input size ``(D, H, W)``."""
    spec = manifest.input
    assert isinstance(spec, VolumeInputSpec)
    return spec.size


def expected_maps(
    manifest: Manifest, size: tuple[int, int, int] | None = None
) -> list[list[int | None]]:
    """``[1, C, d, h, w]`` of every feature level for an input of ``size`` (default: the declared)."""
    out, grid = manifest.output, _grid(manifest)
    depth, height, width = size or example_size(manifest)
    dims = out.feature_dim if isinstance(out.feature_dim, list) else [None] * out.feature_levels
    shapes: list[list[int | None]] = []
    for level, channels in enumerate(dims):
        d, h, w = grid.stride_of(level)
        shapes.append([1, channels, depth // d, height // h, width // w])
    return shapes
