"""MADELEINE (Jaume et al., ECCV 2024): a multi-head gated ABMIL over CONCH v1 tile features.

Each tile feature goes through a shared three-layer MLP (``Linear -> LayerNorm -> GELU ->
Dropout``, the last layer widening to ``heads * dim``). The widened feature is split into one
``dim``-wide slice per head, *interleaved*: head ``c`` reads channels ``c, c + heads, c + 2 *
heads, ...`` (the authors' ``rearrange('b t (e c) -> b t e c')``). Each head scores its slices with
a gated attention network (``tanh`` and ``sigmoid`` branches of width ``dim``, one logit), the
logits are softmaxed over the slide and the slices averaged with them; the pooled slices, in the
same interleaved order, go through ``projector`` (``Linear(heads * dim, dim)``): the slide
embedding of the H&E path, ``MADELEINE.encode_he``.

Written for zoo from reading ``madeleine/models/Model.py`` (``MADELEINE.__init__``,
``encode_he``, ``ABMILEmbedder``) and ``madeleine/models/abmil.py`` (``BatchedABMIL``) at
https://github.com/mahmoodlab/MADELEINE/tree/419287dc60a57296d959840b893481019c4f0d21. The
submodule names are theirs (``wsi_embedders.pre_attn.<i>``, ``wsi_embedders.attn.<i>.attention_
{a,b,c}``, ``projector``), so the released ``model.pt`` loads strictly once its ``module.``
prefix (the ``nn.DataParallel`` the authors train with) is stripped; its ``token_projector``
(the token-level head of the pretraining loss, never used by ``encode_he``) is left out by the
manifest's ``checkpoint.remap``.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.nn.slide.chief import GatedAttention


def _layer(width_in: int, width_out: int) -> list[nn.Module]:
    return [nn.Linear(width_in, width_out), nn.LayerNorm(width_out), nn.GELU(), nn.Dropout(0.1)]


class _Embedder(nn.Module):
    """The authors' ``ABMILEmbedder``: the shared tile MLP and one gated attention per head."""

    def __init__(self, in_dim: int, dim: int, heads: int) -> None:
        super().__init__()
        self.pre_attn = nn.Sequential(
            *_layer(in_dim, dim), *_layer(dim, dim), *_layer(dim, dim * heads)
        )
        # BatchedABMIL(input_dim=dim, hidden_dim=512 (= dim), dropout=True, n_classes=1)
        self.attn = nn.ModuleList(GatedAttention(dim, dim) for _ in range(heads))
        self.dim, self.heads = dim, heads

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, N, in_dim]`` to the pooled slices ``[B, dim * heads]`` (channel ``e * heads + c``)."""
        tokens = self.pre_attn(features).unflatten(-1, (self.dim, self.heads))  # [B, N, dim, heads]
        pooled = []
        for c, head in enumerate(self.attn):
            part = tokens[..., c]  # [B, N, dim]
            weights = head(part).softmax(dim=1)  # [B, N, 1]
            pooled.append((weights * part).sum(dim=1))
        return torch.stack(pooled, dim=-1).flatten(1)


class Madeleine(nn.Module):
    """MADELEINE's H&E slide encoder: ``[B, N, in_dim]`` tile features to ``[B, dim]``.

    Args:
        in_dim: Width of the patch encoder's features (CONCH v1: 512).
        dim: Width of the tile MLP, of each head's slice and attention, and of the slide
            embedding (the authors' ``wsi_encoder_hidden_dim`` and their fixed attention width,
            both 512; ``projector`` only fits when they are equal).
        heads: Attention heads (the authors' ``n_heads``).
    """

    def __init__(self, in_dim: int = 512, dim: int = 512, heads: int = 4) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("dim", dim), ("heads", heads)):
            if value < 1:
                raise ValueError(f"{name} must be 1 or more, got {value}")
        self.wsi_embedders = _Embedder(in_dim, dim, heads)
        self.projector = nn.Linear(dim * heads, dim)
        self.embedding_dim = dim

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """``encode_he``: the slide embedding ``[B, dim]``; ``coords`` are not read."""
        out: torch.Tensor = self.projector(self.wsi_embedders(features))
        return out


def madeleine(in_dim: int = 512, dim: int = 512, heads: int = 4) -> Madeleine:
    """Build :class:`Madeleine` (the authors' defaults and launch scripts: 512, 512, 4 heads)."""
    return Madeleine(in_dim, dim, heads)
