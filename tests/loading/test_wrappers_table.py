"""The table of wrapper types (:data:`zoo.loading.wrappers.WRAPPERS`): one object per type, the
only place besides the manifest format that branches on the type, and the drifts it removed."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import REPO_ROOT
from zoo import load_manifest
from zoo.errors import TrustError, UsageError, WeightsNotAvailableError
from zoo.loading.wrappers import WRAPPERS, WrapperType
from zoo.manifest import WRAPPER_TYPES, Manifest, Traits
from zoo.manifest._wrappers import Wrapper
from zoo.weights.transport.mirror import use_mirror


def test_one_row_per_wrapper_type_of_the_format() -> None:
    assert list(WRAPPERS) == list(WRAPPER_TYPES)
    assert all(isinstance(row, WrapperType) for row in WRAPPERS.values())
    kinds = Wrapper.__args__[0].__args__  # type: ignore[attr-defined]
    assert {k.model_fields["type"].annotation.__args__[0] for k in kinds} == set(WRAPPER_TYPES)
    assert all(isinstance(k.traits, Traits) for k in kinds)


#: Where deciding by wrapper type is allowed: the format and the table.
_ALLOWED = ("zoo/manifest/", "zoo/loading/wrappers/__init__.py")
_BRANCH = re.compile(
    r"wrapper\.type\s*(==|!=|\bin\b|\bnot in\b)|\.type\s*==\s*[\"'](timm|transformers|onnx|torchhub|function|monai|open_clip)[\"']"
)


def test_nothing_outside_the_table_and_the_format_branches_on_the_wrapper_type() -> None:
    found = [
        f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}"
        for path in sorted((REPO_ROOT / "zoo").rglob("*.py"))
        if not str(path.relative_to(REPO_ROOT)).startswith(_ALLOWED)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _BRANCH.search(line)
    ]
    assert found == []


def test_the_branch_finder_sees_a_branch(tmp_path: Path) -> None:
    assert _BRANCH.search('    if manifest.wrapper.type == "onnx":')
    assert _BRANCH.search("    if m.wrapper.type in ('timm',):")
    assert not _BRANCH.search('    if device.type == "cuda":')


def test_onnx_takes_no_overrides(tmp_path: Path) -> None:
    data = {
        "schema_version": 1,
        "name": "testing/graph",
        "wrapper": {"type": "onnx"},
        "checkpoint": {"path": "graph.onnx"},
        "input": {"size": [32, 32], "mean": [0.5] * 3, "std": [0.5] * 3},
        "output": {"embedding_dim": 8, "pooling": "none"},
    }
    manifest = Manifest.model_validate(data)
    with pytest.raises(UsageError, match="takes no keyword overrides"):
        WRAPPERS["onnx"].overrides(manifest, {"img_size": 64})


#: A distribution ``zoomonai`` whose module ``zoomonai_layers`` holds an activation class.
_ACT = "import torch\n\nclass Swish(torch.nn.SiLU):\n    pass\n"

_SEGRESNET: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/tiny_segresnet",
    "requires": ["zoomonai"],
    "wrapper": {
        "type": "monai",
        "network": "SegResNet",
        "kwargs": {
            "init_filters": 8,
            "blocks_down": [1, 1, 1],
            "act": [{"$object": "zoomonai_layers.Swish"}, {}],
        },
    },
    "input": {"kind": "volume", "size": [16, 16, 16], "channels": 1},
    "output": {
        "embedding_dim": 32,
        "pooling": "mean",
        "feature_levels": 3,
        "feature_dim": [8, 16, 32],
        "grid": {"strides": [1, 2, 4], "multiple": 4},
    },
}


def test_monai_objects_from_a_required_package_load_on_the_callers_opt_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MONAI loader dropped the ``requires`` modules (``also=ctx.trusted``) that every other
    wrapper type passes: with ``trust_remote_code=True`` its ``$object`` was still refused."""
    pytest.importorskip("monai")
    site = tmp_path / "site"
    info = site / "zoomonai-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoomonai\nVersion: 1.0.0\n")
    (info / "top_level.txt").write_text("zoomonai_layers\n")
    (site / "zoomonai_layers.py").write_text(_ACT)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "zoomonai_layers", raising=False)
    data = copy.deepcopy(_SEGRESNET)
    with pytest.raises(TrustError):
        load_manifest(Manifest.model_validate(data), pretrained=False)
    model = load_manifest(Manifest.model_validate(data), pretrained=False, trust_remote_code=True)
    acts = [m for m in model.backbone.modules() if type(m).__name__ == "Swish"]
    assert acts
    assert type(acts[0]).__module__ == "zoomonai_layers"
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 16, 16, 16)).shape == (1, 32)


def test_torchhub_with_a_mirror_in_use_never_goes_to_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror turns the network off for every weights path; the torchhub loader asked only
    ``ZOO_OFFLINE``, so with a mirror active it would still fetch the repository from GitHub."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "zoo.lock").write_text('{"zoo_lock": 1, "files": []}\n')
    data = {
        "schema_version": 1,
        "name": "testing/hub",
        "wrapper": {"type": "torchhub", "repo": "owner/repo", "entry": "model", "trust_repo": True},
        "input": {"size": [32, 32], "mean": [0.5] * 3, "std": [0.5] * 3},
        "output": {"embedding_dim": 8, "pooling": "none"},
    }
    with use_mirror(mirror), pytest.raises(WeightsNotAvailableError, match="not cached"):
        load_manifest(Manifest.model_validate(data), pretrained=False, trust_remote_code=True)
