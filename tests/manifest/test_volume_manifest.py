"""Volumes in the manifest: ``input.kind: volume``, ``output.grid``, the monai wrapper, remap ``keep``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from zoo.catalog.parse import parse_manifest
from zoo.errors import ManifestError
from zoo.manifest import Manifest, VolumeInputSpec

VOLUME: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/tiny_swin",
    "wrapper": {"type": "monai", "network": "SwinUNETR", "kwargs": {"feature_size": 12}},
    "input": {
        "kind": "volume",
        "size": [64, 64, 32],
        "channels": 1,
        "spacing": [1.5, 1.5, 2.0],
        "orientation": "RAS",
        "intensity": {"window": [-175, 250], "range": [0, 1], "clip": True},
        "dynamic_size": True,
    },
    "output": {
        "embedding_dim": 288,
        "pooling": "mean",
        "feature_levels": 6,
        "feature_dim": [12, 12, 24, 48, 96, 192],
        "grid": {"strides": [1, 2, 4, 8, 16, 32], "multiple": 32, "pool": [0, 1, 2, 3, 5]},
    },
}


def _parse(data: dict[str, Any]) -> Manifest:
    return parse_manifest(yaml.safe_dump(data).encode(), "testing/tiny_swin.yaml")


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VOLUME)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


def test_a_volume_manifest_parses_into_a_volume_spec() -> None:
    m = _parse(VOLUME)
    assert isinstance(m.input, VolumeInputSpec)
    assert m.input.size == (64, 64, 32)
    assert m.input.in_chans == 1
    assert m.input.intensity is not None
    assert m.input.intensity.window == (-175.0, 250.0)
    assert m.output.grid is not None
    assert m.output.grid.stride_of(2) == (4, 4, 4)
    assert m.output.grid.multiple_of() == (32, 32, 32)
    assert m.summary()["input_size"] == [64, 64, 32]


def test_an_image_manifest_still_parses_into_the_image_spec(tiny_manifest_data: Any) -> None:
    m = parse_manifest(yaml.safe_dump(tiny_manifest_data()).encode(), "testing/tiny_vit.yaml")
    assert not isinstance(m.input, VolumeInputSpec)
    assert m.input.size == (224, 224)


def test_per_axis_strides_and_multiple() -> None:
    data = _with("output.grid.strides", [1, [1, 2, 2], [2, 4, 4], 8, 16, 32])
    data["output"]["grid"]["multiple"] = [32, 32, 32]
    grid = _parse(data).output.grid
    assert grid is not None
    assert grid.stride_of(1) == (1, 2, 2)
    assert grid.multiple_of() == (32, 32, 32)


@pytest.mark.parametrize(
    ("path", "value", "where", "says"),
    [
        ("input.mean", [0.5], "input", "give both mean and std"),
        (
            "wrapper.kwargs",
            {"in_channels": 2, "feature_size": 12},
            "wrapper.kwargs.in_channels",
            "in_channels is 2 but input.channels is 1",
        ),
        ("input.orientation", "RAR", "input", "name each anatomical axis once"),
        ("input.orientation", "XYZ", "input.orientation", "should match pattern"),
        ("input.intensity", {"window": [250, -175]}, "input.intensity", "low < high"),
        ("input.size", [64, 64], "input.size.2", "field required"),
        ("input.size", [64, 64, 48], "input.size", "not a multiple of output.grid.multiple"),
        ("input.spacing", [1.5, 0, 1.5], "input.spacing.1", "greater than 0"),
        ("output.grid", _DELETE, "output", "a 3-D encoder sets output.grid instead"),
        ("output.grid.strides", [1, 2, 4], "output.grid.strides", "lists 3 levels"),
        ("output.grid.pool", [6], "output.grid.pool", "out of range"),
        ("output.embedding_dim", 1152, "output.embedding_dim", "gives 288 channels, not 1152"),
        ("output.pooling", "cls", "output", "needs a class token"),
        ("output.pooling", "pooler", "output.pooling", "needs tokens"),
        ("output.feature_dim", 12, "output.feature_dim", "per level"),
        (
            "wrapper.network",
            "UNet",
            "wrapper.monai.network",
            "'SwinUNETR', 'SegResNet' or 'SegResEncoder'",
        ),
        ("wrapper.kwargs", {"spatial_dims": 2}, "wrapper.kwargs.spatial_dims", "must be 3"),
    ],
)
def test_volume_mistakes_name_the_field(path: str, value: Any, where: str, says: str) -> None:
    with pytest.raises(ManifestError) as info:
        _parse(_with(path, value))
    found = [p for p in info.value.problems if p.path == where and says in p.message]
    assert found, str(info.value)


def test_a_volume_input_needs_a_grid_even_without_pooling() -> None:
    data = _with("output.grid", _DELETE)
    data["output"]["pooling"] = "none"
    with pytest.raises(ManifestError) as info:
        _parse(data)
    assert [p.path for p in info.value.problems] == ["output.grid"]
    assert "a volume input needs output.grid" in str(info.value)


def test_a_monai_wrapper_needs_a_volume_input(tiny_manifest_data: Any) -> None:
    data = tiny_manifest_data(wrapper=VOLUME["wrapper"])
    with pytest.raises(ManifestError) as info:
        parse_manifest(yaml.safe_dump(data).encode(), "testing/tiny_vit.yaml")
    assert "a monai wrapper builds a 3-D encoder" in str(info.value)


def test_a_grid_needs_a_volume_input(tiny_manifest_data: Any) -> None:
    data = tiny_manifest_data()
    data["output"]["grid"] = VOLUME["output"]["grid"]
    with pytest.raises(ManifestError) as info:
        parse_manifest(yaml.safe_dump(data).encode(), "testing/tiny_vit.yaml")
    assert [p.path for p in info.value.problems] == ["output.grid"]


def test_an_image_input_refuses_volume_only_keys(tiny_manifest_data: Any) -> None:
    data = tiny_manifest_data()
    data["input"]["spacing"] = [1.0, 1.0]
    with pytest.raises(ManifestError) as info:
        parse_manifest(yaml.safe_dump(data).encode(), "testing/tiny_vit.yaml")
    assert [p.path for p in info.value.problems] == ["input.spacing"]


def test_error_lines_point_into_the_input_block() -> None:
    text = yaml.safe_dump(_with("input.orientation", "RAR"), sort_keys=False)
    with pytest.raises(ManifestError) as info:
        parse_manifest(text.encode(), "testing/tiny_swin.yaml")
    problem = info.value.problems[0]
    lines = text.splitlines()
    start = lines.index("input:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    assert problem.line is not None
    assert start < problem.line <= end  # inside the input block (1-based line)


@pytest.mark.parametrize(
    ("alias", "ok"),
    [
        ("segresnet_encoder", True),
        ("radiology/segresnet_encoder_v0", True),
        ("Segresnet", False),
        ("a/b/c", False),
        ("/segresnet", False),
    ],
)
def test_aliases_may_be_bare_names(alias: str, ok: bool) -> None:
    data = copy.deepcopy(VOLUME)
    data["aliases"] = [alias]
    if ok:
        assert _parse(data).aliases == [alias]
    else:
        with pytest.raises(ManifestError):
            _parse(data)


def test_remap_keep_is_part_of_the_checkpoint_block() -> None:
    data = copy.deepcopy(VOLUME)
    data["checkpoint"] = {
        "path": "weights.pth",
        "key": "net",
        "remap": {"rename": {r"^.*?backbone\.": ""}, "keep": ["swinViT.*", "encoder*"]},
    }
    m = _parse(data)
    assert m.checkpoint is not None
    assert m.checkpoint.remap.keep == ["swinViT.*", "encoder*"]
