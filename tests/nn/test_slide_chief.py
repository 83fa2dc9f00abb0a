"""CHIEF's slide encoder: zoo's build against the authors' computation on their checkpoint layout.

The reference (zoo/verify/recipes/_ref_mil.py, which ``zoo verify`` runs too) is written from
reading ``models/CHIEF.py`` of
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
from zoo.verify.recipes._ref_mil import CHIEF_LAYOUT, chief_wsi_feature

LAYOUT = CHIEF_LAYOUT


def _random_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    state = {k: torch.randn(shape, generator=gen) * 0.1 for k, shape in LAYOUT.items()}
    torch.save(state, path)  # the authors' file is a flat pickled state dict
    return state


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
    want = torch.cat([chief_wsi_feature(state, h) for h in bags])
    assert ours.shape == (2, 768)
    assert ours.dtype == torch.float32
    rel = ((ours - want).abs().max() / want.abs().max()).item()
    assert rel <= 1e-5, rel
    # the weights of the unused heads are loaded too: strict, nothing random left
    loaded = model.backbone.state_dict()
    torch.testing.assert_close(loaded["organ_embedding"], state["organ_embedding"])
    torch.testing.assert_close(loaded["att_head.fc2.weight"], state["att_head.fc2.weight"])
