"""FEATHER: zoo's build against MIL-Lab's computation on the Hugging Face checkpoint layout.

The reference (zoo/verify/recipes/_ref_mil.py, which ``zoo verify`` runs too) is written from
reading ``src/models/abmil.py``
(``ABMIL.forward_attention``, ``forward_features``) and ``src/models/layers.py``
(``create_mlp``, ``GlobalGatedAttention``) of
https://github.com/mahmoodlab/MIL-Lab/tree/dfc3c17ca6876a8f9bd33a9162c40f2c22631d9d (MIL-Lab is
not on the index): ``h = ReLU(Linear(x))``, ``A = attention_c(tanh(a(h)) * sigmoid(b(h)))``
transposed to ``[B, 1, N]``, softmaxed over the tiles, ``torch.bmm(A, h).squeeze(1)``. It reads
the weights straight from the state dict, in the ``ABMILModel`` key names, so it shares nothing
with ``zoo.nn.slide.feather`` but the file.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

import zoo
from tests.loading.loading_kit import Kit
from zoo.verify.recipes._ref_mil import feather_forward_features, feather_layout


@pytest.mark.parametrize(
    ("entry", "in_dim"),
    [
        ("pathology/mahmood_feather_conch_v15", 768),
        ("pathology/mahmood_feather_uni2_h", 1536),
        ("pathology/mahmood_feather_uni", 1024),
    ],
)
def test_feather_matches_mil_lab_on_the_hub_checkpoint_layout(
    kit: Kit, entry: str, in_dim: int
) -> None:
    gen = torch.Generator().manual_seed(3)
    state = {k: torch.randn(s, generator=gen) * 0.05 for k, s in feather_layout(in_dim).items()}
    path = kit.tmp / "model.safetensors"
    save_file(state, str(path))
    data = zoo.Catalog().get(entry).model_dump(mode="json", exclude_defaults=True)
    ckpt = data["checkpoint"]
    data["checkpoint"] = {"path": str(path), "format": ckpt["format"]}
    data.pop("known_gaps", None)
    data["gated"] = False
    model = kit.load(data)
    x = torch.randn(2, 41, in_dim, generator=gen)
    with torch.no_grad():
        ours = model(x)
    want = feather_forward_features(state, x)
    assert ours.shape == (2, 512)
    rel = ((ours - want).abs().max() / want.abs().max()).item()
    assert rel <= 1e-5, rel
