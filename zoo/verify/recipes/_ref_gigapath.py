"""Prov-GigaPath's slide encoder re-expressed: the reference of ``zoo verify
pathology/prov_gigapath_slide`` and tests/nn/test_slide_gigapath.py.

The authors' ``gigapath`` is not on PyPI and its attention needs flash-attn on CUDA, so the wrapper
and the dilated attention here are written from reading the authors' code at the commit the
docstrings cite, never copied, on PyPI torchscale's encoder (a test-only dependency: the
``reference`` dependency group), imported inside the functions; flash-attn's kernel is plain math.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def flash_attention_math(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``flash_attn_func(q, k, v, dropout_p=0, return_attn_probs=True)`` returns for
    ``[B, L, H, d]`` inputs, written as plain math: the output and the log-sum-exp ``[B, H, L]``
    of the scaled scores (no mask: zero padding rows take part as keys)."""
    scores = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(q.shape[-1])
    lse = torch.logsumexp(scores, dim=-1)
    out = torch.einsum("bhlm,bmhd->blhd", scores.softmax(dim=-1), v)
    return out, lse


def _import_torchscale() -> None:
    """torchscale imports timm's deprecated ``timm.models.layers`` path; import it once quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import torchscale.architecture.encoder  # noqa: F401


def _torchscale_dilated_attention() -> Any:
    _import_torchscale()
    from torchscale.component.multihead_attention import MultiheadAttention

    class DilatedAttentionReference(MultiheadAttention):
        """gigapath/torchscale/component/dilated_attention.py (prov-gigapath commit
        09d8e876afb98a1dda01cc531b1087c58fffc9f7) re-expressed on torchscale's (PyPI 0.3.0)
        ``MultiheadAttention``, whose projections and ``inner_attn_ln`` it inherits; flash-attn's
        kernel is :func:`flash_attention_math`. Batch size 1 per segment group, no sequence
        parallelism, no incremental state: the slide encoder's inference path."""

        segments: tuple[int, ...] = ()
        ratios: tuple[int, ...] = ()

        def _sparse(self, x: torch.Tensor, segment: int, ratio: int) -> torch.Tensor:
            _b, length, h, d = x.shape
            segment = min(segment, length)
            x = F.pad(x, (0, 0, 0, 0, 0, (-length) % segment))
            x = x.reshape(-1, segment, h, d)  # (b n) g h d
            pad_len, pad_h = (-segment) % ratio, (-h) % ratio
            x = F.pad(x, (0, 0, 0, pad_h, 0, pad_len))
            n, g2, h2 = x.shape[0], x.shape[1] // ratio, (h + pad_h) // ratio
            # b (l r1) (r2 h) d -> b l h d r1 r2, then the r1 == r2 diagonal
            x = x.reshape(n, g2, ratio, ratio, h2, d).permute(0, 1, 4, 5, 2, 3)
            x = torch.diagonal(x, dim1=4, dim2=5)  # b l h d r
            x = x.permute(0, 1, 4, 2, 3).reshape(n, g2, ratio * h2, d)
            return x[:, :, :h]

        def _dense(
            self, out: torch.Tensor, lse: torch.Tensor, ratio: int
        ) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.num_heads
            pad_h = (-h) % ratio
            out = F.pad(out, (0, 0, 0, pad_h))
            lse = F.pad(lse, (0, 0, 0, pad_h), value=-1e8)
            n, g2, h_all, d = out.shape
            h2 = h_all // ratio
            out = out.reshape(n, g2, ratio, h2, d).permute(0, 1, 3, 4, 2)  # b l h d r
            out = torch.diag_embed(out, dim1=4, dim2=5)  # b l h d r1 r2
            out = out.permute(0, 5, 2, 1, 4, 3).reshape(n, ratio * h2, g2 * ratio, d)
            lse = lse.reshape(n, ratio, h2, g2).permute(0, 3, 2, 1)  # b l h r
            lse = torch.diag_embed(lse, dim1=3, dim2=4)
            lse = lse.masked_fill(lse == 0, -1e8)
            lse = lse.permute(0, 4, 2, 1, 3).reshape(n, ratio * h2, g2 * ratio, 1)
            return out[:, :h], lse[:, :h]

        def forward(self, query, key, value, **_: object):
            bsz, length, dim = query.shape
            h = self.num_heads

            def heads(t: torch.Tensor) -> torch.Tensor:
                return t.reshape(bsz, length, h, dim // h)

            q, k, v = heads(self.q_proj(query)), heads(self.k_proj(key)), heads(self.v_proj(value))
            outs, lses = [], []
            for segment, ratio in zip(self.segments, self.ratios, strict=True):
                out, lse = flash_attention_math(
                    *(self._sparse(t, segment, ratio) for t in (q, k, v))
                )
                out, lse = self._dense(out, lse, ratio)  # (b n) h g d, (b n) h g 1
                g = out.shape[2]
                out = out.reshape(bsz, -1, h, g, out.shape[-1]).permute(0, 2, 1, 3, 4)
                out = out.reshape(bsz * h, -1, out.shape[-1])[:, :length]
                lse = lse.reshape(bsz, -1, h, g, 1).permute(0, 2, 1, 3, 4).reshape(bsz * h, -1, 1)
                outs.append(out)
                lses.append(lse[:, :length])
            top = torch.stack(lses).max(0)[0]
            weights = [torch.exp(lse - top) for lse in lses]
            total = torch.stack(weights).sum(0)
            attn = cast(
                torch.Tensor, sum(o * (w / total) for o, w in zip(outs, weights, strict=True))
            )
            attn = attn.reshape(bsz, h, length, -1).transpose(1, 2).reshape(bsz, length, dim)
            return self.out_proj(self.inner_attn_ln(attn)), None

    return DilatedAttentionReference


class GigaPathReference(nn.Module):
    """Prov-GigaPath's ``LongNetViT`` (gigapath/slide_encoder.py at prov-gigapath commit
    09d8e876afb98a1dda01cc531b1087c58fffc9f7) on PyPI torchscale's ``Encoder``: the wrapper and
    the position table re-expressed, the encoder torchscale's own (the authors' vendored copy of
    ``encoder.py`` and ``feedforward_network.py`` is identical to PyPI 0.3.0), its self-attention
    the re-expression above. Returns ``forward(x, coords, all_layer_embed=True)`` with
    ``global_pool=True`` (or the class token), one entry per layer."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        depth: int,
        heads: int,
        ngrids: int,
        tile: int,
        segments: tuple[int, ...],
        ratios: tuple[int, ...],
    ) -> None:
        super().__init__()
        _import_torchscale()
        from torchscale.architecture.config import EncoderConfig
        from torchscale.architecture.encoder import Encoder, EncoderLayer

        attention = _torchscale_dilated_attention()

        class LongNetLayer(EncoderLayer):
            def build_self_attention(self, embed_dim, args):
                module = attention(
                    args,
                    embed_dim,
                    args.encoder_attention_heads,
                    dropout=args.attention_dropout,
                    self_attention=True,
                    subln=args.subln,
                )
                module.segments, module.ratios = segments, ratios
                return module

        class LongNetEncoder(Encoder):
            def build_encoder_layer(
                self, args, depth, is_moe_layer=False, is_encoder_decoder=False
            ):
                return LongNetLayer(
                    args, depth, is_moe_layer=is_moe_layer, is_encoder_decoder=is_encoder_decoder
                )

        config = EncoderConfig(
            encoder_layers=depth,
            encoder_embed_dim=dim,
            encoder_ffn_embed_dim=4 * dim,
            encoder_attention_heads=heads,
            dropout=0.25,
            drop_path_rate=0.1,
        )
        self.tile, self.ngrids = tile, ngrids
        self.patch_embed: Any
        self.pos_embed: torch.Tensor
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Linear(in_dim, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.encoder = LongNetEncoder(config)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        # MAE's table: meshgrid(w, h) with w first, half the channels per axis, class row 0
        grid = np.stack(
            np.meshgrid(np.arange(ngrids, dtype=np.float32), np.arange(ngrids, dtype=np.float32)),
            axis=0,
        )

        def one_axis(pos: np.ndarray) -> np.ndarray:
            omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=float) / (dim / 4.0))
            angles = np.einsum("m,d->md", pos.reshape(-1), omega)
            return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

        table = np.concatenate([one_axis(grid[0]), one_axis(grid[1])], axis=1)
        table = np.concatenate([np.zeros([1, dim]), table], axis=0)
        self.register_buffer(
            "pos_embed", torch.from_numpy(table).float().unsqueeze(0), persistent=False
        )
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.normal_(1.0, 0.2)
                    module.bias.normal_(0.0, 0.2)

    def forward(
        self, x: torch.Tensor, coords: torch.Tensor, global_pool: bool = True
    ) -> list[torch.Tensor]:
        x = self.patch_embed.proj(x)
        cells = torch.floor(coords / self.tile)
        pos = (cells[..., 0] * self.ngrids + cells[..., 1]).long() + 1
        x = x + self.pos_embed[:, pos, :].squeeze(0)
        x = torch.cat(
            [(self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1), x], dim=1
        )
        states = self.encoder(src_tokens=None, token_embeddings=x, return_all_hiddens=True)[
            "encoder_states"
        ]
        if global_pool:
            return [self.norm(s[:, 1:].mean(dim=1)) for s in states]
        return [self.norm(s)[:, 0] for s in states]
