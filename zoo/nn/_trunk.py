"""What a block around a timm trunk answers for it: the facts zoo's build check and timm's feature
API read (prefix tokens, patch embedding, blocks, features, intermediates)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class TrunkFacts(nn.Module):
    """A block holding a timm ``trunk``: its prefix tokens, patch embedding and blocks are the
    block's (the contract check counts blocks and reads the patch size through them)."""

    trunk: Any

    @property
    def num_prefix_tokens(self) -> int:
        return int(self.trunk.num_prefix_tokens)

    @property
    def patch_embed(self) -> nn.Module:
        return self.trunk.patch_embed

    @property
    def blocks(self) -> nn.Module:
        return self.trunk.blocks


class TrunkFeatures(TrunkFacts):
    """A block whose tokens and feature maps are its trunk's own (a head on top of it)."""

    @property
    def embed_dim(self) -> int:
        return int(self.trunk.embed_dim)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk.forward_features(x)

    def forward_intermediates(self, x: torch.Tensor, **kwargs: Any) -> Any:
        return self.trunk.forward_intermediates(x, **kwargs)
