"""MOOZY's slide encoder: a ViT with a 2-D ALiBi bias over a slide's Lunit ViT-S/8 tile features.

Written from the authors' package ``moozy`` 0.1.1 on PyPI (``moozy/models/moozy_slide_encoder.py``,
``layers.py``, ``variants.py``, ``config/model.py``, ``models/stage2_encoding.py``; the same code as
github.com/AtlasAnalyticsLab/MOOZY), never running it. Parameter names are those of the
``teacher_slide_encoder`` state dict in the released ``moozy.pt`` (``checkpoint.key``), which the
authors load strictly into ``MOOZYSlideEncoder``; that includes the ALiBi slopes, a buffer that
appears once under ``pos_bias`` and once under every block (one module shared by all blocks).

What ``MOOZYSlideEncoder(x, coords_xy=coords, patch_sizes=patch_size_level0)[0]`` computes for one
slide without masks (the authors' ``encode_case_batch`` and ``slide2vec``'s ``moozy-slide``):

- each tile through ``Linear(384, 768)`` and GELU; in front a class token and 4 register tokens;
- 6 pre-norm blocks (LayerNorm eps 1e-5; separate q, k, v projections with bias, 12 heads, no q/k
  norm, no layer scale in the default configuration; GELU MLP 768 -> 3072 -> 768); the attention adds
  ``-slope_h * |p_i - p_j| / patch_size_level0`` (Euclidean distance of the tiles' level-0
  coordinates in tile sides; the ALiBi slopes of 12 heads), zero on the class and register tokens'
  rows and columns;
- the embedding is the class token after the final LayerNorm: 768-d.

The configuration (``base_half_depth``: 6 layers, width 768, 12 heads, MLP 3072; 4 registers) is
the package's default ``SlideEncoderConfig``; the released file records its own in
``slide_encoder_config``. The authors' ``moozy encode`` offers bf16 autocast
(``--mixed_precision``); zoo computes in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nn.slide._bag import check_coords, check_features
from zoo.nn.slide.titan import alibi_slopes


class ALiBi2D(nn.Module):
    """The heads' negative slopes, a buffer (a parameter if ``learnable``) named ``slopes``."""

    def __init__(self, heads: int, learnable: bool) -> None:
        super().__init__()
        slopes = -alibi_slopes(heads).unsqueeze(1)
        if learnable:
            self.slopes = nn.Parameter(slopes)
        else:
            self.register_buffer("slopes", slopes)

    def bias(self, positions: torch.Tensor, size: float, prefix: int) -> torch.Tensor:
        """``[B, H, n, n]`` for positions ``[B, n, 2]`` whose first ``prefix`` tokens carry none."""
        distance = torch.norm(positions.unsqueeze(2) - positions.unsqueeze(1), dim=-1) / size
        bias = self.slopes.view(1, -1, 1, 1) * distance.unsqueeze(1)
        bias[:, :, :prefix, :] = 0.0
        bias[:, :, :, :prefix] = 0.0
        return bias


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    def __init__(
        self, dim: int, heads: int, hidden: int, alibi: ALiBi2D, qk_norm: bool, layerscale: float
    ) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        head = dim // heads
        self.q_norm: nn.Module = nn.LayerNorm(head) if qk_norm else nn.Identity()
        self.k_norm: nn.Module = nn.LayerNorm(head) if qk_norm else nn.Identity()
        self.pos_bias = alibi  # shared by every block, as the authors register it
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.ls_attn: nn.Module = LayerScale(dim, layerscale) if layerscale > 0 else nn.Identity()
        self.ls_mlp: nn.Module = LayerScale(dim, layerscale) if layerscale > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.norm1(x)
        q, k, v = (
            p(h).reshape(b, n, self.heads, -1).transpose(1, 2)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        q, k = self.q_norm(q), self.k_norm(k)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        x = x + self.ls_attn(self.out_proj(out.transpose(1, 2).reshape(b, n, d)))
        return x + self.ls_mlp(self.fc2(F.gelu(self.fc1(self.norm2(x)))))


class Moozy(nn.Module):
    """MOOZY's ``MOOZYSlideEncoder``; ``forward`` returns its class-token output."""

    def __init__(
        self,
        feat_dim: int = 384,
        d_model: int = 768,
        n_heads: int = 12,
        n_layers: int = 6,
        dim_feedforward: int = 3072,
        num_registers: int = 4,
        qk_norm: bool = False,
        layerscale_init: float = 0.0,
        learnable_alibi: bool = False,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not a multiple of n_heads {n_heads}")
        if num_registers < 0:
            raise ValueError(f"num_registers must be 0 or more, got {num_registers}")
        self.feat_dim = feat_dim
        self.num_registers = num_registers
        self.input_proj = nn.Sequential(nn.Linear(feat_dim, d_model), nn.GELU())
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        if num_registers:
            self.register_tokens = nn.Parameter(torch.zeros(1, num_registers, d_model))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d_model))  # masked pretraining only
        self.pos_bias = ALiBi2D(n_heads, learnable_alibi)
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, dim_feedforward, self.pos_bias, qk_norm, layerscale_init)
            for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """``[B, N, 384]`` Lunit ViT-S/8 features and their level-0 corners -> ``[B, 768]``."""
        check_features(features, self.feat_dim, "MOOZY")
        coords, size = check_coords(features, coords, patch_size_level0, "MOOZY")
        b = features.shape[0]
        x = self.input_proj(features.to(self.cls_token.dtype))
        prefix = [self.cls_token.expand(b, -1, -1)]
        if self.num_registers:
            prefix.append(self.register_tokens.expand(b, -1, -1))
        x = torch.cat([*prefix, x], dim=1)
        lead = 1 + self.num_registers
        positions = torch.cat(
            [coords.new_zeros(b, lead, 2, dtype=torch.float32), coords.float()], dim=1
        )
        bias = self.pos_bias.bias(positions, float(size), lead)
        for block in self.blocks:
            x = block(x, bias)
        return self.norm(x)[:, 0].float()


def moozy(**kwargs: int | float | bool) -> Moozy:
    """MOOZY's slide encoder (defaults: the package's default configuration, ``base_half_depth``)."""
    return Moozy(**kwargs)  # type: ignore[arg-type]
