"""The volume evaluation transform (``model.preprocess`` of a 3-D manifest), built from MONAI transforms."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from zoo.catalog.parse import parse_manifest
from zoo.errors import UsageError
from zoo.loading.preprocess import transforms
from zoo.manifest import Manifest

pytest.importorskip("monai")

BASE: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/ct",
    "wrapper": {"type": "monai", "network": "SegResNet", "kwargs": {"init_filters": 8}},
    "input": {
        "kind": "volume",
        "size": [16, 16, 16],
        "channels": 1,
        "intensity": {"window": [-100, 300], "range": [0, 1], "clip": True},
    },
    "output": {
        "embedding_dim": 64,
        "pooling": "mean",
        "feature_levels": 4,
        "feature_dim": [8, 16, 32, 64],
        "grid": {"strides": [1, 2, 4, 8], "multiple": 8},
    },
}


def _manifest(**input_changes: Any) -> Manifest:
    data = copy.deepcopy(BASE)
    data["input"].update(input_changes)
    return parse_manifest(yaml.safe_dump(data).encode(), "testing/ct.yaml")


def test_window_is_clipped_and_scaled_then_cropped_or_padded_to_the_size() -> None:
    t = transforms(_manifest())
    volume = np.full((20, 10, 16), 100.0, dtype=np.float32)  # a [D, H, W] array in HU
    volume[0, 0, 0], volume[-1, -1, -1] = -1000.0, 3000.0
    x = t(volume)
    assert x.shape == (1, 16, 16, 16)
    assert x.dtype == torch.float32
    assert torch.isclose(x[0, 8, 8, 8], torch.tensor(0.5))  # 100 HU is the middle of [-100, 300]
    assert float(x.max()) <= 1.0
    assert float(x.min()) >= 0.0


def test_dynamic_size_pads_each_axis_to_the_networks_multiple() -> None:
    t = transforms(_manifest(dynamic_size=True))
    x = t(torch.zeros(1, 17, 8, 30))
    assert x.shape == (1, 24, 8, 32)


def test_channel_statistics_follow_the_intensity_window() -> None:
    t = transforms(_manifest(mean=[0.5], std=[0.25]))
    x = t(np.full((16, 16, 16), 300.0))  # top of the window: 1.0, then (1 - 0.5) / 0.25
    torch.testing.assert_close(x, torch.full((1, 16, 16, 16), 2.0))


def test_a_metatensor_is_reoriented_and_resampled_to_the_declared_spacing() -> None:
    from monai.data import MetaTensor

    t = transforms(
        _manifest(spacing=[1.5, 1.5, 1.5], orientation="RAS", dynamic_size=True, intensity=None)
    )
    affine = torch.diag(torch.tensor([-3.0, 3.0, 3.0, 1.0]))  # LAS at 3 mm
    volume = MetaTensor(torch.arange(8.0).reshape(1, 2, 2, 2).repeat(1, 4, 4, 4), affine=affine)
    x = t(volume)
    assert type(x) is torch.Tensor  # the metadata is dropped: the model takes plain tensors
    assert x.shape[1:] == (16, 16, 16)  # 8 voxels of 3 mm are 16 of 1.5 mm (15 + 1, padded to 16)


def test_a_plain_array_is_taken_as_already_resampled() -> None:
    t = transforms(_manifest(spacing=[1.5, 1.5, 1.5], orientation="RAS"))
    assert t(np.zeros((16, 16, 16))).shape == (1, 16, 16, 16)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 16, 16, 16), r"expected 1 channel\(s\), got 2"),
        ((16, 16), r"\[D, H, W\] or \[C, D, H, W\]"),
    ],
)
def test_wrong_shapes_are_usage_errors(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        transforms(_manifest())(np.zeros(shape))


def test_repr_names_the_steps() -> None:
    text = repr(transforms(_manifest(spacing=[1.0, 1.0, 2.0])))
    assert "VolumeTransform(size=[16, 16, 16], spacing=(1.0, 1.0, 2.0)" in text
    assert "'window': (-100.0, 300.0)" in text
