"""Attention-based multiple-instance pooling (ABMIL, Ilse et al. 2018) over a bag of tiles.

Each head scores every tile with ``w^T (tanh(V h) * sigmoid(U h))`` (the gate only when
``gated``), softmaxes the scores over the tiles and averages the tile features with them; several
heads are concatenated and condensed back to the feature width by a linear layer. Around the
pooler, TRIDENT's ABMIL slide encoder puts ``Linear -> GELU -> Dropout`` before (on each tile)
and after (on the pooled vector).

Written for zoo from reading TRIDENT's ``ABMILSlideEncoder`` (trident/slide_encoder_models/
load.py) and ``ABMIL`` (trident/slide_encoder_models/model_zoo/reusable_blocks/ABMIL.py) at
https://github.com/mahmoodlab/TRIDENT/tree/a91fa8490e0210ebbbe58452c3babe009e0ab7ca; the
submodule names are theirs (``pre_attention_layers``, ``image_pooler.attention_heads.<i>.0``,
``image_pooler.gating_layers.<i>.0``, ``image_pooler.branching_layers.<i>``,
``image_pooler.condensing_layer``, ``post_attention_layers``), so their state dict loads
strictly.
"""

from __future__ import annotations

import torch
from torch import nn


class AttentionPool(nn.Module):
    """Multi-head (optionally gated) attention pooling of ``[B, N, D]`` tiles to ``[B, D]``.

    Args:
        dim: Width of the tile features.
        head_dim: Hidden width of each head's scoring network.
        heads: Number of heads; more than one adds ``condensing_layer`` (``heads * dim -> dim``).
        gated: Multiply the tanh branch by a sigmoid gate (gated ABMIL).
        dropout: Dropout after the tanh and sigmoid (identity in eval mode).
    """

    def __init__(
        self, dim: int, head_dim: int, heads: int = 1, gated: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()

        def branch(act: nn.Module) -> nn.Sequential:
            return nn.Sequential(nn.Linear(dim, head_dim), act, nn.Dropout(dropout))

        self.attention_heads = nn.ModuleList(branch(nn.Tanh()) for _ in range(heads))
        if gated:
            self.gating_layers = nn.ModuleList(branch(nn.Sigmoid()) for _ in range(heads))
        self.branching_layers = nn.ModuleList(nn.Linear(head_dim, 1) for _ in range(heads))
        if heads > 1:
            self.condensing_layer = nn.Linear(heads * dim, dim)
        self.heads, self.gated = heads, gated

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Attention logits ``[B, heads, N]`` (before the softmax over tiles)."""
        found = []
        for i in range(self.heads):
            hidden = self.attention_heads[i](features)
            if self.gated:
                hidden = hidden * self.gating_layers[i](features)
            found.append(self.branching_layers[i](hidden).squeeze(-1))
        return torch.stack(found, dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weights = self.scores(features).softmax(dim=-1)  # [B, heads, N]
        pooled = weights @ features  # [B, heads, D]
        if self.heads == 1:
            return pooled[:, 0]
        return self.condensing_layer(pooled.flatten(1))


def _mlp(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(0.1))


class AbmilSlide(nn.Module):
    """TRIDENT's ABMIL slide encoder: per-tile MLP, attention pooling, MLP on the pooled vector.

    Args:
        feature_dim: Width of the tile features (and of the slide embedding).
        heads: Attention heads.
        head_dim: Hidden width of each head.
        gated: Gated attention.
        dropout: Dropout inside the attention heads.
    """

    def __init__(
        self,
        feature_dim: int,
        heads: int = 1,
        head_dim: int = 256,
        gated: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.pre_attention_layers = _mlp(feature_dim)
        self.image_pooler = AttentionPool(feature_dim, head_dim, heads, gated, dropout)
        self.post_attention_layers = _mlp(feature_dim)
        self.embedding_dim = feature_dim

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """The slide embedding ``[B, feature_dim]``; ``coords`` are not read."""
        pooled = self.image_pooler(self.pre_attention_layers(features))
        out: torch.Tensor = self.post_attention_layers(pooled)
        return out


def abmil(
    feature_dim: int,
    heads: int = 1,
    head_dim: int = 256,
    gated: bool = True,
    dropout: float = 0.0,
) -> AbmilSlide:
    """Build :class:`AbmilSlide` (TRIDENT's ``abmil`` slide encoder)."""
    return AbmilSlide(feature_dim, heads, head_dim, gated, dropout)
