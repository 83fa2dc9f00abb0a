"""MOOZY's slide encoder re-expressed: the reference of ``zoo verify pathology/moozy_slide`` and
tests/nn/test_slide_moozy.py (the authors' package ``moozy`` is on PyPI but pins huggingface-hub
below 2, so the reference is written from reading its code, never copied).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.verify.recipes._ref_titan import TitanReference, explicit_attention


class MoozyReference(nn.Module):
    """MOOZY's ``MOOZYSlideEncoder`` (package ``moozy`` 0.1.1 on PyPI,
    moozy/models/moozy_slide_encoder.py) re-expressed for one unmasked bag, registered as the
    authors register it: one ALiBi module shared by every block, so its ``slopes`` appear under
    ``pos_bias`` and ``blocks.{i}.pos_bias``. (The package itself pins huggingface-hub below 2, which
    would move the project's own resolution, so it is not a test dependency.)"""

    def __init__(
        self,
        feat: int,
        dim: int,
        heads: int,
        layers: int,
        hidden: int,
        registers: int,
        qk_norm: bool = False,
        layerscale: float = 0.0,
        learnable: bool = False,
    ) -> None:
        super().__init__()
        self.heads, self.registers = heads, registers
        self.input_proj = nn.Sequential(nn.Linear(feat, dim), nn.GELU())
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        if registers:
            self.register_tokens = nn.Parameter(torch.randn(1, registers, dim))
        self.mask_token = nn.Parameter(torch.randn(1, 1, dim))
        alibi = nn.Module()
        slopes = -torch.tensor(TitanReference._series_slopes(heads), dtype=torch.float32).unsqueeze(
            1
        )
        if learnable:
            alibi.slopes = nn.Parameter(slopes * (1 + 0.1 * torch.rand_like(slopes)))
        else:
            alibi.register_buffer("slopes", slopes)
        self.pos_bias: Any = alibi
        self.blocks: Any = nn.ModuleList()
        for _ in range(layers):
            blk = nn.Module()
            blk.norm1, blk.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            blk.q_proj, blk.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
            blk.v_proj, blk.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
            if qk_norm:
                blk.q_norm, blk.k_norm = nn.LayerNorm(dim // heads), nn.LayerNorm(dim // heads)
            blk.pos_bias = alibi
            blk.fc1, blk.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
            if layerscale:
                blk.ls_attn, blk.ls_mlp = nn.Module(), nn.Module()
                blk.ls_attn.gamma = nn.Parameter(torch.rand(dim))
                blk.ls_mlp.gamma = nn.Parameter(torch.rand(dim))
            self.blocks.append(blk)
        self.norm = nn.LayerNorm(dim)
        self.qk_norm, self.layerscale = qk_norm, layerscale
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.normal_(1.0, 0.2)
                    module.bias.normal_(0.0, 0.2)

    def forward(self, tiles: torch.Tensor, coords: torch.Tensor, patch_size: int) -> torch.Tensor:
        b, n, _ = tiles.shape
        lead = 1 + self.registers
        parts = [self.cls_token.expand(b, -1, -1)]
        if self.registers:
            parts.append(self.register_tokens.expand(b, -1, -1))
        x = torch.cat([*parts, self.input_proj(tiles)], dim=1)
        pos = torch.cat([torch.zeros(b, lead, 2), coords.float()], dim=1)
        dist = (pos[:, :, None, :] - pos[:, None, :, :]).pow(2).sum(-1).sqrt() / float(patch_size)
        bias = self.pos_bias.slopes.view(1, -1, 1, 1) * dist[:, None]
        keep = torch.ones(lead + n, dtype=torch.bool)
        keep[:lead] = False
        bias = bias * (keep[:, None] & keep[None, :])  # no bias on the class and register tokens
        for blk in self.blocks:
            h = blk.norm1(x)

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.reshape(b, lead + n, self.heads, -1).transpose(1, 2)

            q, k, v = split(blk.q_proj(h)), split(blk.k_proj(h)), split(blk.v_proj(h))
            if self.qk_norm:
                q, k = blk.q_norm(q), blk.k_norm(k)
            a = blk.out_proj(explicit_attention(q, k, v, bias).transpose(1, 2).reshape(x.shape))
            x = x + (a * blk.ls_attn.gamma if self.layerscale else a)
            m = blk.fc2(F.gelu(blk.fc1(blk.norm2(x))))
            x = x + (m * blk.ls_mlp.gamma if self.layerscale else m)
        return self.norm(x)[:, 0]
