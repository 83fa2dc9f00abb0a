"""eva's YAML configs (seeds 001 and 002), class_path changed to zoo.compat.eva, through jsonargparse
as LightningCLI parses them (omegaconf mode, for the ``${oc.env:...}`` interpolations)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from zoo.compat.eva import (
    HuggingFaceModel,
    ModelFromFunction,
    ModelFromRegistry,
    ONNXModel,
    TimmModel,
)


def instantiate(tmp_path: Path, text: str) -> Any:
    """Parse a config with a ``backbone: nn.Module`` key and build it, as LightningCLI would."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    config = tmp_path / "config.yaml"
    config.write_text(text)
    parser = ArgumentParser(parser_mode="omegaconf", exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("--backbone", type=nn.Module)
    return parser.instantiate(parser.parse_args(["--config", str(config)])).backbone


REGISTRY_CONFIG = """
backbone:
  class_path: zoo.compat.eva.ModelFromRegistry
  init_args:
    model_name: ${oc.env:MODEL_NAME, universal/vit_small_patch16_224_dino}
    model_kwargs:
      out_indices: ${oc.env:OUT_INDICES, 1}
"""


@pytest.mark.slow
@pytest.mark.parametrize(("value", "levels"), [("2", 2), ("[-2,-4]", 2), ("(-2, -4)", 2), ("1", 1)])
def test_registry_config_with_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, levels: int
) -> None:
    monkeypatch.setenv("MODEL_NAME", "universal/vit_tiny_patch16_224_random")
    monkeypatch.setenv("OUT_INDICES", value)  # eva fails on "(-2, -4)"
    model = instantiate(tmp_path, REGISTRY_CONFIG)
    assert isinstance(model, ModelFromRegistry)
    maps = model(torch.randn(1, 3, 224, 224))
    assert [tuple(m.shape) for m in maps] == [(1, 192, 14, 14)] * levels


def _hf_cache_file(repo: str, filename: str, data: bytes, cache: Path) -> None:
    """One file laid out in a Hugging Face cache as ``hf download`` leaves it."""
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    commit = hashlib.sha1(data).hexdigest()
    link = repo_dir / "snapshots" / commit / filename
    link.parent.mkdir(parents=True)
    link.symlink_to(Path("..", "..", "blobs", blob.name))
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)


@pytest.mark.slow
def test_registry_config_defaults_offline_from_the_hf_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default model has weights: put (random) ones where timm's hub id points, then go offline.
    import os

    import timm
    from safetensors.torch import save

    torch.manual_seed(0)
    source = timm.create_model("vit_small_patch16_224", num_classes=0, dynamic_img_size=True).eval()
    cache = Path(os.environ["HF_HUB_CACHE"])
    _hf_cache_file(
        "timm/vit_small_patch16_224.dino", "model.safetensors", save(source.state_dict()), cache
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = instantiate(tmp_path, REGISTRY_CONFIG)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        (got,) = model(x)
        want = source.forward_intermediates(x, indices=1, intermediates_only=True)[0]
    torch.testing.assert_close(got, want)


def test_function_config_torch_hub_load(tmp_path: Path, hub_repo: Path) -> None:
    model = instantiate(
        tmp_path,
        f"""
backbone:
  class_path: zoo.compat.eva.ModelFromFunction
  init_args:
    path: torch.hub.load
    arguments:
      repo_or_dir: {hub_repo}
      model: tiny_vit
      source: local
      pretrained: false
""",
    )
    assert isinstance(model, ModelFromFunction)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 17, 16)


def test_function_config_timm_create_model(tmp_path: Path) -> None:
    text = """
backbone:
  class_path: zoo.compat.eva.ModelFromFunction
  init_args:
    path: timm.create_model
    arguments:
      model_name: resnet18
      pretrained: false
"""
    assert instantiate(tmp_path, text)(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_timm_config(tmp_path: Path) -> None:
    # The seed writes "out_indices=1 # ..." (not YAML); as a key it reads:
    model = instantiate(
        tmp_path,
        """
backbone:
  class_path: zoo.compat.eva.TimmModel
  init_args:
    model_name: vit_tiny_patch16_224
    pretrained: false
    out_indices: 1 # to return the last feature map
    model_kwargs:
      dynamic_img_size: true
""",
    )
    assert isinstance(model, TimmModel)
    assert [tuple(m.shape) for m in model(torch.randn(1, 3, 64, 96))] == [(1, 192, 4, 6)]


def test_hugging_face_config_with_cls_transform(tmp_path: Path) -> None:
    import transformers

    config = transformers.ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )
    transformers.ViTModel(config).save_pretrained(tmp_path / "phikon")
    model = instantiate(
        tmp_path,
        f"""
backbone:
  class_path: zoo.compat.eva.HuggingFaceModel
  init_args:
    model_name_or_path: {tmp_path / "phikon"}
    tensor_transforms:
      class_path: zoo.compat.eva.ExtractCLSFeatures
""",
    )
    assert isinstance(model, HuggingFaceModel)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 32)


@pytest.mark.slow
def test_onnx_config(tmp_path: Path) -> None:
    import warnings

    net = nn.Sequential(nn.Conv2d(3, 4, 8, 8), nn.Flatten(1)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own chatter
        torch.onnx.export(
            net,
            (torch.randn(1, 3, 16, 16),),
            str(tmp_path / "model.onnx"),
            dynamo=True,
            external_data=False,
        )
    model = instantiate(
        tmp_path,
        f"""
backbone:
  class_path: zoo.compat.eva.ONNXModel
  init_args:
    path: {tmp_path / "model.onnx"}
    device: cpu
""",
    )
    assert isinstance(model, ONNXModel)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x), rtol=1e-4, atol=1e-5)
