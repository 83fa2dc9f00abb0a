"""FEATHER (Shao et al., ICML 2025): MIL-Lab's gated ABMIL, pretrained on a 108-class pan-cancer task.

Each tile feature is embedded by ``Linear -> ReLU`` (``patch_embed``, width 512), scored by a
gated attention network (``tanh`` and ``sigmoid`` branches of width 384, then one logit), the
logits are softmaxed over the slide and the embedded tiles averaged with them: the 512-d
slide embedding ``forward_features`` returns (TRIDENT's feather and feather_uni_v2 call it). The
released models have no classification head.

Written for zoo from reading ``src/models/abmil.py`` (``ABMIL``, ``ABMILModel``),
``src/models/layers.py`` (``create_mlp``, ``GlobalGatedAttention``) and
``src/model_configs/abmil/base.yaml`` at
https://github.com/mahmoodlab/MIL-Lab/tree/dfc3c17ca6876a8f9bd33a9162c40f2c22631d9d. The
Hugging Face ``ABMILModel`` holds the network as ``model``, so the keys of its
``model.safetensors`` are ``model.patch_embed.0.*``, ``model.global_attn.attention_a.0.*``,
``model.global_attn.attention_b.0.*`` and ``model.global_attn.attention_c.*``: the same here.
"""

from __future__ import annotations

import torch
from torch import nn


class _GatedAttention(nn.Module):
    """MIL-Lab's ``GlobalGatedAttention``: one attention logit per tile."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.attention_a = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Dropout(dropout))
        self.attention_b = nn.Sequential(nn.Linear(dim, hidden), nn.Sigmoid(), nn.Dropout(dropout))
        self.attention_c = nn.Linear(hidden, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.attention_c(self.attention_a(h) * self.attention_b(h))
        return logits


class _GatedAbmil(nn.Module):
    def __init__(self, in_dim: int, embed_dim: int, attn_dim: int, dropout: float) -> None:
        super().__init__()
        self.patch_embed = nn.Sequential(nn.Linear(in_dim, embed_dim), nn.ReLU())
        self.global_attn = _GatedAttention(embed_dim, attn_dim, dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = self.patch_embed(features)  # [B, N, E]
        logits = self.global_attn(h)  # [B, N, 1]
        return (logits.softmax(dim=1) * h).sum(dim=1)


class FeatherSlide(nn.Module):
    """FEATHER: ``[B, N, in_dim]`` tile features to the ``[B, embed_dim]`` slide embedding.

    Args:
        in_dim: Width of the patch encoder's features.
        embed_dim: Width of the tile embedding and of the slide embedding (512 in ``base``).
        attn_dim: Width of the attention branches (384 in ``base``).
        dropout: Dropout in the attention branches (identity in eval mode).
    """

    def __init__(
        self, in_dim: int, embed_dim: int = 512, attn_dim: int = 384, dropout: float = 0.25
    ) -> None:
        super().__init__()
        self.model = _GatedAbmil(in_dim, embed_dim, attn_dim, dropout)
        self.embedding_dim = embed_dim

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """The slide embedding; ``coords`` are not read."""
        out: torch.Tensor = self.model(features)
        return out


def feather(in_dim: int, embed_dim: int = 512, attn_dim: int = 384) -> FeatherSlide:
    """Build :class:`FeatherSlide` (MIL-Lab's ``abmil.base`` with ``num_classes=0``)."""
    return FeatherSlide(in_dim, embed_dim, attn_dim)
