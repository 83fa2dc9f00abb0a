"""What the ``torchhub`` and ``function`` wrappers share: any ``nn.Module``, weights attached after building."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from zoo.loading.checkpoint import assign, empty_parameters, load_state_dict
from zoo.loading.meta import meta_device
from zoo.loading.wrappers._base import Adapter, BuildContext, weights_path
from zoo.manifest import Manifest


class ModuleAdapter(Adapter):
    """A plain module: its output, and tokens from ``forward_features`` (or its output) when 3-D."""

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        fn = getattr(self.module, "forward_features", None)
        out = fn(x) if callable(fn) else self.module(x)
        if isinstance(out, dict):  # DINOv2-style dict of normalized tokens
            cls, patches = out.get("x_norm_clstoken"), out.get("x_norm_patchtokens")
            regs = out.get("x_norm_regtokens")
            if cls is not None and patches is not None:
                parts = [cls[:, None]] + ([regs] if regs is not None else []) + [patches]
                return torch.cat(parts, dim=1)
        if not isinstance(out, torch.Tensor) or out.ndim != 3:
            raise self._unsupported("tokens [B, N, C] from forward_features or forward")
        return out

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            raise self._unsupported("a [B, D] output")
        return out


class IntermediateLayersAdapter(ModuleAdapter):
    """Modules with DINOv2's ``get_intermediate_layers(x, n, reshape=True)``."""

    block_tokens = False

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        return list(self.module.get_intermediate_layers(x, n=indices, reshape=True))


def adapter_for(module: nn.Module, manifest: Manifest) -> Adapter:
    """The richest adapter the module's methods allow."""
    if callable(getattr(module, "forward_intermediates", None)) and callable(
        getattr(module, "forward_head", None)
    ):
        from zoo.loading.wrappers.timm import TimmAdapter

        return TimmAdapter(module, manifest)
    if callable(getattr(module, "get_intermediate_layers", None)):
        return IntermediateLayersAdapter(module, manifest)
    return ModuleAdapter(module, manifest)


def build_scope(manifest: Manifest, ctx: BuildContext) -> contextlib.AbstractContextManager[Any]:
    """Where the builder runs: on meta for checks; with empty parameters when a strict
    checkpoint will replace every one of them (no random init to throw away)."""
    if ctx.meta:
        return meta_device()
    ckpt = manifest.checkpoint
    if ckpt is not None and ctx.pretrained and ckpt.strict:
        return empty_parameters()
    return contextlib.nullcontext()


def attach_weights(module: nn.Module, manifest: Manifest, ctx: BuildContext) -> None:
    """Load the manifest's checkpoint into an already built module (when asked for)."""
    ckpt = manifest.checkpoint
    if ckpt is None or not ctx.pretrained or ctx.meta:
        return
    path = weights_path(manifest)
    state = load_state_dict(path, ckpt)
    assign(module, state, source=str(path), strict=ckpt.strict, dtype=ctx.dtype, device=ctx.device)


def as_module(obj: Any, manifest: Manifest, what: str) -> nn.Module:
    """Check that a builder returned an ``nn.Module``."""
    from zoo.errors import LoadError

    if not isinstance(obj, nn.Module):
        raise LoadError(
            f"{manifest.name}: {what} returned a {type(obj).__name__}, not a torch.nn.Module"
        )
    return obj
