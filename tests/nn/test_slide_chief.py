"""CHIEF's slide encoder: zoo's build against the authors' computation on their checkpoint layout.

The reference below is written for this test from reading ``models/CHIEF.py`` of
https://github.com/hms-dbmi/CHIEF/tree/1abed334e674ad2b6ee0430d1ce7d0b566420bb4 (the package is
not on the index): ``CHIEF(size_arg="small", dropout=True, n_classes=2)`` evaluated on one
slide ``h`` of shape ``[N, 768]`` as the authors do, ``A = attention_net(h)`` (``Linear`` ->
``ReLU`` -> ``Dropout`` -> ``Attn_Net_Gated``), ``A = softmax(A.T, dim=1)``,
``WSI_feature = torch.mm(A, h)``. It reads the weights straight from the state dict, in the
authors' key names and shapes, so it shares nothing with ``zoo.nn.slide.chief`` but the file.
"""

from __future__ import annotations

from pathlib import Path

import torch

import zoo
from tests.loading.loading_kit import Kit

#: The authors' CHIEF_pretraining.pth keys and shapes (``size_arg="small"``: 768, 512, 256).
LAYOUT = {
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


def _random_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    state = {k: torch.randn(shape, generator=gen) * 0.1 for k, shape in LAYOUT.items()}
    torch.save(state, path)  # the authors' file is a flat pickled state dict
    return state


def _authors_wsi_feature(state: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
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


def test_chief_matches_the_authors_on_their_checkpoint_layout(kit: Kit) -> None:
    state = _random_checkpoint(kit.tmp / "CHIEF_pretraining.pth")
    entry = zoo.Catalog().get("pathology/chief_slide")
    data = entry.model_dump(mode="json", exclude_defaults=True)
    data["checkpoint"] = {"path": str(kit.tmp / "CHIEF_pretraining.pth"), "format": "pickle"}
    data.pop("known_gaps", None)
    model = kit.load(data)
    gen = torch.Generator().manual_seed(1)
    bags = [torch.randn(n, 768, generator=gen) for n in (37, 37)]
    batch = torch.stack(bags)
    with torch.no_grad():
        ours = model(batch)
    want = torch.cat([_authors_wsi_feature(state, h) for h in bags])
    assert ours.shape == (2, 768)
    assert ours.dtype == torch.float32
    rel = ((ours - want).abs().max() / want.abs().max()).item()
    assert rel <= 1e-5, rel
    # the weights of the unused heads are loaded too: strict, nothing random left
    loaded = model.backbone.state_dict()
    torch.testing.assert_close(loaded["organ_embedding"], state["organ_embedding"])
    torch.testing.assert_close(loaded["att_head.fc2.weight"], state["att_head.fc2.weight"])
