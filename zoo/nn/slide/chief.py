"""CHIEF's slide encoder (Wang et al., Nature 2024): gated-attention pooling of CTransPath features.

CHIEF scores each tile with a gated attention network on a 512-d projection of its 768-d
CTransPath feature, softmaxes the scores over the slide, and returns the attention-weighted mean
of the *input* features (``WSI_feature``, 768-d): the slide embedding the authors extract
(``Get_CHIEF_WSI_level_feature.py``). The anatomical-site text embedding the authors add is used
only for the pretraining classifier (``WSI_feature_anatomical``), never in ``WSI_feature``, so
the embedding does not depend on the site.

Written for zoo from reading ``models/CHIEF.py`` (``CHIEF(size_arg="small", dropout=True,
n_classes=2)``, ``Attn_Net_Gated``) at
https://github.com/hms-dbmi/CHIEF/tree/1abed334e674ad2b6ee0430d1ce7d0b566420bb4. Every module
and buffer of their class is kept under its name (``attention_net.0``, ``attention_net.3.
attention_{a,b,c}``, ``classifiers``, ``instance_classifiers``, ``att_head``, ``text_to_vision``,
``organ_embedding``), so ``CHIEF_pretraining.pth`` loads strictly; the ones the slide embedding
does not use are carried for that reason only.
"""

from __future__ import annotations

import torch
from torch import nn

#: The authors' "small" size: input width, projection width, attention width.
SMALL = (768, 512, 256)
#: Anatomical sites of the text embedding buffer (``organ_embedding``: 19 x 768).
SITES = 19


class GatedAttention(nn.Module):
    """``attention_c(tanh(attention_a(x)) * sigmoid(attention_b(x)))``: one logit per tile."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.attention_a = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Dropout(0.25))
        self.attention_b = nn.Sequential(nn.Linear(dim, hidden), nn.Sigmoid(), nn.Dropout(0.25))
        self.attention_c = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.attention_c(self.attention_a(x) * self.attention_b(x))
        return logits


class _Head(nn.Module):
    """The authors' unused tile-score head (``att_head``): kept so the checkpoint loads strictly."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)


class ChiefSlide(nn.Module):
    """CHIEF's slide encoder: ``[B, N, 768]`` CTransPath features to ``[B, 768]``."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        dim, width, hidden = SMALL
        self.attention_net = nn.Sequential(
            nn.Linear(dim, width), nn.ReLU(), nn.Dropout(0.25), GatedAttention(width, hidden)
        )
        self.classifiers = nn.Linear(width, classes)
        self.instance_classifiers = nn.ModuleList(nn.Linear(width, 2) for _ in range(classes))
        self.att_head = _Head(width, hidden)
        self.text_to_vision = nn.Sequential(nn.Linear(dim, width), nn.ReLU(), nn.Dropout(0.25))
        self.register_buffer("organ_embedding", torch.zeros(SITES, dim))
        self.embedding_dim = dim

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """``WSI_feature``: the attention-weighted mean of the input features; ``coords`` unused."""
        weights = self.attention_net(features).softmax(dim=1)  # [B, N, 1]
        return (weights * features).sum(dim=1)


def chief(classes: int = 2) -> ChiefSlide:
    """Build :class:`ChiefSlide` (the authors' ``n_classes=2`` pretraining head is kept)."""
    return ChiefSlide(classes)
