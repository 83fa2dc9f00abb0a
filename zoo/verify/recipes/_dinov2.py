"""A re-expression of DINOv2's vision transformer (and DINO's, its ancestor without LayerScale or
registers), for the recipes of entries whose authors build it through ``torch.hub`` or a copy
of the DINOv2 repository.

Written from reading facebookresearch/dinov2 at b8931f7bf91576930313be2c6d6af376033b35f0
(dinov2/models/vision_transformer.py: ``DinoVisionTransformer``, ``prepare_tokens_with_masks``,
``interpolate_pos_encoding``, ``forward`` returning ``x_norm_clstoken``; dinov2/layers/: the
pre-norm ``Block`` with LayerScale, ``Attention``, ``Mlp``, ``SwiGLUFFNFused``; dinov2/hub/
backbones.py: the hub models' arguments); never copied. The parameter names are DINOv2's, so a
state dict in the released layout loads strictly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

ARCHS = {
    # name: (width, depth, heads); every DINOv2 architecture has mlp_ratio 4.
    "vit_small": (384, 12, 6),
    "vit_base": (768, 12, 12),
    "vit_large": (1024, 24, 16),
    "vit_giant2": (1536, 40, 24),
}


def dinov2(
    arch: str,
    *,
    patch_size: int = 14,
    img_size: int = 224,
    ffn_layer: str = "mlp",
    num_register_tokens: int = 0,
    layerscale: bool = True,
    depth: int | None = None,
    interpolate_offset: float = 0.1,
    interpolate_antialias: bool = False,
) -> Any:
    """A DINOv2 ``DinoVisionTransformer`` (random weights, eval mode) whose position table covers
    ``img_size`` (DINOv2's own hub models use 518; most pathology releases train at 224).
    ``ffn_layer``: ``mlp`` or ``swiglufused``; ``layerscale=False`` is DINO's (v1) block;
    ``depth`` overrides the architecture's block count (the reduced network)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    width, blocks, heads = ARCHS[arch]
    blocks = depth if depth is not None else blocks
    hidden = 4 * width
    if ffn_layer == "swiglufused":
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8

    class LayerScale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(width))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gamma

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(width, 3 * width)
            self.proj = nn.Linear(width, width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, n, c = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
            out = F.scaled_dot_product_attention(q, k, v)
            return self.proj(out.transpose(1, 2).reshape(b, n, c))

    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(F.gelu(self.fc1(x)))

    class SwiGLU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w12, self.w3 = nn.Linear(width, 2 * hidden), nn.Linear(hidden, width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            gate, value = self.w12(x).chunk(2, dim=-1)
            return self.w3(F.silu(gate) * value)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1 = nn.LayerNorm(width, eps=1e-6)
            self.attn = Attention()
            self.norm2 = nn.LayerNorm(width, eps=1e-6)
            self.mlp = SwiGLU() if ffn_layer == "swiglufused" else Mlp()
            self.ls1 = LayerScale() if layerscale else nn.Identity()
            self.ls2 = LayerScale() if layerscale else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x + self.ls1(self.attn(self.norm1(x)))
            return x + self.ls2(self.mlp(self.norm2(x)))

    class PatchEmbed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x).flatten(2).transpose(1, 2)

    class DinoVisionTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            grid = img_size // patch_size
            self.patch_embed = PatchEmbed()
            self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
            self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, width))
            if num_register_tokens:
                self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, width))
            if layerscale:  # DINOv2 (not DINO) keeps a mask token for iBOT
                self.mask_token = nn.Parameter(torch.zeros(1, width))
            self.blocks = nn.ModuleList(Block() for _ in range(blocks))
            self.norm = nn.LayerNorm(width, eps=1e-6)
            for token in (self.cls_token, self.pos_embed, *self._extra()):
                nn.init.normal_(token, std=0.02)

        def _extra(self) -> list[nn.Parameter]:
            return [getattr(self, k) for k in ("register_tokens", "mask_token") if hasattr(self, k)]

        def positions(self, x: torch.Tensor, w: int, h: int) -> torch.Tensor:
            # interpolate_pos_encoding: unchanged when the grid matches, otherwise a bicubic
            # resample of the patch positions, by scale factors with an offset (0.1 in the
            # original models) or to the grid's size (offset 0, the register models).
            n = self.pos_embed.shape[1] - 1
            if x.shape[1] - 1 == n and w == h:
                return self.pos_embed
            m = int(math.sqrt(n))
            w0, h0 = w // patch_size, h // patch_size
            grid = self.pos_embed[:, 1:].float().reshape(1, m, m, -1).permute(0, 3, 1, 2)
            if interpolate_offset:
                scale = ((w0 + interpolate_offset) / m, (h0 + interpolate_offset) / m)
                grid = F.interpolate(
                    grid, scale_factor=scale, mode="bicubic", antialias=interpolate_antialias
                )
            else:
                grid = F.interpolate(
                    grid, size=(w0, h0), mode="bicubic", antialias=interpolate_antialias
                )
            grid = grid.permute(0, 2, 3, 1).reshape(1, -1, grid.shape[1])
            return torch.cat([self.pos_embed[:, :1], grid.to(x.dtype)], dim=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            w, h = x.shape[-2:]
            x = self.patch_embed(x)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
            x = x + self.positions(x, w, h)
            if num_register_tokens:
                registers = self.register_tokens.expand(x.shape[0], -1, -1)
                x = torch.cat([x[:, :1], registers, x[:, 1:]], dim=1)
            for block in self.blocks:
                x = block(x)
            return self.norm(x)[:, 0]  # x_norm_clstoken (the head is an identity)

    return DinoVisionTransformer().eval()


def dinov2_training_checkpoint(
    prefix: str = "backbone.", chunks: int = 0
) -> Callable[[Any, Path], None]:
    """``save(net, path)``: a DINOv2 training checkpoint, ``{"teacher": {...}}`` with the backbone
    under ``prefix`` beside the DINO and iBOT heads (a few tensors each, dropped on load); with
    ``chunks`` the blocks are keyed as the training's ``BlockChunk``s, ``blocks.<chunk>.<i>.``."""

    def save(net: Any, path: Path) -> None:
        import torch

        per_chunk = math.ceil(len(net.blocks) / chunks) if chunks else 0
        teacher = {}
        for key, value in net.state_dict().items():
            if chunks and key.startswith("blocks."):
                index = int(key.split(".")[1])
                key = f"blocks.{index // per_chunk}.{key[len('blocks.') :]}"
            teacher[prefix + key] = value.detach().clone()
        width = net.norm.weight.shape[0]
        for head in ("dino_head", "ibot_head"):
            teacher[f"{head}.mlp.0.weight"] = torch.randn(8, width)
            teacher[f"{head}.last_layer.weight_g"] = torch.ones(16, 1)
        torch.save({"teacher": teacher}, path)

    return save


def dinov2_training_load(prefix: str = "backbone.") -> Callable[[Any, Path], None]:
    """``load(net, path)``: the authors' loading of a training checkpoint: ``teacher``, keys under
    ``prefix`` with it stripped, the heads left out, block chunks undone, a strict load."""

    def load(net: Any, path: Path) -> None:
        import re

        import torch

        teacher = torch.load(path, map_location="cpu", weights_only=True)["teacher"]
        state = {
            re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k[len(prefix) :]): v
            for k, v in teacher.items()
            if k.startswith(prefix)
        }
        net.load_state_dict(state, strict=True)

    return load
