"""The output contract, identical for every wrapper type (DESIGN.md §3).

``model(x)`` returns the embedding ``[B, D]``; with ``out_indices`` it returns a
list of feature maps ``[B, C, H/patch, W/patch]`` (prefix tokens removed), in the
order requested. A 3-D encoder takes volumes ``[B, C, D, H, W]`` and returns maps
``[B, C, d, h, w]`` (:mod:`zoo.loading.volumes`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.errors import ContractError, UsageError
from zoo.loading.timm_cfg import GivenTokens, TimmFace
from zoo.loading.wrappers._base import Adapter
from zoo.manifest import Manifest, TilesInputSpec, VolumeInputSpec


def tokens_to_map(
    tokens: torch.Tensor, prefix: int, grid: tuple[int, int], where: str
) -> torch.Tensor:
    """``[B, prefix + h*w, C]`` tokens to a ``[B, C, h, w]`` map."""
    if tokens.ndim != 3:
        raise ContractError(f"{where}: expected tokens [B, N, C], got shape {tuple(tokens.shape)}")
    batch, count, channels = tokens.shape
    h, w = grid
    if count - prefix != h * w:
        raise ContractError(
            f"{where}: {count} tokens minus {prefix} prefix tokens is not a {h}x{w} patch grid; "
            "check output.prefix_tokens and output.patch_size"
        )
    return tokens[:, prefix:].transpose(1, 2).reshape(batch, channels, h, w)


def pool(adapter: Adapter, x: torch.Tensor, manifest: Manifest) -> Any:
    """The embedding the manifest declares."""
    out = manifest.output
    if out.grid is not None and out.pooling == "mean":  # a 3-D encoder: see zoo.loading.volumes
        from zoo.loading.volumes import pool_volume

        return pool_volume(adapter, x, manifest)
    if out.pooling == "pooler":
        return adapter.pooled(x)
    if out.pooling == "projection":
        return adapter.projected(x)
    if out.pooling == "none":
        return adapter.raw(x)
    tokens = adapter.tokens(x)
    if tokens.ndim != 3:
        raise ContractError(
            f"{manifest.name}: expected tokens [B, N, C], got shape {tuple(tokens.shape)}"
        )
    if out.pooling == "cls":
        return tokens[:, 0]
    patches = tokens[:, out.prefix_tokens :].mean(dim=1)
    if out.pooling == "mean":
        return patches
    return torch.cat([tokens[:, 0], patches], dim=-1)


class ZooModel(TimmFace, nn.Module):
    """A backbone with zoo's output contract (and timm's attributes: :mod:`zoo.loading.timm_cfg`).

    Attributes:
        backbone: The module the wrapper built (a timm model, a transformers model, ...).
        manifest: The manifest it was built from.
        out_indices: The caller's ``out_indices`` (``None``: embeddings).
    """

    def __init__(
        self,
        backbone: nn.Module,
        adapter: Adapter,
        manifest: Manifest,
        out_indices: Any,
        blocks: list[int] | None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.manifest = manifest
        self.out_indices = out_indices
        self._adapter = adapter
        self._blocks = blocks

    @property
    def preprocess(self) -> Any:
        """The evaluation transform for this model's input (resize, crop, normalize)."""
        from zoo.loading.preprocess import transforms

        return transforms(self.manifest)

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the first floating parameter (float32 when there is none)."""
        for p in self.backbone.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.float32

    def extra_repr(self) -> str:
        return f"name={self.manifest.name!r}, out_indices={self.out_indices!r}"

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.manifest.input
        if self.manifest.output.pooling == "none" and self._blocks is None:
            # The module's own output: it accepts what it accepts (vectors, volumes...).
            return x.to(self.dtype) if x.is_floating_point() and x.dtype != self.dtype else x
        if isinstance(spec, VolumeInputSpec):
            from zoo.loading.volumes import check_volume_input

            check_volume_input(self.manifest, x)
            return x.to(self.dtype) if x.is_floating_point() and x.dtype != self.dtype else x
        if isinstance(spec, TilesInputSpec):
            raise UsageError(f"{self.manifest.name} is a slide encoder: call it on tile features")
        if x.ndim != 4:
            raise UsageError(
                f"{self.manifest.name}: expected a [B, C, H, W] batch, got shape {tuple(x.shape)}"
            )
        if x.shape[1] != spec.in_chans:
            raise UsageError(
                f"{self.manifest.name}: expected {spec.in_chans} input channels, got {x.shape[1]}"
            )
        size = tuple(x.shape[-2:])
        if not spec.dynamic_size and size != tuple(spec.size):
            raise UsageError(
                f"{self.manifest.name}: input {size[0]}x{size[1]} but the model takes "
                f"{spec.size[0]}x{spec.size[1]} (input.dynamic_size is false; resize the input "
                "or pass dynamic_img_size=True where the architecture supports it)"
            )
        patch = self.manifest.output.patch_size
        if patch and (size[0] % patch or size[1] % patch):
            raise UsageError(
                f"{self.manifest.name}: input {size[0]}x{size[1]} is not a multiple of the patch size {patch}"
            )
        if x.is_floating_point() and x.dtype != (dtype := self.dtype):
            x = x.to(dtype)
        return x

    def _pool_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The manifest's pooling of given final tokens (``forward_head``)."""
        return pool(GivenTokens(self.backbone, self.manifest), tokens, self.manifest)

    def forward(self, x: torch.Tensor) -> Any:
        """Embeddings ``[B, D]``, or the selected feature maps (a list)."""
        x = self._check_input(x)
        if self._blocks is None:
            return pool(self._adapter, x, self.manifest)
        return self.features(x, self._blocks)

    def features(self, x: torch.Tensor, blocks: list[int]) -> list[torch.Tensor]:
        """Feature maps of absolute block indices, in the order given."""
        unique = sorted(set(blocks))
        outs = self._adapter.blocks(x, unique)
        if self._adapter.block_tokens:
            patch = self.manifest.output.patch_size or 1
            grid = (x.shape[-2] // patch, x.shape[-1] // patch)
            where = f"{self.manifest.name}"
            outs = [tokens_to_map(t, self.manifest.output.prefix_tokens, grid, where) for t in outs]
        by_block = dict(zip(unique, outs, strict=True))
        return [by_block[b] for b in blocks]
