"""An image tower whose projection is a small MLP on the trunk's pooled output: KEEP's image encoder.

``mlp_tower`` builds a timm trunk and :class:`MlpTower` adds ``Linear -> GELU -> Linear`` on its
pooled embedding (``head.0``, ``head.2``), optionally L2-normalized. The pooled embedding
(``forward_head(..., pre_logits=True)``) stays the trunk's; ``forward_projection`` is the
projected one, which zoo returns for ``pooling: projection``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nn._trunk import TrunkFeatures


class MlpTower(TrunkFeatures):
    """A timm ``trunk`` plus a two-layer MLP projection of its pooled embedding.

    Args:
        trunk: A timm model built with ``num_classes=0`` (duck-typed: its feature API is called).
        dim: Width of the projection (the hidden layer has the same width).
        normalize: L2-normalize the projected embedding (as the authors' ``encode_image`` does).
    """

    trunk: Any

    def __init__(self, trunk: Any, dim: int, normalize: bool = False) -> None:
        super().__init__()
        width = int(trunk.num_features)
        self.trunk = trunk
        self.head = nn.Sequential(nn.Linear(width, dim), nn.GELU(), nn.Linear(dim, dim))
        self.normalize = normalize
        self.num_features = width
        self.projection_dim = dim

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The trunk's pooled embedding (before the projection)."""
        return self.trunk.forward_head(x, pre_logits=True)

    def forward_projection(self, x: torch.Tensor) -> torch.Tensor:
        """The projected image embedding (L2-normalized when the tower says so)."""
        out = self.head(self.forward_head(self.forward_features(x)))
        return F.normalize(out, dim=-1) if self.normalize else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_projection(x)


def mlp_tower(
    architecture: str, trunk: dict[str, Any], dim: int, normalize: bool = False, **overrides: Any
) -> MlpTower:
    """Build an :class:`MlpTower`: ``timm.create_model(architecture, num_classes=0, **trunk)`` (the
    caller's overrides such as ``img_size`` go to the trunk), projected to ``dim``."""
    import timm

    model = timm.create_model(architecture, pretrained=False, num_classes=0, **trunk, **overrides)
    return MlpTower(model, dim, normalize)
