"""Prov-GigaPath's slide encoder: a LongNet (dilated attention) over a slide's tile embeddings.

Written from the authors' code (github.com/prov-gigapath/prov-gigapath at commit
09d8e876afb98a1dda01cc531b1087c58fffc9f7: ``gigapath/slide_encoder.py``, ``gigapath/pos_embed.py``,
``gigapath/pipeline.py`` and the torchscale copy under ``gigapath/torchscale/``), never running it:
their attention runs only through flash-attn (CUDA) or xformers, so this block computes the same
attention in plain torch. Parameter names are those of the released ``slide_encoder.pth`` (its
``model`` entry; ``checkpoint.key: model``); the authors' demo notebook shows that file loading into
``gigapath_slide_enc12l768d`` with no missing or unexpected key.

What ``LongNetViT(global_pool=True)(x, coords, all_layer_embed=True)[-1]`` computes (the authors'
``run_inference_with_slide_encoder``, output ``last_layer_embed``; demo/run_gigapath.ipynb notes "The
CLS token is not trained during the slide-level pretraining" and so pools globally):

- ``Linear(1536, 768)`` on each tile; a fixed 2-D sine-cosine position embedding of the tile's grid
  cell ``(x // tile, y // tile)`` on a 1000 x 1000 grid (MAE's table: the first half of the channels
  encodes the column ``y // tile``, the second half the row ``x // tile``); a class token in front;
- 12 pre-norm LongNet layers (torchscale ``EncoderLayer`` with ``subln``: LayerNorm eps 1e-5 before
  attention and before the feed-forward network, a LayerNorm on the attention output before
  ``out_proj`` and on the GELU hidden layer before ``fc2``, no layer scale). The attention is
  *dilated*: for each of five (segment length, dilation) pairs, (1024, 1), (5792, 2), (32768, 4),
  (185363, 8), (1048576, 16), the sequence is cut into segments (the last padded with zero vectors,
  which take part as keys with score 0), and head group ``g`` of ``r`` groups attends, inside each
  segment, among positions ``g, g + r, g + 2r, ...``. The five outputs are averaged with weights
  ``softmax`` over their log-sum-exp of the scores, so that together they form one attention;
- the embedding: the mean of the last layer's tile tokens (class token left out), then a LayerNorm
  (eps 1e-6): 768-d. The encoder's own final LayerNorm (``encoder.layer_norm``) is in the checkpoint
  but not on this path, as in the authors' ``all_layer_embed`` output.

``layer`` picks another layer's output (0: the embeddings, 12: the last layer), as the authors'
fine-tuning code does (``--feat_layer``, default 11; TRIDENT returns layer 11);
``global_pool=False`` returns the normalised class token instead. The authors run under float16
autocast (flash-attn needs half precision); zoo computes in float32 by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import TilesError
from zoo.nn.slide._bag import check_coords, check_features

#: LongNetViT.get_optimal_segment_length(max_wsi_size=262144, tile_size=256), as the demo prints.
SEGMENT_LENGTHS = (1024, 5792, 32768, 185363, 1048576)
DILATED_RATIOS = (1, 2, 4, 8, 16)


def sincos_2d(cells: torch.Tensor, dim: int) -> torch.Tensor:
    """MAE's 2-D sine-cosine embedding of grid cells ``[..., 2]`` (row, column), in float64:
    ``[sin, cos](column * w), [sin, cos](row * w)`` with ``w = 10000 ** -(k / (dim / 4))``."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    parts = []
    for axis in (1, 0):
        angle = cells[..., axis].to(torch.float64).unsqueeze(-1) * omega.to(cells.device)
        parts += [angle.sin(), angle.cos()]
    return torch.cat(parts, dim=-1)


