"""The command line on 3-D encoders: zoo load runs a volume, zoo list/show print its facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("monai")

SEGRESNET: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/tiny_segresnet",
    "wrapper": {"type": "monai", "network": "SegResNet", "kwargs": {"init_filters": 8}},
    "input": {"kind": "volume", "size": [16, 16, 8], "channels": 1},
    "output": {
        "embedding_dim": 120,
        "pooling": "mean",
        "feature_levels": 4,
        "feature_dim": [8, 16, 32, 64],
        "grid": {"strides": [1, 2, 4, 8], "multiple": 8, "pool": [0, 1, 2, 3]},
    },
}


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_segresnet.yaml"
    path.write_text(yaml.safe_dump(SEGRESNET))
    return path


def test_load_runs_a_volume_of_the_declared_size(run_cli: Any, manifest_file: Path) -> None:
    code, stdout, _ = run_cli("load", manifest_file, "--random-init", "--json")
    assert code == 0
    data = json.loads(stdout)
    assert data["input_shape"] == [1, 1, 16, 16, 8]
    assert data["embedding_shape"] == [1, 120]
    code, stdout, _ = run_cli(
        "load", manifest_file, "--random-init", "--out-indices=-1,0", "--json"
    )
    assert code == 0
    assert json.loads(stdout)["feature_shapes"] == [[1, 64, 2, 2, 1], [1, 8, 16, 16, 8]]


def test_load_refuses_an_image_size_for_a_volume(run_cli: Any, manifest_file: Path) -> None:
    code, _, stderr = run_cli("load", manifest_file, "--random-init", "--input-size", "32")
    assert code == 2  # a usage error, caught by click
    assert "--input-size" in stderr
    assert "an image's height,width; testing/tiny_segresnet takes volumes" in stderr


def test_show_prints_the_volume_input(run_cli: Any) -> None:
    code, stdout, _ = run_cli("show", "segresnet_encoder", "--json")
    assert code == 0
    data = json.loads(stdout)
    assert data["name"] == "radiology/segresnet_encoder"
    assert data["input"]["kind"] == "volume"
    assert data["output"]["grid"]["strides"] == [1, 2, 4, 8]
