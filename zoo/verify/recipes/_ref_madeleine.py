"""MADELEINE's H&E slide embedding, re-expressed from reading the authors' code: the reference
of ``zoo verify`` and tests/nn/test_slide_mahmood_madeleine.py.

Read at https://github.com/mahmoodlab/MADELEINE/tree/419287dc60a57296d959840b893481019c4f0d21
(the package is not on the index, so it cannot be called): ``madeleine/models/Model.py``
(``create_model``: a key holding ``module`` anywhere means every key loses its first 7
characters, then a strict load into ``MADELEINE(config, stain_encoding=False)``;
``MADELEINE.encode_he``; ``ABMILEmbedder._build_pre_attention_params`` and ``forward``) and
``madeleine/models/abmil.py`` (``BatchedABMIL`` with ``dropout=True``, ``activation='softmax'``,
``n_classes=1``), in eval mode. Nothing here is shared with ``zoo.nn.slide.madeleine``: the weights
are read straight from the state dict under the authors' key names, and a head's slice is taken
by striding over the widened channels (``rearrange('b t (e c) -> b t e c')`` puts channel
``e * heads + c`` in head ``c``). The released file was written by ``torch.save(ssl_model.
state_dict())`` of an ``nn.DataParallel`` model (``bin/pretrain.py``,
``utils/setup_components.setup_model`` with ``--num_gpus 3`` in the launch scripts), hence
``module.`` in front of every key; ``token_projector`` is in it too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: ``pre_attn``'s Linear / LayerNorm positions in the authors' ``nn.Sequential`` (each Linear is
#: followed by LayerNorm, GELU and Dropout(0.1)).
PRE_ATTN = ((0, 1), (4, 5), (8, 9))


def released_layout(in_dim: int, dim: int, heads: int) -> dict[str, tuple[int, ...]]:
    """Every key and shape of the authors' ``model.pt`` (``stain_encoding=False``), as saved."""
    widths = ((in_dim, dim), (dim, dim), (dim, dim * heads))
    layout: dict[str, tuple[int, ...]] = {}
    for (linear, norm), (w_in, w_out) in zip(PRE_ATTN, widths, strict=True):
        layout[f"wsi_embedders.pre_attn.{linear}.weight"] = (w_out, w_in)
        layout[f"wsi_embedders.pre_attn.{linear}.bias"] = (w_out,)
        layout[f"wsi_embedders.pre_attn.{norm}.weight"] = (w_out,)
        layout[f"wsi_embedders.pre_attn.{norm}.bias"] = (w_out,)
    for i in range(heads):
        head = f"wsi_embedders.attn.{i}"
        for branch in ("attention_a.0", "attention_b.0"):
            layout[f"{head}.{branch}.weight"] = (dim, dim)
            layout[f"{head}.{branch}.bias"] = (dim,)
        layout[f"{head}.attention_c.weight"] = (1, dim)
        layout[f"{head}.attention_c.bias"] = (1,)
    layout["token_projector.weight"] = (128, dim * heads)
    layout["token_projector.bias"] = (128,)
    layout["projector.weight"] = (dim, dim * heads)
    layout["projector.bias"] = (dim,)
    return {f"module.{key}": shape for key, shape in layout.items()}


def authors_state_dict(saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``create_model``'s key handling: strip 7 characters from every key when any holds ``module``."""
    if any("module" in key for key in saved):
        return {key[7:]: value for key, value in saved.items()}
    return dict(saved)


def encode_he(state: dict[str, torch.Tensor], feats: torch.Tensor, heads: int) -> torch.Tensor:
    """``MADELEINE.encode_he(feats)`` in eval mode: ``[B, N, in_dim]`` to ``[B, dim]``."""
    x = feats.unsqueeze(dim=1)[:, 0]  # the H&E position of the stain axis
    for linear, norm in PRE_ATTN:
        w = state[f"wsi_embedders.pre_attn.{linear}.weight"]
        x = F.linear(x, w, state[f"wsi_embedders.pre_attn.{linear}.bias"])
        x = F.layer_norm(
            x,
            (w.shape[0],),
            state[f"wsi_embedders.pre_attn.{norm}.weight"],
            state[f"wsi_embedders.pre_attn.{norm}.bias"],
        )
        x = F.gelu(x)
    pooled = []
    for c in range(heads):
        tokens = x[:, :, c::heads]  # [B, N, dim]: channels c, c + heads, ...
        head = f"wsi_embedders.attn.{c}"
        a = torch.tanh(
            F.linear(
                tokens, state[f"{head}.attention_a.0.weight"], state[f"{head}.attention_a.0.bias"]
            )
        )
        b = torch.sigmoid(
            F.linear(
                tokens, state[f"{head}.attention_b.0.weight"], state[f"{head}.attention_b.0.bias"]
            )
        )
        logits = F.linear(
            a * b, state[f"{head}.attention_c.weight"], state[f"{head}.attention_c.bias"]
        )
        attention = F.softmax(logits, dim=1)  # [B, N, 1], over the tiles
        pooled.append(torch.sum(tokens * attention, dim=1))  # [B, dim]
    slide = torch.stack(pooled, dim=-1)  # [B, d_out, n_heads]
    slide = slide.reshape(slide.shape[0], -1)  # view(bs, d_out * n_heads)
    return F.linear(slide, state["projector.weight"], state["projector.bias"])
