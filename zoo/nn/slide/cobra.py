"""COBRA (Lenz et al., CVPR 2025): a Mamba-2 slide encoder that weights the tiles of its input.

One network for several patch encoders: an input head per feature width (``embed.<width>``:
``LayerNorm -> Linear(width, dim) -> SiLU -> Linear(dim, dim)``, dropout aside) maps the tiles into
a common ``dim``-wide space; ``mamba_enc`` (``Linear -> GELU``, then per layer a pre-norm residual
Mamba-2 mixer, then ``classifier``, a ``Linear(dim, dim)``) and a final ``LayerNorm`` contextualise
them in the order given; the result is split into ``heads`` interleaved slices (head ``c`` reads
channels ``c, c + heads, ...``), each scored by a gated attention network (raw logits, one per
tile), the logits averaged over the heads and softmaxed over the tiles. The slide embedding is the
attention-weighted sum of the *input* tile features, as wide as they are: what ``Cobra.forward``
returns without ``get_attention`` (STAMP's cobra encoder calls it so) and what the authors'
``get_cobra_feats`` computes from the attention when one patch encoder both weights and is
aggregated.

Written for zoo from reading ``cobra/model/cobra.py`` (``Embed``, ``Cobra``),
``cobra/utils/mamba2.py`` (``Mamba2Enc``), ``cobra/utils/abmil.py`` (``BatchedABMIL``),
``cobra/utils/load_cobra.py`` (``get_cobra``, ``get_cobraII``) and
``cobra/inference/extract_feats.py`` at
https://github.com/KatherLab/COBRA/tree/49d231191db5a9c2ea37a2398dd922c8c9ee9cdb. The submodule
names are theirs, so the released weights load strictly: ``mamba_enc.norm`` is never used by their
forward but is in their state dict, and so here. The Mamba-2 layer is zoo's
:class:`~zoo.nn.slide._mamba2.Mamba2Mixer` in ``mamba_ssm``'s key layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo.nn.slide._mamba2 import Mamba2Mixer
from zoo.nn.slide.chief import GatedAttention


class _Embed(nn.Module):
    """The authors' ``Embed``: one patch encoder's features into the shared width."""

    def __init__(self, width: int, dim: int) -> None:
        super().__init__()
        self.head = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, dim),
            nn.Identity(),
            nn.SiLU(),
            nn.Linear(dim, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(x)
        return out


class _MambaEncoder(nn.Module):
    """The authors' ``Mamba2Enc(dim, dim, n_classes=dim, layer=layers, d_state=state)``."""

    def __init__(self, dim: int, layers: int, state: int) -> None:
        super().__init__()
        self._fc1 = nn.Sequential(nn.Linear(dim, dim), nn.GELU())
        self.norm = nn.LayerNorm(dim)  # defined by the authors, never applied
        self.layers = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), Mamba2Mixer(dim, state=state)) for _ in range(layers)
        )
        self.classifier = nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self._fc1(h)
        for layer in self.layers:
            h = h + layer(h)
        out: torch.Tensor = self.classifier(h)
        return out


class Cobra(nn.Module):
    """COBRA: ``[B, N, in_dim]`` tile features to the ``[B, in_dim]`` slide embedding.

    Args:
        in_dim: Width of the paired patch encoder's features: one of ``input_dims``.
        input_dims: The widths the checkpoint has an input head for (all are built, so that it
            loads strictly; the forward uses ``embed.<in_dim>``).
        dim: The shared width (the authors' ``embed_dim``, 768).
        heads: Attention heads, at least 2 (the authors' single-head branch does not run).
        layers: Mamba-2 layers.
        att_dim: Width of each head's gated attention.
        state: The Mamba-2 state size (``d_state``).
    """

    def __init__(
        self,
        in_dim: int,
        input_dims: Sequence[int],
        dim: int = 768,
        heads: int = 8,
        layers: int = 2,
        att_dim: int = 96,
        state: int = 128,
    ) -> None:
        super().__init__()
        for name, value, least in (
            ("dim", dim, 1),
            ("heads", heads, 2),
            ("layers", layers, 1),
            ("att_dim", att_dim, 1),
            ("state", state, 1),
        ):
            if value < least:
                raise ValueError(f"{name} must be {least} or more, got {value}")
        if in_dim not in input_dims:
            raise ValueError(
                f"in_dim {in_dim} has no input head: input_dims are {list(input_dims)}"
            )
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.embed = nn.ModuleDict({str(width): _Embed(width, dim) for width in input_dims})
        self.norm = nn.LayerNorm(dim)
        self.mamba_enc = _MambaEncoder(dim, layers, state)
        self.attn = nn.ModuleList(GatedAttention(dim // heads, att_dim) for _ in range(heads))
        self.in_dim, self.heads = in_dim, heads
        self.embedding_dim = in_dim

    def attention(self, features: torch.Tensor) -> torch.Tensor:
        """The tiles' weights ``[B, N]`` (softmaxed over the tiles): ``get_attention=True``."""
        h = self.norm(self.mamba_enc(self.embed[str(self.in_dim)](features)))
        slices = h.unflatten(-1, (-1, self.heads))  # [B, N, dim / heads, heads]
        logits = torch.cat([head(slices[..., c]) for c, head in enumerate(self.attn)], dim=-1)
        return logits.mean(dim=-1).softmax(dim=-1)

    def forward(
        self,
        features: torch.Tensor,
        coords: torch.Tensor | None = None,
        patch_size_level0: int | None = None,
    ) -> torch.Tensor:
        """The slide embedding: the input tiles weighted by :meth:`attention`; ``coords`` are
        not read (the tiles are taken in the order given)."""
        weights = self.attention(features)
        return torch.einsum("bn,bnd->bd", weights, features)


def cobra(
    in_dim: int,
    input_dims: Sequence[int],
    dim: int = 768,
    heads: int = 8,
    layers: int = 2,
    att_dim: int = 96,
    state: int = 128,
) -> Cobra:
    """Build :class:`Cobra` (COBRA I: ``get_cobra``'s 768-d, 8 heads, 2 layers, attention 96,
    state 128; COBRA II: ``get_cobraII``'s 4 heads, 1 layer, attention 256)."""
    return Cobra(in_dim, input_dims, dim, heads, layers, att_dim, state)
