"""zoo.Backbone: a catalogue model from constructor arguments, config files and the environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import zoo
from zoo.errors import ModelNotFoundError, UsageError
from zoo.loading.backbone import Backbone

CATALOGUE_TINY = "universal/vit_tiny_patch16_224_random"
TINY = "testing/tiny"  # 4 blocks, 32x32 input: cheap to build many times
SMALL = "testing/small"
X = torch.randn(1, 3, 32, 32)
MAP = (1, 48, 4, 4)


@pytest.fixture(autouse=True)
def _catalogue(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write_manifest: Any, tiny_manifest_data: Any
) -> None:
    """No override variables unless a test sets them; two tiny models on ZOO_CATALOG_PATH."""
    for name in ("ZOO_MODEL", "MODEL_NAME", "ZOO_OUT_INDICES", "OUT_INDICES"):
        monkeypatch.delenv(name, raising=False)
    for name, dim in ((TINY, 48), (SMALL, 64)):
        data = tiny_manifest_data(name=name)
        data["wrapper"]["kwargs"] = {
            "img_size": 32,
            "patch_size": 8,
            "depth": 4,
            "embed_dim": dim,
            "num_heads": 2,
            "dynamic_img_size": True,
        }
        data["input"].update(size=[32, 32], dynamic_size=True)
        data["output"].update(embedding_dim=dim, patch_size=8, feature_levels=4, feature_dim=dim)
        write_manifest(tmp_path / "catalog", data)
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path / "catalog"))


def shapes(out: Any) -> Any:
    return [tuple(t.shape) for t in out] if isinstance(out, list) else tuple(out.shape)


def test_embedding_and_contract() -> None:
    model = zoo.Backbone(CATALOGUE_TINY)
    assert isinstance(model, nn.Module)
    assert shapes(model(torch.randn(1, 3, 224, 224))) == (1, 192)
    assert model.name == CATALOGUE_TINY
    assert model.manifest.name == CATALOGUE_TINY
    assert model.embedding_dim == 192
    assert model.out_indices is None
    assert model.preprocess.size == (224, 224)


@pytest.mark.parametrize(
    ("value", "count"),
    [(2, 2), ([-2, -4], 2), ((-1,), 1), ("(-2, -4)", 2), ("[-2,-4]", 2), ("3", 3)],
)
def test_out_indices_forms(value: Any, count: int) -> None:
    assert shapes(Backbone(TINY, out_indices=value)(X)) == [MAP] * count


def test_overrides_as_keywords_and_model_kwargs() -> None:
    assert shapes(Backbone(TINY, img_size=64)(torch.randn(1, 3, 64, 64))) == (1, 48)
    model = Backbone(TINY, model_kwargs={"img_size": 64}, out_indices=1)
    assert shapes(model(torch.randn(1, 3, 64, 64))) == [(1, 48, 8, 8)]
    with pytest.raises(UsageError, match="img_size given both"):
        Backbone(TINY, model_kwargs={"img_size": 64}, img_size=96)


def test_manifest_file(tmp_path: Path, write_manifest: Any, tiny_manifest_data: Any) -> None:
    data = tiny_manifest_data(name="mine/tiny")
    tmp_path = tmp_path / "elsewhere"
    data["wrapper"]["kwargs"] = {"img_size": 32, "depth": 2}
    data["input"]["size"] = [32, 32]
    data["output"]["feature_levels"] = 2
    file = write_manifest(tmp_path, data)
    model = Backbone(str(file), out_indices=[-1])
    assert model.manifest.name == "mine/tiny"
    assert shapes(model(torch.randn(2, 3, 32, 32))) == [(2, 384, 2, 2)]


def test_unknown_name() -> None:
    with pytest.raises(ModelNotFoundError, match="testing/tiny"):
        Backbone("testing/tinny")


@pytest.mark.parametrize("variable", ["ZOO_MODEL", "MODEL_NAME"])
def test_environment_overrides_the_name(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, TINY)
    model = Backbone(SMALL)
    assert model.name == TINY
    assert shapes(model(X)) == (1, 48)
    assert Backbone(TINY, use_env=False, pretrained=False).name == TINY


def test_zoo_variables_win_over_eva_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_NAME", SMALL)
    monkeypatch.setenv("ZOO_MODEL", TINY)
    monkeypatch.setenv("OUT_INDICES", "3")
    monkeypatch.setenv("ZOO_OUT_INDICES", "(-2, -4)")
    model = Backbone(SMALL, out_indices=1)
    assert model.name == TINY
    assert model.out_indices == (-2, -4)


@pytest.mark.parametrize(
    ("raw", "parsed"), [("2", 2), ("[-2,-4]", (-2, -4)), ("(-2, -4)", (-2, -4)), ("none", None)]
)
def test_environment_overrides_out_indices(
    monkeypatch: pytest.MonkeyPatch, raw: str, parsed: Any
) -> None:
    monkeypatch.setenv("OUT_INDICES", raw)
    model = Backbone(TINY, out_indices=1)
    assert model.out_indices == parsed
    out = model(X)
    assert shapes(out) == ((1, 48) if parsed is None else [MAP] * len(out))
    assert Backbone(TINY, out_indices=1, use_env=False).out_indices == 1


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_OUT_INDICES", "two")
    with pytest.raises(UsageError, match="ZOO_OUT_INDICES"):
        Backbone(TINY)


def _instantiate(tmp_path: Path, text: str, mode: str = "yaml") -> Any:
    """A config parsed as LightningCLI does: an ``nn.Module``-typed argument, class_path + init_args."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    config = tmp_path / "config.yaml"
    config.write_text(text)
    parser = ArgumentParser(parser_mode=mode, exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("--backbone", type=nn.Module)
    return parser.instantiate(parser.parse_args(["--config", str(config)])).backbone


def test_jsonargparse_config(tmp_path: Path) -> None:
    model = _instantiate(
        tmp_path,
        f"""
backbone:
  class_path: zoo.Backbone
  init_args:
    name: {TINY}
    out_indices: [-1, -3]
    model_kwargs:
      img_size: 64
""",
    )
    assert isinstance(model, Backbone)
    assert shapes(model(torch.randn(1, 3, 64, 64))) == [(1, 48, 8, 8)] * 2


@pytest.mark.parametrize("value", ["2", "[-2,-4]", "(-2, -4)"])
def test_eva_style_config_with_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MODEL_NAME", TINY)
    monkeypatch.setenv("OUT_INDICES", value)
    text = """
backbone:
  class_path: zoo.Backbone
  init_args:
    name: ${oc.env:MODEL_NAME, universal/vit_small_patch16_224_dino}
    out_indices: ${oc.env:OUT_INDICES, 1}
"""
    model = _instantiate(tmp_path, text, mode="omegaconf")
    assert model.name == TINY
    assert shapes(model(X)) == [MAP] * 2


def test_the_environment_alone_retargets_a_plain_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_MODEL", TINY)
    monkeypatch.setenv("ZOO_OUT_INDICES", "(-2, -4)")
    model = _instantiate(
        tmp_path, f"backbone:\n  class_path: zoo.Backbone\n  init_args:\n    name: {SMALL}\n"
    )
    assert model.name == TINY
    assert len(model(X)) == 2


@pytest.mark.slow
def test_import_zoo_stays_torch_free() -> None:
    code = (
        "import sys, zoo\n"
        "assert 'torch' not in sys.modules\n"
        "assert 'Backbone' in zoo.__all__\n"
        "zoo.Backbone\n"
        "assert 'torch' in sys.modules\n"
        "try:\n    zoo.Nope\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "no attribute 'Nope'" in out.stdout
