"""Slide encoders in the manifest: ``input.kind: tiles``, ``pairs_with``, and their hostile forms."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from zoo.catalog.parse import parse_manifest
from zoo.errors import ManifestError
from zoo.manifest import Manifest, TilesInputSpec

MPP = {"value": 0.5, "basis": "stated", "source": "a test"}

#: A slide encoder taking the tiny test ViT's 384-d features (tests/conftest.py's manifest).
SLIDE: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/tiny_abmil",
    "description": "A randomly initialised ABMIL slide encoder used by the tests.",
    "license": {"id": "MIT", "commercial": True},
    "pairs_with": ["testing/tiny_vit"],
    "wrapper": {
        "type": "function",
        "path": "zoo.nn.slide.abmil",
        "arguments": {"feature_dim": 384, "head_dim": 32},
    },
    "input": {
        "kind": "tiles",
        "feature_dim": 384,
        "coords": "unused",
        "mpp": MPP,
        "tile_size": 224,
    },
    "output": {"embedding_dim": 384, "pooling": "none"},
}

_DELETE = object()


def slide_data(**top: Any) -> dict[str, Any]:
    """A fresh copy of :data:`SLIDE` with top-level fields replaced."""
    data = copy.deepcopy(SLIDE)
    data.update(copy.deepcopy(top))
    return data


def _parse(data: dict[str, Any]) -> Manifest:
    return parse_manifest(yaml.safe_dump(data).encode(), "testing/tiny_abmil.yaml")


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(SLIDE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


def test_a_slide_encoder_parses_into_a_tiles_spec() -> None:
    m = _parse(SLIDE)
    assert isinstance(m.input, TilesInputSpec)
    assert m.input.feature_dim == 384
    assert m.input.mpp.value == 0.5
    assert m.pairs_with == ["testing/tiny_vit"]
    summary = m.summary()
    assert summary["kind"] == "tiles"
    assert summary["pairs_with"] == ["testing/tiny_vit"]
    assert summary["input_size"] is None


def test_an_image_manifest_has_kind_image_and_no_pairs(tiny_manifest_data: Any) -> None:
    m = parse_manifest(yaml.safe_dump(tiny_manifest_data()).encode(), "testing/tiny_vit.yaml")
    assert m.summary()["kind"] == "image"
    assert m.summary()["pairs_with"] == []


@pytest.mark.parametrize(
    ("path", "value", "where", "says"),
    [
        ("input.feature_dim", _DELETE, "input.feature_dim", "field required"),
        ("input.feature_dim", 0, "input.feature_dim", "greater than 0"),
        ("input.feature_dim", "384", "input.feature_dim", "integer"),
        ("input.coords", "optional", "input.coords", "'required' or 'unused'"),
        ("input.mpp", _DELETE, "input.mpp", "field required"),
        ("input.mpp", {"value": 0.5}, "input.mpp.basis", "field required"),
        ("input.tile_size", -1, "input.tile_size", "greater than 0"),
        ("input.size", [224, 224], "input.size", "unknown key"),
        ("input.kind", "tile", "input", "unknown input kind 'tile': expected image"),
        ("pairs_with", [], "pairs_with", "names the patch encoder entries"),
        ("pairs_with", ["testing/tiny_abmil"], "pairs_with", "names this entry itself"),
        ("pairs_with", ["testing/tiny_vit", "testing/tiny_vit"], "pairs_with", "a name twice"),
        ("pairs_with", ["Not A Name"], "pairs_with.0", "should match pattern"),
        ("pairs_with", "testing/tiny_vit", "pairs_with", "valid list"),
        ("pairs_with", [f"testing/m{i}" for i in range(40)], "pairs_with", "at most 32"),
        ("output.pooling", "cls", "output", "needs a class token"),
        ("output.pooling", "mean", "output", "averages patch tokens"),
        ("output.pooling", "pooler", "output.pooling", "pooling: none"),
        ("output.feature_levels", 2, "output.feature_levels", "a slide encoder has none"),
        ("output.patch_size", 16, "output.patch_size", "a slide encoder has none"),
        (
            "wrapper",
            {"type": "timm", "architecture": "vit_small_patch16_224"},
            "wrapper.type",
            "wrapper.type: function, not timm",
        ),
        ("wrapper.path", "os.system", "wrapper.function.path", "never allowed"),
    ],
)
def test_slide_encoder_mistakes_name_the_field(
    path: str, value: Any, where: str, says: str
) -> None:
    with pytest.raises(ManifestError) as info:
        _parse(_with(path, value))
    found = [(p.path, p.message) for p in info.value.problems]
    assert any(where == p and says.lower() in m.lower() for p, m in found), found


def test_pairs_with_on_an_image_encoder_is_refused(tiny_manifest_data: Any) -> None:
    data = tiny_manifest_data(pairs_with=["testing/other"])
    with pytest.raises(ManifestError, match=r"needs input\.kind: tiles"):
        parse_manifest(yaml.safe_dump(data).encode(), "testing/tiny_vit.yaml")
