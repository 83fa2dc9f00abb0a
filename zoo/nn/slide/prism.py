"""PRISM's slide encoder: a Perceiver resampler over a slide's Virchow tile embeddings.

Written from the authors' Hugging Face remote code (``paige-ai/Prism``, files ``modeling_prism.py``,
``perceiver.py`` and ``config.json``; read in the copy vendored at
github.com/DIAGNijmegen/unicorn_baseline, src/unicorn_baseline/vision_language/prism/, commit
dec380918e3bc344c403d85a69960befa76ad473), never running it. Only the image side is built: the
BioGPT report decoder and the contrastive heads are left out. Parameter names are those of the
``image_resampler`` part of ``Prism`` (``checkpoint.key: image_resampler``).

What ``Prism.slide_representations(tile_embeddings)["image_embedding"]`` computes, and so what
:class:`Prism` computes (no mask: every tile of a bag is real):

- 513 learned latents of width 1280 (one for the slide embedding, 512 for the report decoder);
- 8 Perceiver layers, each: a cross-attention from the latents to the tiles (one head of width
  1280, a LayerNorm on the latents, none on the 2560-d tiles, bias-free projections), residual;
  a GEGLU feed-forward network (pre-LayerNorm, ``Linear(1280, 2560)``, ``x * gelu(gate)``,
  ``Linear(1280, 1280)``), residual; then 6 self-attention blocks over the latents (pre-LayerNorm,
  ``nn.MultiheadAttention`` with 8 heads and no biases, then a GEGLU feed-forward network, both
  residual);
- the layers share weights as the authors' configuration says (``share_xattn_start_layer: 1``,
  ``share_tf_start_layer: 0``): layers 0 and 1 own their cross-attention, layers 2 to 7 reuse
  layer 1's (with its key-value cache: the same keys and values); all 8 layers reuse layer 0's six
  self-attention blocks. Here each shared part is registered once, under the first layer that owns
  it (``perceiver.layers.0.xattn``, ``perceiver.layers.1.xattn``, ``perceiver.layers.0.tf``);
- the embedding is the first latent after a LayerNorm (``cls_norm``): 1280-d. All LayerNorms have
  eps 1e-5.

The authors run it under float16 autocast on CUDA (model card); zoo computes in float32 by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nn.slide._bag import check_features


class CrossAttention(nn.Module):
    """Latents attend to the tiles; no LayerNorm on the tiles (``c_norm=False``)."""

    def __init__(self, dim: int, context_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.x_norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, dim = x.shape
        q = self.to_q(self.x_norm(x)).reshape(b, n, self.heads, -1).transpose(1, 2)
        k, v = self.to_kv(context).reshape(b, context.shape[1], 2, self.heads, -1).unbind(2)
        out = F.scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2))
        return self.to_out(out.transpose(1, 2).reshape(b, n, dim))


class GEGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = x.chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.net = nn.Sequential(
            nn.Linear(dim, 2 * dim * mult), GEGLU(), nn.Linear(dim * mult, dim), nn.Dropout(0.0)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))


class SelfAttention(nn.Module):
    """Pre-LayerNorm ``nn.MultiheadAttention`` without biases (batch first)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mha = nn.MultiheadAttention(dim, heads, bias=False, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.mha(x, x, x, need_weights=False)[0]


class Prism(nn.Module):
    """PRISM's ``PerceiverResampler``; ``forward`` returns ``image_embedding``."""

    def __init__(
        self,
        context_dim: int = 2560,
        latent_dim: int = 1280,
        latent_seq: int = 512,
        perceiver_depth: int = 8,
        transformer_depth: int = 6,
        mhsa_heads: int = 8,
        xattn_heads: int = 1,
        mlp_mult: int = 1,
        share_xattn_start_layer: int = 1,
        share_tf_start_layer: int = 0,
    ) -> None:
        super().__init__()
        if latent_dim % mhsa_heads or latent_dim % xattn_heads:
            raise ValueError(f"latent_dim {latent_dim} is not a multiple of the head counts")
        if not 0 <= share_xattn_start_layer < perceiver_depth:
            raise ValueError("share_xattn_start_layer must name one of the Perceiver's layers")
        if not 0 <= share_tf_start_layer < perceiver_depth:
            raise ValueError("share_tf_start_layer must name one of the Perceiver's layers")
        self.context_dim = context_dim
        self.depth = perceiver_depth
        self.cls_norm = nn.LayerNorm(latent_dim)
        self.img_norm = nn.LayerNorm(latent_dim)  # the report decoder's latents only
        self.perceiver = nn.Module()
        self.perceiver.latents = nn.Parameter(torch.randn(1 + latent_seq, latent_dim))
        layers = []
        for i in range(max(share_xattn_start_layer, share_tf_start_layer) + 1):
            layer = nn.ModuleDict()
            if i <= share_xattn_start_layer:
                layer["xattn"] = nn.ModuleDict(
                    {
                        "xattn": CrossAttention(latent_dim, context_dim, xattn_heads),
                        "ff": FeedForward(latent_dim, mlp_mult),
                    }
                )
            if i <= share_tf_start_layer:
                layer["tf"] = nn.ModuleList(
                    nn.ModuleDict(
                        {
                            "mhsa": SelfAttention(latent_dim, mhsa_heads),
                            "ff": FeedForward(latent_dim, mlp_mult),
                        }
                    )
                    for _ in range(transformer_depth)
                )
            layers.append(layer)
        self.perceiver.layers = nn.ModuleList(layers)
        self.share_xattn_start_layer = share_xattn_start_layer
        self.share_tf_start_layer = share_tf_start_layer

    def _part(self, i: int, name: str, start: int) -> nn.Module:
        """Layer ``i``'s ``xattn`` or ``tf``: its own, or the last owner's when shared."""
        layer = self.perceiver.layers[min(i, start)]  # type: ignore[index]
        assert isinstance(layer, nn.ModuleDict)
        return layer[name]

    def latents(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, N, 2560]`` -> the Perceiver's 513 output latents ``[B, 513, 1280]``."""
        latents = self.perceiver.latents
        assert isinstance(latents, torch.Tensor)
        x = latents.unsqueeze(0).expand(features.shape[0], -1, -1)
        for i in range(self.depth):
            cross = self._part(i, "xattn", self.share_xattn_start_layer)
            x = cross["xattn"](x, features) + x  # type: ignore[index]
            x = cross["ff"](x) + x  # type: ignore[index]
            for block in self._part(i, "tf", self.share_tf_start_layer):  # type: ignore[attr-defined]
                x = block["mhsa"](x) + x
                x = block["ff"](x) + x
        return x

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """``[B, N, 2560]`` Virchow tile embeddings (class token + mean patch token) -> ``[B, 1280]``;
        PRISM does not use coordinates."""
        check_features(features, self.context_dim, "PRISM")
        x = self.latents(features.to(self.cls_norm.weight.dtype))
        return self.cls_norm(x[:, 0]).float()


def prism(**kwargs: int) -> Prism:
    """PRISM's slide encoder (defaults: the released ``perceiver_config``)."""
    return Prism(**kwargs)
