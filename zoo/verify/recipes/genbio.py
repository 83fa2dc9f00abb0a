"""GenBio AI's GenBio-PathFM: a one-channel ViT-g/16 run on the R, G and B planes separately.

The authors' code is GitHub-only (https://github.com/genbio-ai/genbio-pathfm at
1d65d002f28f6a4b481ca6cc434267b453c30b60, genbio_pathfm/model.py: ``GenBio_PathFM_Inference``,
``VisionTransformer``, ``SelfAttentionBlock``, ``SelfAttention``, ``SwiGLUFFN``,
``RopePositionEmbedding``; README.md for the transform); this recipe re-expresses it in this
project's own code from reading that file. ``GenBio_PathFM_Inference`` builds
``VisionTransformer(img_size=224, patch_size=16, embed_dim=1536, depth=40, num_heads=24,
ffn_ratio=4, in_chans=1, n_storage_tokens=4, ffn_layer="swiglu64", layerscale_init=1e-5,
qkv_bias=False, ...)`` with the class's defaults (LayerNorm eps 1e-6, rotary base 100,
coordinates normalised per axis, ``pos_embed_rope_dtype="bf16"``; the coordinate jitter and
rescale act in training only), loads model.pth strictly, feeds ``x.view(b * 3, 1, h, w)`` and
returns the three final class tokens concatenated in R, G, B order. The transform:
``Resize((224, 224))`` (bilinear, squashing), ``ToTensor``, ``Normalize((0.697, 0.575, 0.728),
(0.188, 0.240, 0.187))``.
"""

from __future__ import annotations

import math
from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import state_dict_file, torchvision_eval

#: The rotary sin/cos and the rotation of q and k run in this dtype (the authors' default).
ROPE_DTYPE = "bfloat16"


def _model(reduced: bool) -> Any:
    import torch
    import torch.nn.functional as F
    from torch import nn

    width, heads, depth = 1536, 24, 2 if reduced else 40
    head = width // heads
    rope_dtype = getattr(torch, ROPE_DTYPE)

    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gamma = nn.Parameter(torch.full((width,), 1e-5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gamma

    class SwiGlu(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            hidden = int(width * 4 * 2 / 3)
            hidden += -hidden % 64  # swiglu64: aligned to 64
            self.w1 = nn.Linear(width, hidden)
            self.w2 = nn.Linear(width, hidden)
            self.w3 = nn.Linear(hidden, width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.w3(F.silu(self.w1(x)) * self.w2(x))

    def rotate(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        low, high = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-high, low], dim=-1) * sin

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(width, 3 * width, bias=False)
            self.proj = nn.Linear(width, width)

        def forward(self, x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
            b, n, _ = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, heads, head).permute(2, 0, 3, 1, 4)
            skip = n - sin.shape[0]  # the class and storage tokens are not rotated
            rotated = []
            for t in (q, k):
                r = t.to(rope_dtype)
                r = torch.cat((r[:, :, :skip], rotate(r[:, :, skip:], sin, cos)), dim=-2)
                rotated.append(r.to(t.dtype))
            out = F.scaled_dot_product_attention(rotated[0], rotated[1], v)
            return self.proj(out.transpose(1, 2).reshape(b, n, width))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1 = nn.LayerNorm(width, eps=1e-6)
            self.attn = Attention()
            self.ls1 = Scale()
            self.norm2 = nn.LayerNorm(width, eps=1e-6)
            self.mlp = SwiGlu()
            self.ls2 = Scale()

        def forward(self, x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
            x = x + self.ls1(self.attn(self.norm1(x), sin, cos))
            return x + self.ls2(self.mlp(self.norm2(x)))

    class Rope(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            steps = torch.arange(head // 4, dtype=rope_dtype)
            self.register_buffer("periods", 100.0 ** (2 * steps / (head // 2)), persistent=True)

        def forward(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
            ys = torch.arange(0.5, h, dtype=rope_dtype) / h
            xs = torch.arange(0.5, w, dtype=rope_dtype) / w
            coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).flatten(0, 1)
            coords = 2.0 * coords - 1.0
            periods: Any = self.periods
            angles = 2 * math.pi * coords[:, :, None] / periods[None, None, :]
            angles = angles.flatten(1, 2).tile(2)
            return torch.sin(angles), torch.cos(angles)

    class OneChannelViT(nn.Module):
        """The authors' VisionTransformer, named as in model.pth."""

        def __init__(self) -> None:
            super().__init__()
            self.patch_embed = nn.Module()
            self.patch_embed.proj = nn.Conv2d(1, width, kernel_size=16, stride=16)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
            self.storage_tokens = nn.Parameter(torch.zeros(1, 4, width))
            self.rope_embed = Rope()
            self.blocks = nn.ModuleList(Block() for _ in range(depth))
            self.norm = nn.LayerNorm(width, eps=1e-6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """The final class token of each one-channel image."""
            proj: Any = self.patch_embed.proj
            grid = proj(x)
            h, w = grid.shape[-2:]
            tokens = grid.flatten(2).transpose(1, 2)
            prefix = [self.cls_token, self.storage_tokens]
            tokens = torch.cat([p.expand(x.shape[0], -1, -1) for p in prefix] + [tokens], dim=1)
            sin, cos = self.rope_embed(h, w)
            for block in self.blocks:
                tokens = block(tokens, sin, cos)
            return self.norm(tokens)[:, 0]

    return OneChannelViT().eval()


def _embed(net: Any, x: Any) -> Any:
    """``GenBio_PathFM_Inference.forward``: the channels as a batch, the class tokens in R, G, B
    order side by side."""
    import torch

    b, _, h, w = x.shape
    cls = net(x.reshape(b * 3, 1, h, w)).view(b, 3, -1)
    return torch.cat([cls[:, 0], cls[:, 1], cls[:, 2]], dim=-1)


_save, _load = state_dict_file("pickle")

register(
    Recipe(
        names=("pathology/genbio_pathfm",),
        source="https://github.com/genbio-ai/genbio-pathfm/blob/"
        "1d65d002f28f6a4b481ca6cc434267b453c30b60/genbio_pathfm/model.py (GenBio_PathFM_Inference; "
        "README.md for the transform; weights https://huggingface.co/genbio-ai/genbio-pathfm "
        "model.pth, unpinned)",
        how="re-expression",
        build=_model,
        preprocess=torchvision_eval(
            (224, 224),
            None,
            interpolation="bilinear",
            mean=(0.697, 0.575, 0.728),
            std=(0.188, 0.240, 0.187),
        ),
        embed=_embed,
        filename="model.pth",
        save=_save,
        load=_load,
        reduce={"depth": 2},
        # Measured on the bundled images (random weights, 2 blocks): with ROPE_DTYPE float32 the
        # recipe equals zoo exactly (difference 0.0); with the authors' bfloat16 rotary
        # embedding the largest relative difference is 1.5e-3.
        tolerance=3e-3,
        note="The authors compute the rotary sin/cos and rotate q and k in bfloat16 "
        "(pos_embed_rope_dtype defaults to bf16); zoo's timm trunk does both in float32, so the "
        "embeddings agree to about 1.5e-3 (relative), not bit for bit; with float32 rotary "
        "embeddings the recipe and zoo are identical.",
    )
)
