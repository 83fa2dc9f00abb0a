"""MONAI's SegResEncoder (``monai.networks.nets.segresnet_ds``, CT-FM's backbone) as a 3-D encoder:
maps equal to MONAI's own forward, a checkpoint saved the way the authors' Hub mixin saves it
(the module's state dict, as it is) loaded strictly, and arguments zoo cannot describe refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from zoo import load_manifest
from zoo.errors import CheckpointMismatchError, UsageError

pytest.importorskip("monai")

from monai.networks.nets.segresnet_ds import SegResEncoder

#: CT-FM's encoder shape (blocks_down of five levels) at 8 initial filters instead of 32.
ENCODER: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/tiny_ctfm",
    "wrapper": {
        "type": "monai",
        "network": "SegResEncoder",
        "kwargs": {"spatial_dims": 3, "init_filters": 8, "blocks_down": [1, 2, 2, 4, 4]},
    },
    "input": {"kind": "volume", "size": [32, 32, 32], "channels": 1, "dynamic_size": True},
    "output": {
        "embedding_dim": 128,
        "pooling": "mean",
        "feature_levels": 5,
        "feature_dim": [8, 16, 32, 64, 128],
        "grid": {"strides": [1, 2, 4, 8, 16], "multiple": 16, "pool": [-1]},
    },
}


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "tiny_ctfm.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def net() -> SegResEncoder:
    torch.manual_seed(0)
    return SegResEncoder(spatial_dims=3, init_filters=8, in_channels=1, blocks_down=(1, 2, 2, 4, 4))


def test_maps_and_embedding_are_monais_own_forward(tmp_path: Path, net: SegResEncoder) -> None:
    from safetensors.torch import save_file

    net.eval()
    # The Hub mixin the authors publish with (lighter_zoo) saves the module's state dict as it is.
    save_file(net.state_dict(), str(tmp_path / "model.safetensors"))
    data = copy.deepcopy(ENCODER)
    data["checkpoint"] = {"path": "model.safetensors"}
    model = load_manifest(_write(tmp_path, data))
    x = torch.randn(2, 1, 32, 48, 16)
    with torch.no_grad():
        theirs = net(x)
        ours = model.features(x, [0, 1, 2, 3, 4])
        emb = model(x)
        deepest_two = load_manifest(_write(tmp_path, data), out_indices=(-1, -2))(x)
    assert [tuple(m.shape[1:]) for m in ours] == [
        (8, 32, 48, 16),
        (16, 16, 24, 8),
        (32, 8, 12, 4),
        (64, 4, 6, 2),
        (128, 2, 3, 1),
    ]
    for mine, monai in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine, monai)
    # CT-FM's embedding: the global average of the deepest map (AdaptiveAvgPool3d(1) of x[-1])
    torch.testing.assert_close(emb, theirs[-1].mean(dim=(2, 3, 4)))
    torch.testing.assert_close(deepest_two[0], theirs[4])
    torch.testing.assert_close(deepest_two[1], theirs[3])


def test_a_checkpoint_missing_a_level_is_named(tmp_path: Path, net: SegResEncoder) -> None:
    from safetensors.torch import save_file

    state = {k: v for k, v in net.state_dict().items() if not k.startswith("layers.4.")}
    save_file(state, str(tmp_path / "model.safetensors"))
    data = copy.deepcopy(ENCODER)
    data["checkpoint"] = {"path": "model.safetensors"}
    with pytest.raises(CheckpointMismatchError) as info:
        load_manifest(_write(tmp_path, data))
    assert info.value.unexpected == []
    assert "layers.4.blocks.0.conv1.weight" in info.value.missing
    assert all(key.startswith("layers.4.") for key in info.value.missing)


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("anisotropic_scales", [[1, 1, i] for i in range(5)], "changes the kernels and strides"),
        ("head_module", "any module", "replaces the list of maps"),
    ],
)
def test_arguments_the_contract_cannot_describe_are_refused(
    tmp_path: Path, name: str, value: Any, why: str
) -> None:
    data = copy.deepcopy(ENCODER)
    data["wrapper"]["kwargs"][name] = value
    with pytest.raises(UsageError, match=f"SegResEncoder: {name} {why}"):
        load_manifest(_write(tmp_path, data), meta=True)
