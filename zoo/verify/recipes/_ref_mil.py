"""Attention-MIL slide encoders the authors' way, computed straight from their state dicts: the
references of ``zoo verify`` and the tests for CHIEF and FEATHER (neither package is on an index).

- CHIEF, from reading ``models/CHIEF.py`` of
  https://github.com/hms-dbmi/CHIEF/tree/1abed334e674ad2b6ee0430d1ce7d0b566420bb4:
  ``CHIEF(size_arg="small", dropout=True, n_classes=2)`` on one slide ``h`` ``[N, 768]`` in eval
  mode, ``A = attention_net(h)`` (``Linear`` -> ``ReLU`` -> ``Dropout`` -> ``Attn_Net_Gated``),
  ``A = softmax(A.T, dim=1)``, ``WSI_feature = torch.mm(A, h)``.
- FEATHER, from reading ``src/models/abmil.py`` (``ABMIL.forward_attention``,
  ``forward_features``) and ``src/models/layers.py`` (``create_mlp``, ``GlobalGatedAttention``)
  of https://github.com/mahmoodlab/MIL-Lab/tree/dfc3c17ca6876a8f9bd33a9162c40f2c22631d9d:
  ``h = ReLU(Linear(x))``, ``A = attention_c(tanh(a(h)) * sigmoid(b(h)))`` transposed to
  ``[B, 1, N]``, softmaxed over the tiles, ``torch.bmm(A, h).squeeze(1)``, in the Hugging Face
  ``ABMILModel``'s key names (the network under ``model``).

Both read the weights by the authors' key names with plain tensor algebra, so they share nothing
with ``zoo.nn.slide`` but the file.
"""

from __future__ import annotations

import torch

#: The authors' CHIEF_pretraining.pth keys and shapes (``size_arg="small"``: 768, 512, 256).
CHIEF_LAYOUT = {
    "attention_net.0.weight": (512, 768),
    "attention_net.0.bias": (512,),
    "attention_net.3.attention_a.0.weight": (256, 512),
    "attention_net.3.attention_a.0.bias": (256,),
    "attention_net.3.attention_b.0.weight": (256, 512),
    "attention_net.3.attention_b.0.bias": (256,),
    "attention_net.3.attention_c.weight": (1, 256),
    "attention_net.3.attention_c.bias": (1,),
    "classifiers.weight": (2, 512),
    "classifiers.bias": (2,),
    "instance_classifiers.0.weight": (2, 512),
    "instance_classifiers.0.bias": (2,),
    "instance_classifiers.1.weight": (2, 512),
    "instance_classifiers.1.bias": (2,),
    "att_head.fc1.weight": (256, 512),
    "att_head.fc1.bias": (256,),
    "att_head.fc2.weight": (1, 256),
    "att_head.fc2.bias": (1,),
    "text_to_vision.0.weight": (512, 768),
    "text_to_vision.0.bias": (512,),
    "organ_embedding": (19, 768),
}


def chief_wsi_feature(state: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """``CHIEF.forward(h, x_anatomic)["WSI_feature"]`` in eval mode, for one slide ``[N, 768]``."""
    a = torch.relu(h @ state["attention_net.0.weight"].T + state["attention_net.0.bias"])
    gate_a = torch.tanh(
        a @ state["attention_net.3.attention_a.0.weight"].T
        + state["attention_net.3.attention_a.0.bias"]
    )
    gate_b = torch.sigmoid(
        a @ state["attention_net.3.attention_b.0.weight"].T
        + state["attention_net.3.attention_b.0.bias"]
    )
    scores = (gate_a * gate_b) @ state["attention_net.3.attention_c.weight"].T
    scores = scores + state["attention_net.3.attention_c.bias"]  # [N, 1]
    weights = torch.softmax(scores.T, dim=1)  # [1, N]
    return torch.mm(weights, h)  # [1, 768]


def feather_layout(in_dim: int) -> dict[str, tuple[int, ...]]:
    """The keys and shapes of MIL-Lab's ``abmil.base`` checkpoint on the Hub (no classifier)."""
    return {
        "model.patch_embed.0.weight": (512, in_dim),
        "model.patch_embed.0.bias": (512,),
        "model.global_attn.attention_a.0.weight": (384, 512),
        "model.global_attn.attention_a.0.bias": (384,),
        "model.global_attn.attention_b.0.weight": (384, 512),
        "model.global_attn.attention_b.0.bias": (384,),
        "model.global_attn.attention_c.weight": (1, 384),
        "model.global_attn.attention_c.bias": (1,),
    }


def feather_forward_features(s: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``ABMIL.forward_features`` for bags ``[B, N, in_dim]``: the pooled ``[B, 512]``."""
    h = torch.relu(x @ s["model.patch_embed.0.weight"].T + s["model.patch_embed.0.bias"])
    a = torch.tanh(
        h @ s["model.global_attn.attention_a.0.weight"].T
        + s["model.global_attn.attention_a.0.bias"]
    )
    b = torch.sigmoid(
        h @ s["model.global_attn.attention_b.0.weight"].T
        + s["model.global_attn.attention_b.0.bias"]
    )
    logits = (a * b) @ s["model.global_attn.attention_c.weight"].T
    logits = logits + s["model.global_attn.attention_c.bias"]  # B x M x 1
    weights = torch.softmax(torch.transpose(logits, -2, -1), dim=-1)  # B x 1 x M
    return torch.bmm(weights, h).squeeze(dim=1)