class DilatedAttention(nn.Module):
    """LongNet's dilated self-attention with torchscale's parameter names."""

    def __init__(
        self, dim: int, heads: int, segments: tuple[int, ...], ratios: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.heads = heads
        self.segments = segments
        self.ratios = ratios
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.inner_attn_ln = nn.LayerNorm(dim)

    def _branch(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, segment: int, ratio: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One (segment, dilation) pair: the output ``[B, L, H, d]`` (zero where a head does not
        look) and the log-sum-exp ``[B, L, H]`` (-1e8 there)."""
        b, length, heads, d = q.shape
        segment = min(segment, length)
        count = -(-length // segment)
        step = segment + (-segment % ratio)  # a segment, padded to a multiple of the dilation
        group = -(-heads // ratio)

        def cut(t: torch.Tensor) -> torch.Tensor:
            t = F.pad(t, (0, 0, 0, 0, 0, count * segment - length))
            t = t.reshape(b * count, segment, heads, d)
            return F.pad(t, (0, 0, 0, 0, 0, step - segment))

        qs, ks, vs = cut(q), cut(k), cut(v)
        out = q.new_zeros(b * count, step, heads, d)
        lse = q.new_full((b * count, step, heads), -1e8)
        for g in range(ratio):
            hs = slice(g * group, min((g + 1) * group, heads))
            if hs.start >= heads:
                break
            rows = slice(g, step, ratio)
            qi, ki, vi = (t[:, rows, hs].transpose(1, 2) for t in (qs, ks, vs))
            scores = (qi @ ki.transpose(-2, -1)) * d**-0.5
            norm = torch.logsumexp(scores.float(), dim=-1, keepdim=True)
            attended = torch.exp(scores.float() - norm).to(vi.dtype) @ vi
            out[:, rows, hs] = attended.transpose(1, 2)
            lse[:, rows, hs] = norm.squeeze(-1).transpose(1, 2).to(lse.dtype)
        lse = lse.masked_fill(lse == 0, -1e8)  # as torchscale marks the positions a head skips
        out = out.reshape(b, count * step, heads, d)[:, :length]
        return out, lse.reshape(b, count * step, heads)[:, :length]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, dim = x.shape
        q, k, v = (
            proj(x).reshape(b, length, self.heads, dim // self.heads)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        outs, lses = zip(
            *(self._branch(q, k, v, s, r) for s, r in zip(self.segments, self.ratios, strict=True)),
            strict=True,
        )
        weights = torch.stack(lses).float().softmax(dim=0).unsqueeze(-1)
        attn = (torch.stack(outs) * weights.to(x.dtype)).sum(dim=0).reshape(b, length, dim)
        return self.out_proj(self.inner_attn_ln(attn))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.ffn_layernorm = nn.LayerNorm(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.ffn_layernorm(F.gelu(self.fc1(x).float()).to(x.dtype)))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, attn: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.self_attn = DilatedAttention(dim, heads, attn["segments"], attn["ratios"])
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, hidden)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x))
        return x + self.ffn(self.final_layer_norm(x))


class Encoder(nn.Module):
    """torchscale's ``Encoder``: the layers and (unused here) the final ``layer_norm``."""

    def __init__(
        self, depth: int, dim: int, heads: int, hidden: int, attn: dict[str, tuple[int, ...]]
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(dim, heads, hidden, attn) for _ in range(depth)])
        self.layer_norm = nn.LayerNorm(dim)


class PatchEmbed(nn.Module):
    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class GigaPathSlide(nn.Module):
    """Prov-GigaPath's ``LongNetViT``; ``forward`` returns the authors' ``last_layer_embed``."""

    def __init__(
        self,
        in_dim: int = 1536,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        slide_ngrids: int = 1000,
        segment_lengths: tuple[int, ...] | list[int] = SEGMENT_LENGTHS,
        dilated_ratios: tuple[int, ...] | list[int] = DILATED_RATIOS,
        global_pool: bool = True,
        layer: int | None = None,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads or embed_dim % 4:
            raise ValueError(f"embed_dim {embed_dim} must be a multiple of num_heads and of 4")
        if len(segment_lengths) != len(dilated_ratios) or not segment_lengths:
            raise ValueError("give one dilation ratio per segment length")
        self.layer = depth if layer is None else layer
        if not 0 <= self.layer <= depth:
            raise ValueError(f"layer must be 0 (the embeddings) to {depth}, got {layer}")
        self.in_dim = in_dim
        self.embed_dim = embed_dim
        self.slide_ngrids = slide_ngrids
        self.global_pool = global_pool
        self.patch_embed = PatchEmbed(in_dim, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        hidden = int(embed_dim * mlp_ratio)
        attn = {"segments": tuple(segment_lengths), "ratios": tuple(dilated_ratios)}
        self.encoder = Encoder(depth, embed_dim, num_heads, hidden, attn)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """``[B, N, 1536]`` Prov-GigaPath tile embeddings and their level-0 corners -> ``[B, 768]``."""
        check_features(features, self.in_dim, "Prov-GigaPath's slide encoder")
        coords, size = check_coords(
            features, coords, patch_size_level0, "Prov-GigaPath's slide encoder"
        )
        cells = torch.floor(coords / size).long()
        if cells.device.type != "meta" and bool((cells >= self.slide_ngrids).any()):
            raise TilesError(
                "Prov-GigaPath's slide encoder",
                f"places tiles on a {self.slide_ngrids} x "
                f"{self.slide_ngrids} grid; this slide spans {int(cells.max()) + 1} tiles along an axis",
            )
        dtype = self.cls_token.dtype
        x = self.patch_embed(features.to(dtype)) + sincos_2d(cells, self.embed_dim).to(dtype)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        for block in self.encoder.layers[: self.layer]:
            x = block(x)
        if self.global_pool:
            return self.norm(x[:, 1:].mean(dim=1)).float()
        return self.norm(x)[:, 0].float()


def gigapath_slide(**kwargs: object) -> GigaPathSlide:
    """Prov-GigaPath's slide encoder (defaults: ``gigapath_slide_enc12l768d`` as released, global
    pooling of the last layer as the authors' demo)."""
    return GigaPathSlide(**kwargs)  # type: ignore[arg-type]
