"""TANGLE (Jaume et al., CVPR 2024): the multi-head ABMIL slide encoder aligned with expression.

TANGLE trains a slide encoder against a gene-expression encoder with a CLIP-style loss; only
the slide side is kept here. Each tile feature goes through a shared three-layer MLP
(``Linear -> LayerNorm -> GELU -> Dropout`` three times, the last layer ``heads`` times wider).
The widened feature is read as ``heads`` interleaved slices of ``dim`` channels (channel
``c * heads + i`` belongs to head ``i``); each head scores its slice with gated attention
(``tanh`` and ``sigmoid`` branches of width ``dim``, one logit), softmaxes the logits over the
slide's tiles and sums its slice with those weights. The ``heads`` pooled slices, interleaved
back into one ``dim * heads`` vector, go through ``proj_multihead`` to the ``dim``-d slide
embedding: what the authors' ``MMSSL.get_features`` returns, the embedding their downstream
evaluation extracts.

Written for zoo from reading ``core/models/mmssl.py`` (``MMSSL``, ``ABMILEmbedder_MH``) and
``core/models/abmil.py`` (``BatchedABMIL``) at
https://github.com/mahmoodlab/TANGLE/tree/266a756a2574e18baab0b56a6809b5b274d48f14. The submodule
names are those of their ``wsi_embedder`` (``pre_attn``, ``attn.<i>.attention_{a,b,c}``,
``proj_multihead``); the manifest's ``checkpoint.remap`` strips the ``module.wsi_embedder.``
prefix of the released state dict and drops the expression branch (``rna_embedder``) and the
unused ``mean_projector``.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.errors import ArgumentError
from zoo.nn.slide.chief import GatedAttention


def _block(width_in: int, width_out: int) -> list[nn.Module]:
    return [nn.Linear(width_in, width_out), nn.LayerNorm(width_out), nn.GELU(), nn.Dropout(0.1)]


class TangleSlide(nn.Module):
    """TANGLE's slide encoder: ``[B, N, in_dim]`` tile features to the ``[B, dim]`` embedding.

    Args:
        in_dim: Width of the patch encoder's features (1024 for UNI).
        dim: Width of each head's slice and of the slide embedding (``hidden_dim``).
        heads: Attention heads (``n_heads``).
    """

    def __init__(self, in_dim: int = 1024, dim: int = 512, heads: int = 4) -> None:
        super().__init__()
        self.pre_attn = nn.Sequential(
            *_block(in_dim, dim), *_block(dim, dim), *_block(dim, dim * heads)
        )
        self.attn = nn.ModuleList(GatedAttention(dim, dim) for _ in range(heads))
        self.proj_multihead = nn.Linear(dim * heads, dim)
        self.heads, self.embedding_dim = heads, dim

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """The slide embedding ``[B, dim]``; ``coords`` are not read."""
        tiles = self.pre_attn(features)
        slices = tiles.unflatten(-1, (self.embedding_dim, self.heads))  # [B, N, dim, heads]
        pooled = []
        for i, head in enumerate(self.attn):
            h = slices[..., i]  # [B, N, dim]
            weights = head(h).softmax(dim=1)  # over the tiles
            pooled.append((weights * h).sum(dim=1))  # [B, dim]
        out: torch.Tensor = self.proj_multihead(torch.stack(pooled, dim=-1).flatten(1))
        return out


def tangle(in_dim: int = 1024, dim: int = 512, heads: int = 4) -> TangleSlide:
    """Build :class:`TangleSlide` (the authors' ``abmil_mh`` ``wsi_embedder``).

    Raises:
        ArgumentError: A width below 1 or fewer than two heads (the authors' one-head encoder,
            ``ABMILEmbedder``, is another network).
    """
    for name, value, least in (("in_dim", in_dim, 1), ("dim", dim, 1), ("heads", heads, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ArgumentError(f"{name} must be an integer of at least {least}, got {value!r}")
    return TangleSlide(in_dim, dim, heads)
