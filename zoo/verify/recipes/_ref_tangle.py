"""An independent re-expression of TANGLE's ``MMSSL`` (config ``tanglev2``), the reference of
``zoo verify`` and tests/nn/test_slide_mahmood_tangle.py.

Written from reading, at
https://github.com/mahmoodlab/TANGLE/tree/266a756a2574e18baab0b56a6809b5b274d48f14 (the code is not
on a package index): ``core/models/mmssl.py`` (``MMSSL``, ``ABMILEmbedder_MH``, ``MLP``,
``ProjHead``), ``core/models/abmil.py`` (``BatchedABMIL``), ``train_tangle_pancancer.py`` (how the
model is built, cast to ``--dtype`` (bfloat16 by default), wrapped in ``nn.DataParallel`` on
several GPUs and saved with ``torch.save(ssl_model.state_dict(), ...)``) and
``extract_slide_embeddings_from_checkpoint.py`` (``restore_model``: the first seven characters of
every key are cut when any key contains ``module``, then a strict load into a float32 model; the
slide embedding is ``get_features``). Nothing is copied; the parameters are laid out under the
authors' module names so that the saved state dict has their keys, and :meth:`get_features`
computes from those parameters another way than ``zoo.nn.slide.tangle``: head ``i``'s slice is
picked as the strided channels ``i, i + heads, ...`` of the widened tile features (einops
``(d h)``), the weighted sum is a batched matrix product, and the pooled slices are interleaved
by index assignment.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: ``train_tangle_pancancer.py``: ``RNA_TOKEN_DIM``, the genes of an expression profile.
GENES = 5248


def _layer(x: torch.Tensor, linear: Any) -> torch.Tensor:
    return torch.addmm(linear.bias, x.reshape(-1, x.shape[-1]), linear.weight.T).reshape(
        *x.shape[:-1], -1
    )


class _Head(nn.Module):
    """``BatchedABMIL(input_dim=dim, hidden_dim=dim, dropout=True, n_classes=1)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.attention_a = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Dropout(0.25))
        self.attention_b = nn.Sequential(nn.Linear(dim, dim), nn.Sigmoid(), nn.Dropout(0.25))
        self.attention_c = nn.Linear(dim, 1)


class _WsiEmbedder(nn.Module):
    """``ABMILEmbedder_MH``'s parameters: ``pre_attn``, ``attn``, ``proj_multihead``."""

    def __init__(self, in_dim: int, dim: int, heads: int) -> None:
        super().__init__()
        widths = [(in_dim, dim), (dim, dim), (dim, dim * heads)]
        layers: list[nn.Module] = []
        for a, b in widths:
            layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU(), nn.Dropout(0.1)]
        self.pre_attn = nn.Sequential(*layers)
        self.attn = nn.ModuleList(_Head(dim) for _ in range(heads))
        self.proj_multihead = nn.Linear(dim * heads, dim)


class _Mlp(nn.Module):
    """``MLP(input_dim=genes, hidden_dim=dim, output_dim=dim)``, the expression encoder."""

    def __init__(self, genes: int, dim: int) -> None:
        super().__init__()

        def block(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(a, b), nn.LayerNorm(b), nn.ReLU(), nn.Dropout(0.2))

        self.blocks = nn.Sequential(block(genes, dim), block(dim, dim), nn.Linear(dim, dim))


class _ProjHead(nn.Module):
    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.layers = nn.Linear(a, b)


class TangleReference(nn.Module):
    """``MMSSL`` with ``study: tanglev2``, ``wsi_encoder: abmil_mh``, ``rna_encoder: mlp``,
    ``activation: softmax``, no reconstruction: ``wsi_embedder``, ``rna_embedder`` and (since
    ``embedding_dim != hidden_dim``) ``mean_projector``."""

    def __init__(
        self, in_dim: int = 1024, dim: int = 512, heads: int = 4, genes: int = GENES
    ) -> None:
        super().__init__()
        self.wsi_embedder = _WsiEmbedder(in_dim, dim, heads)
        self.rna_embedder = _Mlp(genes, dim)
        self.mean_projector = _ProjHead(in_dim, dim)
        self.heads, self.dim = heads, dim

    def randomize(self, seed: int) -> TangleReference:
        """Random values in every parameter, LayerNorm scales around 1 (no default init left)."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                noise = torch.randn(p.shape, generator=gen)
                is_norm_scale = p.ndim == 1 and name.endswith("weight")
                p.copy_(1 + 0.1 * noise if is_norm_scale else 0.05 * noise)
        return self

    def get_features(self, bags: torch.Tensor) -> torch.Tensor:
        """``MMSSL.get_features``: ``ABMILEmbedder_MH.forward(bags)`` with ``n_views=1``, in
        eval mode (dropout off), for ``bags`` ``[B, N, in_dim]``."""
        wsi: Any = self.wsi_embedder  # its submodules, by the authors' names
        x = bags
        for i in (0, 4, 8):
            lin, norm = wsi.pre_attn[i], wsi.pre_attn[i + 1]
            x = F.gelu(F.layer_norm(_layer(x, lin), (lin.out_features,), norm.weight, norm.bias))
        heads = self.heads
        pooled = torch.empty(x.shape[0], self.dim * heads, dtype=x.dtype)
        head: Any
        for i, head in enumerate(wsi.attn):
            part = x[:, :, i::heads]  # channel d * heads + i is head i's d-th channel
            gate = torch.tanh(_layer(part, head.attention_a[0])) * torch.sigmoid(
                _layer(part, head.attention_b[0])
            )
            logits = _layer(gate, head.attention_c)  # [B, N, 1]
            weights = torch.softmax(logits, dim=1)
            pooled[:, i::heads] = torch.bmm(weights.transpose(1, 2), part)[:, 0]
        return _layer(pooled, wsi.proj_multihead)


def save_released(model: TangleReference, path: Path, *, data_parallel: bool = True) -> None:
    """``torch.save(ssl_model.state_dict(), path)`` as the training script does: bfloat16
    tensors (the model was cast to ``--dtype``) under ``module.`` (``nn.DataParallel``)."""
    prefix = "module." if data_parallel else ""
    state = OrderedDict(
        (prefix + k, v.detach().to(torch.bfloat16).clone()) for k, v in model.state_dict().items()
    )
    torch.save(state, path)


def restore(path: Path, **kwargs: int) -> TangleReference:
    """The authors' ``restore_model`` on a float32 ``MMSSL``: cut ``module.`` (seven characters)
    when any key holds ``module``, then load strictly."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if any("module" in k for k in state):
        state = OrderedDict((k[7:], v) for k, v in state.items())
    model = TangleReference(**kwargs)
    model.load_state_dict(state, strict=True)
    return model.eval()
