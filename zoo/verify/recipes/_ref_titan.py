"""TITAN's slide encoder re-expressed: the reference of ``zoo verify pathology/mahmood_titan`` and
tests/nn/test_slide_titan.py.

TITAN is Hugging Face remote code, not on a package index, so the reference here is written from
reading the authors' code at the commit its docstring cites, never copied, and deliberately
computed another way than zoo's block: the full grid and its ALiBi table as the authors build them,
attention as explicit softmax, ``nn.MultiheadAttention`` as its matrices. Its attention helpers
serve the PRISM and MOOZY references too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) v over ``[..., n, d]`` tensors."""
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    return scores.softmax(dim=-1) @ v


def multihead_explicit(
    mha: nn.MultiheadAttention, q: torch.Tensor, kv: torch.Tensor
) -> torch.Tensor:
    """``nn.MultiheadAttention(q, kv, kv)`` for batch-first ``[B, n, C]``, from its packed
    ``in_proj`` and ``out_proj`` matrices."""
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    h = mha.num_heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], t.shape[1], h, -1).transpose(1, 2)

    out = explicit_attention(
        split(q @ w_q.T + b_q), split(kv @ w_k.T + b_k), split(kv @ w_v.T + b_v)
    )
    out = out.transpose(1, 2).reshape(q.shape[0], q.shape[1], -1)
    return out @ mha.out_proj.weight.T + mha.out_proj.bias


class TitanReference(nn.Module):
    """TITAN's ``Titan`` (vision part) as ``modeling_titan.py`` / ``vision_transformer.py`` of the
    Hugging Face repository MahmoodLab/TITAN build and run it with batch size 1, read in the copy
    vendored at github.com/DIAGNijmegen/unicorn_baseline (src/unicorn_baseline/vision/pathology/
    titan/, commit dec380918e3bc344c403d85a69960befa76ad473). Parameters are registered under
    ``vision_encoder.`` like the released model, plus a stand-in ``text_encoder`` so the saved
    file has keys a slide encoder must leave out."""

    def __init__(
        self, in_dim: int, dim: int, depth: int, heads: int, pool_heads: int, queries: int
    ):
        super().__init__()
        self.heads = heads
        self.vision_encoder: Any
        v = nn.Module()
        v.patch_embed = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU())
        v.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        v.blocks = nn.Module()
        v.blocks.modules_list = nn.ModuleList()
        for _ in range(depth):
            block = nn.Module()
            block.norm1 = nn.LayerNorm(dim, eps=1e-6)
            block.attn = nn.Module()
            block.attn.qkv = nn.Linear(dim, 3 * dim)
            block.attn.proj = nn.Linear(dim, dim)
            block.norm2 = nn.LayerNorm(dim, eps=1e-6)
            block.mlp = nn.Module()
            block.mlp.fc1 = nn.Linear(dim, 4 * dim)
            block.mlp.fc2 = nn.Linear(4 * dim, dim)
            v.blocks.modules_list.append(block)
        v.norm = nn.LayerNorm(dim, eps=1e-6)
        for name, n in (("attn_pool", queries), ("attn_pool_contrastive", 1)):
            pool = nn.Module()
            pool.query = nn.Parameter(
                0.01 * torch.randn(n, dim)
            )  # small: the LayerNorm's eps shows
            pool.attn = nn.MultiheadAttention(dim, pool_heads)
            pool.ln_q = nn.LayerNorm(dim)
            pool.ln_k = nn.LayerNorm(dim)
            setattr(v, name, pool)
        v.proj = nn.Parameter(torch.randn(dim, dim))
        self.vision_encoder = v
        self.text_encoder = nn.Linear(3, 3)  # the released file holds the text tower too
        with torch.no_grad():  # LayerNorms away from 1/0 so that a swapped one shows
            for module in self.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.normal_(1.0, 0.2)
                    module.bias.normal_(0.0, 0.2)

    @staticmethod
    def _series_slopes(heads: int) -> list[float]:
        def series(n: int) -> list[float]:
            first = 2 ** (-(2 ** -(math.log2(n) - 3)))
            return [first ** (i + 1) for i in range(n)]

        base = 2 ** math.floor(math.log2(heads))
        extra = series(2 * base)[::2][: heads - base] if base != heads else []
        return series(base) + extra

    def _slopes(self) -> list[float]:
        return self._series_slopes(self.heads)

    def forward(
        self, features: torch.Tensor, coords: torch.Tensor, patch_size_lv0: int
    ) -> torch.Tensor:
        v: Any = self.vision_encoder  # its submodules, by the authors' names
        features, coords = features[0], coords[0]
        cells = torch.floor_divide(coords - coords.min(dim=0).values, patch_size_lv0)
        rows, cols = (int(m) + 1 for m in cells.max(dim=0).values)
        grid = torch.zeros(rows, cols, features.shape[-1])
        for (r, c), f in zip(cells.tolist(), features, strict=True):
            grid[r, c] += f  # tiles on one cell add up
        background = ~(grid != 0).any(dim=-1)
        # the ALiBi table over the whole grid, then the occupied cells' part of it
        r_idx, c_idx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        keep = (~background).numpy()
        points = np.stack([r_idx[keep], c_idx[keep]], axis=1)
        dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
        n = len(points)
        bias = torch.zeros(1, self.heads, n + 1, n + 1)
        slopes = torch.tensor(self._slopes(), dtype=torch.float32).view(-1, 1, 1)
        bias[:, :, 1:, 1:] = -(torch.tensor(dist, dtype=torch.float32) * slopes)
        tokens = v.patch_embed(grid.reshape(rows * cols, -1))  # every cell, background too
        x = torch.cat([v.cls_token[0], tokens[torch.from_numpy(keep.reshape(-1))]]).unsqueeze(0)
        for block in v.blocks.modules_list:
            h = block.norm1(x)
            q, k, val = (
                block.attn.qkv(h).reshape(1, n + 1, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            )
            a = explicit_attention(q, k, val, bias).transpose(1, 2).reshape(1, n + 1, -1)
            x = x + block.attn.proj(a)
            x = x + block.mlp.fc2(F.gelu(block.mlp.fc1(block.norm2(x))))
        x = v.norm(x)
        pool = v.attn_pool_contrastive
        return multihead_explicit(pool.attn, pool.ln_q(pool.query).unsqueeze(0), pool.ln_k(x))[:, 0]
