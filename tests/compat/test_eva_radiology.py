"""eva's radiology names through zoo.compat.eva: the registry, ModelFromRegistry and eva's kwargs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zoo.compat.eva import BackboneModelRegistry, ModelFromRegistry

pytest.importorskip("monai")

FACTS = json.loads((Path(__file__).parents[1] / "data" / "eva_radiology.json").read_text())


def test_every_eva_radiology_name_is_served() -> None:
    listed = set(BackboneModelRegistry.list_models())
    for entry in FACTS["entries"]:
        model_fn = BackboneModelRegistry.get(entry["name"])
        assert callable(model_fn)
        assert entry["name"] in listed or entry["name"] == "segresnet_encoder"  # an alias


def test_segresnet_encoder_by_evas_bare_name_returns_the_last_n_maps() -> None:
    model = BackboneModelRegistry.load_model("segresnet_encoder", {"out_indices": 2})
    with torch.no_grad():
        maps = model(torch.randn(1, 1, 16, 16, 16))
    assert [tuple(m.shape) for m in maps] == [(1, 64, 4, 4, 4), (1, 128, 2, 2, 2)]
    assert model.manifest.name == "radiology/segresnet_encoder"


@pytest.mark.slow
def test_model_from_registry_with_evas_constructor_arguments() -> None:
    encoder = ModelFromRegistry(
        model_name="radiology/swin_unetr_encoder",
        model_kwargs={"out_indices": 6, "feature_size": 12},
    )
    with torch.no_grad():
        maps = encoder(torch.randn(1, 1, 64, 32, 32))
    assert [m.shape[1] for m in maps] == [12, 12, 24, 48, 96, 192]
    assert encoder.model.manifest.output.embedding_dim == 288
