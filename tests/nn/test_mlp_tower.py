"""zoo.nn.mlp_tower: a timm trunk with a two-layer MLP projection, and KEEP's Hub
checkpoint, in its published layout, loaded through the catalogue entries.

The KEEP test writes a small checkpoint laid out as tests/data/pathology_sources/keep.json
describes (image tower under ``visual.`` with LayerScale named ``weight``, the head under
``visual_head.``, a text tower and a logit scale besides), loads it with the entries' own wrapper
arguments (the trunk shrunk) and ``checkpoint`` blocks, and compares with the authors'
``encode_image`` computed here on the source network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from tests.loading.loading_kit import Kit
from zoo.nn import MlpTower, mlp_tower

timm = pytest.importorskip("timm")

FACTS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data/pathology_sources/keep.json").read_text()
)
TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": 8, "img_size": 32}
DIM = 24


def test_mlp_tower_projects_the_pooled_embedding() -> None:
    torch.manual_seed(0)
    tower = mlp_tower("vit_tiny_patch16_224", TINY, dim=DIM).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        pooled = tower.trunk(x)
        torch.testing.assert_close(tower.forward_head(tower.forward_features(x)), pooled)
        torch.testing.assert_close(tower(x), tower.head(pooled))
        maps = tower.forward_intermediates(x, indices=1, intermediates_only=True)
    assert [type(m).__name__ for m in tower.head] == ["Linear", "GELU", "Linear"]
    assert (tower.num_features, tower.projection_dim, tower.embed_dim) == (32, DIM, 32)
    assert (tower.num_prefix_tokens, len(tower.blocks), tower.patch_embed.patch_size) == (
        1,
        2,
        (8, 8),
    )
    assert maps[0].shape == (2, 32, 4, 4)
    normalized = MlpTower(tower.trunk, DIM, normalize=True).eval()
    with torch.no_grad():
        assert torch.allclose(normalized(x).norm(dim=-1), torch.ones(2))


def _keep_checkpoint(trunk: nn.Module, head: nn.Sequential) -> dict[str, torch.Tensor]:
    """KEEP's model.safetensors, laid out as the facts say (a tiny text tower stands in)."""
    state = {}
    for key, value in trunk.state_dict().items():
        state[
            f"visual.{key}".replace(".ls1.gamma", ".ls1.weight").replace(
                ".ls2.gamma", ".ls2.weight"
            )
        ] = value
    state.update({f"visual_head.{k}": v for k, v in head.state_dict().items()})
    state["text.embeddings.word_embeddings.weight"] = torch.randn(10, 8)
    state["text.pooler.dense.bias"] = torch.randn(8)
    state["logit_scale"] = torch.ones(())
    return state


def _entry(kit: Kit, name: str, path: Path) -> dict[str, Any]:
    """A KEEP entry with the trunk shrunk, pointed at ``path``; its remap kept as it is."""
    m = zoo.Catalog().get(name)
    data = m.model_dump(
        mode="json", exclude_none=True, exclude={"file", "aliases", "same_weights_as"}
    )
    data["name"] = f"testing/{name.split('/')[1]}"
    data["wrapper"]["arguments"]["trunk"].update(TINY)
    data["wrapper"]["arguments"]["dim"] = DIM
    ckpt = data["checkpoint"]
    for key in ("hf", "sha256"):
        del ckpt[key]
    ckpt["path"] = str(path)
    data["input"]["size"] = [32, 32]
    projected = data["output"]["pooling"] == "projection"
    data["output"].update(
        embedding_dim=DIM if projected else 32, feature_dim=32, feature_levels=2, patch_size=8
    )
    return data


def test_keep_checkpoint_loads_into_both_entries(kit: Kit) -> None:
    c = FACTS["constructor"]
    torch.manual_seed(0)
    trunk = timm.create_model(
        c["architecture"], num_classes=0, init_values=c["init_values"], **TINY
    ).eval()
    head = nn.Sequential(nn.Linear(32, DIM), nn.GELU(), nn.Linear(DIM, DIM)).eval()
    with torch.no_grad():
        for block in trunk.blocks:  # LayerScale far from its init, so a lost one would show
            block.ls1.gamma.normal_()
            block.ls2.gamma.normal_()
    path = kit.save(_keep_checkpoint(trunk, head), kit.tmp / "model.safetensors")
    x = kit.image()
    with torch.no_grad():
        encode_image = F.normalize(head(trunk(x)), dim=-1)  # the authors' encode_image
        projected = kit.load(_entry(kit, "pathology/magic_keep", path))(x)
        pooled = kit.load(_entry(kit, "pathology/magic_keep_unprojected", path))(x)
        maps = kit.load(_entry(kit, "pathology/magic_keep", path), out_indices=1)(x)
    torch.testing.assert_close(projected, encode_image)
    torch.testing.assert_close(pooled, trunk(x))
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4)]
