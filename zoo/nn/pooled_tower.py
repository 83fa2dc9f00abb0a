"""An image tower that pools a timm ViT's tokens with attention: CONCH's image encoders.

``pooled_tower`` builds a timm ViT trunk, one attention pooler with a learned query, a
LayerNorm and (optionally) the contrastive projection, with parameter names as in the
authors' checkpoints (``trunk``, ``attn_pool_contrast``, ``ln_contrast``, ``proj_contrast``),
so a checkpoint's image part loads strictly. Two pooler layouts exist in published
checkpoints: ``multihead`` (a ``torch.nn.MultiheadAttention``, CONCH v1) and ``split``
(separate query and key-value projections without biases, CONCH v1.5).

``positions`` says how the trunk's position table meets another input size: ``timm`` resizes it
to the new grid (timm's ``resample_abs_pos_embed``); ``dino`` resizes it by the scale factor
``(grid + 0.1) / side`` (DINO's ``interpolate_pos_encoding``, bicubic, no antialiasing), as
CONCH v1.5's authors' code does (TRIDENT's conchv1_5.py at
a91fa8490e0210ebbbe58452c3babe009e0ab7ca): the same interpolation sampled at positions under
0.4% apart, which moves an embedding by about 5e-4 of its largest value.
"""

from __future__ import annotations

import math
import types
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nn._trunk import TrunkFeatures


class MultiheadPool(nn.Module):
    """Learned queries attending over the tokens with ``nn.MultiheadAttention`` (CONCH v1)."""

    def __init__(self, dim: int, context_dim: int, heads: int, queries: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.empty(queries, dim))
        nn.init.normal_(self.query)
        self.attn = nn.MultiheadAttention(dim, heads, kdim=context_dim, vdim=context_dim)
        self.ln_q = nn.LayerNorm(dim)
        self.ln_k = nn.LayerNorm(context_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keys = self.ln_k(x).transpose(0, 1)  # [N, B, C]: the attention is sequence-first
        query = self.ln_q(self.query).unsqueeze(1).expand(-1, x.shape[0], -1)
        out = self.attn(query, keys, keys, need_weights=False)[0]
        return out.transpose(0, 1)  # [B, queries, dim]


class SplitPool(nn.Module):
    """Learned queries attending over the tokens with bias-free q and kv projections (CONCH v1.5)."""

    def __init__(self, dim: int, context_dim: int, heads: int, queries: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.query = nn.Parameter(torch.empty(queries, dim))
        nn.init.normal_(self.query)
        self.ln_k = nn.LayerNorm(context_dim)
        self.ln_q = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, c = t.shape
        return t.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        q = self.to_q(self.ln_q(self.query)).unsqueeze(0).expand(batch, -1, -1)
        k, v = self.to_kv(self.ln_k(x)).chunk(2, dim=-1)
        q, k, v = self._heads(q) * self.scale, self._heads(k), self._heads(v)
        sim = q @ k.transpose(-2, -1)
        attn = (sim - sim.amax(dim=-1, keepdim=True).detach()).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(batch, -1, q.shape[1] * q.shape[-1])
        return self.to_out(out)


class PooledTower(TrunkFeatures):
    """A timm ViT trunk, an attention pooler with one query, a LayerNorm, an optional projection.

    The timm feature API is kept (``forward_features``, ``forward_intermediates``,
    ``forward_head``), so zoo reaches tokens and block maps as for any timm ViT; the pooled
    embedding (``forward_head(..., pre_logits=True)``) is the pooler's output after the
    LayerNorm, and ``forward_projection`` applies the contrastive projection to it.
    """

    trunk: Any  # a timm VisionTransformer (duck-typed: its feature API is called)

    def __init__(self, trunk: Any, dim: int, heads: int, layout: str, projection: bool) -> None:
        super().__init__()
        pool = {"multihead": MultiheadPool, "split": SplitPool}[layout]
        self.trunk = trunk
        self.attn_pool_contrast = pool(dim, trunk.embed_dim, heads, 1)
        self.ln_contrast = nn.LayerNorm(dim)
        self.proj_contrast = nn.Parameter(torch.empty(dim, dim)) if projection else None
        if self.proj_contrast is not None:
            nn.init.normal_(self.proj_contrast, std=float(trunk.embed_dim) ** -0.5)
        self.num_features = dim
        self.projection_dim = dim if projection else None

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.ln_contrast(self.attn_pool_contrast(x)[:, 0])

    def forward_projection(self, x: torch.Tensor) -> torch.Tensor:
        """The projected image embedding (the contrastive one, unnormalized)."""
        if self.proj_contrast is None:
            raise ValueError("this tower has no projection")
        return self.forward_head(self.forward_features(x)) @ self.proj_contrast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _dino_pos_embed(self: Any, x: torch.Tensor) -> torch.Tensor:
    """A timm ViT's ``_pos_embed`` (class token first, then positions added) with the table
    resized by DINO's scale factor; ``x`` is the patch grid ``[B, H, W, C]``."""
    batch, h, w, dim = x.shape
    table = self.pos_embed
    prefix = self.num_prefix_tokens
    side = math.isqrt(table.shape[1] - prefix)
    if (h, w) != (side, side):
        grid = table[:, prefix:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
        grid = F.interpolate(
            grid, scale_factor=((h + 0.1) / side, (w + 0.1) / side), mode="bicubic"
        )
        table = torch.cat((table[:, :prefix], grid.permute(0, 2, 3, 1).reshape(1, -1, dim)), 1)
    tokens = [self.cls_token.expand(batch, -1, -1)] if self.cls_token is not None else []
    x = torch.cat([*tokens, x.reshape(batch, -1, dim)], dim=1) + table
    return self.pos_drop(x)


def pooled_tower(
    architecture: str,
    trunk: dict[str, Any],
    dim: int,
    heads: int = 8,
    layout: Literal["multihead", "split"] = "multihead",
    projection: bool = False,
    positions: Literal["timm", "dino"] = "timm",
    **overrides: Any,
) -> PooledTower:
    """Build a :class:`PooledTower`: ``timm.create_model(architecture, num_classes=0, **trunk)``
    (the caller's overrides such as ``img_size`` go to the trunk), pooled to ``dim``; with
    ``positions: dino`` the position table is resized as DINO does (see the module)."""
    import timm

    if layout not in ("multihead", "split"):
        raise ValueError(f"layout must be multihead or split, got {layout!r}")
    if positions not in ("timm", "dino"):
        raise ValueError(f"positions must be timm or dino, got {positions!r}")
    model = timm.create_model(architecture, pretrained=False, num_classes=0, **trunk, **overrides)
    if positions == "dino":
        if not model.dynamic_img_size or model.no_embed_class or model.reg_token is not None:
            raise ValueError(
                "positions dino needs a trunk with dynamic_img_size, its class token's position "
                "in the table and no register tokens"
            )
        model._pos_embed = types.MethodType(_dino_pos_embed, model)
    return PooledTower(model, dim, heads, layout, projection)
