"""TITAN's slide encoder: a small ViT over the 2-D grid of a slide's CONCH v1.5 tile features.

Written from the authors' Hugging Face remote code (``MahmoodLab/TITAN``, files
``modeling_titan.py`` and ``vision_transformer.py``; read in the copy vendored at
github.com/DIAGNijmegen/unicorn_baseline, src/unicorn_baseline/vision/pathology/titan/, commit
dec380918e3bc344c403d85a69960befa76ad473), never running it. Parameter names are those of the
``vision_encoder`` part of the released ``model.safetensors`` (a manifest selects it with
``checkpoint.key: vision_encoder``), so the checkpoint loads strictly.

What ``Titan.encode_slide_from_patch_features(features, coords, patch_size_lv0)`` computes, and
so what :class:`Titan` computes per slide:

- the tiles go onto a grid: ``(coords - coords.min()) // patch_size_level0`` gives each tile's
  row (first coordinate) and column; tiles that land on the same cell are *summed*, and a cell
  whose summed feature is all zeros counts as background and is left out;
- each kept cell's feature goes through ``Linear(768, 768)`` and GELU; a class token goes in
  front; there is no position embedding: every block's attention adds a 2-D ALiBi bias,
  ``-slope_h * euclidean_distance(cell_i, cell_j)`` between tiles (zero on the class token's row
  and column), with the ALiBi slopes of 12 heads;
- 6 pre-norm blocks (LayerNorm eps 1e-6, qkv with bias, GELU MLP of ratio 4, no layer scale),
  a final LayerNorm;
- the slide embedding is the *contrastive* attention pooler's output (one learned query, 8 heads,
  ``nn.MultiheadAttention``, LayerNorms of eps 1e-5 on query and keys) over all tokens, class token
  included, without the ``proj`` matrix (``no_proj=True``): 768-d.

The 128-query pooler (``attn_pool``, the report decoder's context) and ``proj`` (the projection into
the text space) are kept so the checkpoint loads strictly; :meth:`Titan.forward_projection` applies
``proj``. The authors run it under float16 autocast on CUDA (model card); zoo computes in the
dtype of its parameters, float32 by default.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nn.slide._bag import check_coords, check_features


def alibi_slopes(heads: int) -> torch.Tensor:
    """The ALiBi slopes (Press et al.) of ``heads`` heads: a geometric series from
    ``2**(-8/n)``, for a head count that is no power of two the nearest lower power's slopes
    followed by every other slope of the next power's."""

    def powers(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    lower = 2 ** math.floor(math.log2(heads))
    slopes = powers(lower)
    if lower != heads:
        slopes += powers(2 * lower)[0::2][: heads - lower]
    return torch.tensor(slopes, dtype=torch.float32)


class Attention(nn.Module):
    """Multi-head self-attention with an additive bias (the 2-D ALiBi)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), bias)
        return x + self.mlp(self.norm2(x))


class Blocks(nn.Module):
    """The blocks, under the authors' name ``blocks.modules_list``."""

    def __init__(self, blocks: list[Block]) -> None:
        super().__init__()
        self.modules_list = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        for block in self.modules_list:
            x = block(x, bias)
        return x


class AttentionPool(nn.Module):
    """Learned queries over all tokens with ``nn.MultiheadAttention`` (sequence-first)."""

    def __init__(self, dim: int, heads: int, queries: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(queries, dim))
        self.attn = nn.MultiheadAttention(dim, heads, kdim=dim, vdim=dim)
        self.ln_q = nn.LayerNorm(dim)
        self.ln_k = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keys = self.ln_k(x).transpose(0, 1)
        query = self.ln_q(self.query).unsqueeze(1).expand(-1, x.shape[0], -1)
        return self.attn(query, keys, keys, need_weights=False)[0].transpose(0, 1)


class Titan(nn.Module):
    """TITAN's vision encoder; ``forward`` returns ``encode_slide_from_patch_features``'s output."""

    def __init__(
        self,
        in_dim: int = 768,
        embed_dim: int = 768,
        depth: int = 6,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        pool_heads: int = 8,
        pool_queries: int = 128,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads or embed_dim % pool_heads:
            raise ValueError(f"embed_dim {embed_dim} is not a multiple of the head counts")
        self.in_dim = in_dim
        self.embed_dim = embed_dim
        self.patch_embed = nn.Sequential(nn.Linear(in_dim, embed_dim), nn.GELU())
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.blocks = Blocks([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.attn_pool = AttentionPool(embed_dim, pool_heads, pool_queries)
        self.attn_pool_contrastive = AttentionPool(embed_dim, pool_heads, 1)
        self.proj = nn.Parameter(embed_dim**-0.5 * torch.randn(embed_dim, embed_dim))
        self.num_heads = num_heads

    def _grid(
        self, features: torch.Tensor, coords: torch.Tensor, size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The occupied cells' summed features and their ``(row, column)``, in row-major order."""
        if features.device.type == "meta":  # shapes only (zoo validate --build): a cell per tile
            return features, coords.long()
        cells = torch.div(coords - coords.min(dim=0).values, size, rounding_mode="floor").long()
        height, width = (int(v) + 1 for v in cells.max(dim=0).values)
        grid = features.new_zeros(height * width, features.shape[-1])
        grid.index_add_(0, cells[:, 0] * width + cells[:, 1], features)
        occupied = torch.nonzero(grid.ne(0).any(dim=-1)).squeeze(1)
        return grid[occupied], torch.stack((occupied // width, occupied % width), dim=1)

    def _bias(self, cells: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The 2-D ALiBi bias ``[1, heads, 1 + n, 1 + n]``; the class token's row and column are 0."""
        points = cells.to(torch.float64)
        exact = "donot_use_mm_for_euclid_dist"  # the distances as sqrt(dx**2 + dy**2), like numpy
        distance = torch.cdist(points, points, compute_mode=exact).to(torch.float32)
        slopes = alibi_slopes(self.num_heads).to(distance.device).view(-1, 1, 1)
        n = cells.shape[0]
        bias = distance.new_zeros(1, self.num_heads, n + 1, n + 1)
        bias[:, :, 1:, 1:] = distance.unsqueeze(0) * slopes * -1
        return bias.to(dtype)

    def encode(self, features: torch.Tensor, coords: torch.Tensor, size: int) -> torch.Tensor:
        """One slide ``[N, D]`` -> the final tokens ``[1, 1 + n, E]`` (n occupied cells)."""
        tokens, cells = self._grid(features, coords, size)
        x = self.patch_embed(tokens.to(self.cls_token.dtype)).unsqueeze(0)
        x = torch.cat((self.cls_token, x), dim=1)
        return self.norm(self.blocks(x, self._bias(cells, x.dtype)))

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """``[B, N, 768]`` CONCH v1.5 features and their level-0 corners -> ``[B, 768]``."""
        check_features(features, self.in_dim, "TITAN")
        coords, size = check_coords(features, coords, patch_size_level0, "TITAN")
        pooled = [
            self.attn_pool_contrastive(self.encode(f.float(), c, size))[:, 0]
            for f, c in zip(features, coords, strict=True)
        ]
        return torch.cat(pooled)

    def forward_projection(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """The slide embedding projected into the text space (``pooled @ proj``)."""
        return self(features, coords, patch_size_level0) @ self.proj


def titan(**kwargs: int | float) -> Titan:
    """TITAN's slide encoder (defaults: the released configuration, CONCH v1.5 768-d input)."""
    return Titan(**kwargs)  # type: ignore[arg-type]
