"""eva's own vision tests, re-expressed against ``zoo.compat.eva``: registries, ModelFromRegistry,
TimmModel; plus what eva builds that zoo refused before (architecture-changing ``model_kwargs``,
``checkpoint_path``) and eva's defaults.

Each test names the eva file (kaiko-ai/eva at a git tag) it mirrors. eva registers test names
for good; these tests remove what they register, so that they can run in any order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn

from zoo.compat import eva
from zoo.compat.eva import (
    BackboneModelRegistry,
    ModelFromFunction,
    ModelFromRegistry,
    Registry,
    TimmModel,
    backbone_registry,
    register_model,
)
from zoo.errors import ArgumentError, ModelNotFoundError, RegistryLookupError

timm = pytest.importorskip("timm")


class DummyModel(nn.Module):
    """eva's test module."""


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names a test registers; removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        if name in BackboneModelRegistry._registry:
            backbone_registry.unregister(name)


# -- tests/eva/vision/models/networks/backbones/test_registry.py @ 0.4.5 ----------------------------


def test_backbone_registry_imports_as_eva_code_does() -> None:
    assert eva.backbone_registry is backbone_registry
    assert isinstance(backbone_registry, Registry)


@pytest.mark.parametrize("model_name", ["universal/vit_small_patch16_224_random"])
def test_get_model(model_name: str) -> None:
    model_fn = backbone_registry.get(model_name)
    assert isinstance(model_fn, Callable)  # type: ignore[arg-type]


def test_list_entries() -> None:
    models = backbone_registry.entries()
    assert isinstance(models, list)
    assert len(models) > 0
    # eva lists its catalogue and every timm architecture (checked against kaiko-eva 0.4.5).
    assert "universal/vit_small_patch16_224_random" in models
    assert "timm/vit_small_patch16_224" in models


def test_register_model(registered: list[str]) -> None:
    model_name = "test_model_1"
    with pytest.raises(ValueError, match=f"Item {model_name} not found in the registry."):
        backbone_registry.get(model_name)

    @backbone_registry.register(model_name)
    def dummy_model_fn() -> nn.Module:
        return DummyModel()

    registered.append(model_name)
    model_fn = backbone_registry.get(model_name)
    assert isinstance(model_fn, Callable)  # type: ignore[arg-type]
    assert isinstance(model_fn(), DummyModel)


def test_register_model_duplicate(registered: list[str]) -> None:
    model_name = "test_model_2"

    @backbone_registry.register(model_name)
    def dummy_model_fn() -> nn.Module:
        return DummyModel()

    registered.append(model_name)
    with pytest.raises(ValueError, match=f"Entry {model_name} is already registered."):

        @backbone_registry.register(model_name)
        def dummy_model_fn_again() -> nn.Module:
            return DummyModel()


def test_a_plain_registry_is_evas() -> None:
    # src/eva/core/utils/registry.py @ 0.4.5: a Registry of one's own, nothing else in it.
    registry = Registry()
    assert registry.entries() == []

    @registry.register("alpha")
    class A:
        pass

    assert registry.get("alpha") is A
    assert registry.entries() == ["alpha"]
    with pytest.raises(ValueError, match=r"Entry alpha is already registered."):
        registry.register("alpha")(A)
    with pytest.raises(
        ValueError, match=r"Item alpah not found in the registry. Did you mean 'alpha'"
    ):
        registry.get("alpah")
    with pytest.raises(
        ValueError, match=r"Item zz not found in the registry. Registered: alpha\.$"
    ):
        registry.get("zz")


def test_misses_keep_evas_words_and_add_suggestions() -> None:
    with pytest.raises(RegistryLookupError) as info:
        backbone_registry.get("universal/vit_small_patch16_224_randm")
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, ModelNotFoundError)
    assert str(error).startswith(
        "Item universal/vit_small_patch16_224_randm not found in the registry."
    )
    assert "Did you mean 'universal/vit_small_patch16_224_random'" in str(error)


def test_catalogue_and_timm_names_cannot_be_registered_over() -> None:
    for name in ("universal/vit_small_patch16_224_random", "timm/resnet18"):
        with pytest.raises(ValueError, match=f"Entry {name} is already registered."):
            backbone_registry.register(name)(DummyModel)


# -- tests/eva/vision/models/networks/backbones/test_registry.py @ 0.2.2 (BackboneModelRegistry) ----


@pytest.mark.parametrize("model_name", ["universal/vit_small_patch16_224_random"])
def test_get_model_0_2(model_name: str) -> None:
    assert isinstance(BackboneModelRegistry.get(model_name), Callable)  # type: ignore[arg-type]


@pytest.mark.parametrize("model_name", ["universal/vit_small_patch16_224_random"])
def test_load_model_0_2(model_name: str) -> None:
    assert isinstance(BackboneModelRegistry.load_model(model_name), nn.Module)


def test_list_models_0_2() -> None:
    models = BackboneModelRegistry.list_models()
    assert isinstance(models, list)
    assert len(models) > 0
    assert "timm/<model_name>" in models  # as eva 0.2.x lists timm


def test_register_model_0_2(registered: list[str]) -> None:
    model_name = "test_model_1"
    with pytest.raises(ValueError, match=f"Model {model_name} not found in the registry."):
        BackboneModelRegistry.get(model_name)

    @register_model(model_name)
    def dummy_model_fn() -> nn.Module:
        return DummyModel()

    registered.append(model_name)
    model_fn = BackboneModelRegistry.get(model_name)
    assert isinstance(model_fn(), DummyModel)
    assert backbone_registry.get(model_name) is model_fn  # one store for both APIs


def test_register_model_duplicate_0_2(registered: list[str]) -> None:
    model_name = "test_model_2"

    @register_model(model_name)
    def dummy_model_fn() -> nn.Module:
        return DummyModel()

    registered.append(model_name)
    with pytest.raises(ValueError, match=f"Model {model_name} is already registered."):
        register_model(model_name)(dummy_model_fn)


# -- tests/eva/vision/models/wrappers/test_backbone.py @ 0.4.5 --------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_name", "model_kwargs", "input_tensor", "expected_len", "expected_shape"),
    [
        (
            "universal/vit_small_patch16_224_random",
            {"out_indices": 1},
            torch.rand(2, 3, 224, 224),
            1,
            torch.Size([2, 384, 14, 14]),
        ),
        (
            "universal/vit_small_patch16_224_random",
            {"out_indices": 3},
            torch.rand(2, 3, 224, 224),
            3,
            torch.Size([2, 384, 14, 14]),
        ),
        (
            "universal/vit_small_patch16_224_random",
            {"dynamic_img_size": True, "out_indices": 3},
            torch.rand(2, 3, 512, 512),
            3,
            torch.Size([2, 384, 32, 32]),
        ),
    ],
)
def test_vision_backbone(
    model_name: str,
    model_kwargs: dict[str, Any],
    input_tensor: torch.Tensor,
    expected_len: int,
    expected_shape: torch.Size,
) -> None:
    outputs = ModelFromRegistry(model_name=model_name, model_kwargs=model_kwargs)(input_tensor)
    assert isinstance(outputs, list)
    assert len(outputs) == expected_len
    assert isinstance(outputs[0], torch.Tensor)
    assert outputs[0].shape == expected_shape


def test_model_from_registry_unknown_name_keeps_the_factorys_words() -> None:
    # src/eva/core/utils/factory.py @ 0.4.5: ValueError("Invalid name: ... Please choose one of ...")
    with pytest.raises(ValueError, match=r"^Invalid name: universal/vit_smal\. Did you mean"):
        ModelFromRegistry("universal/vit_smal")


def test_model_from_registry_checks_what_the_function_returns(registered: list[str]) -> None:
    # src/eva/core/utils/factory.py @ 0.4.5: TypeError("Expected an instance of ..., but got ...")
    backbone_registry.register("test_not_a_module")(lambda: 3)
    registered.append("test_not_a_module")
    with pytest.raises(
        TypeError, match=r"Expected an instance of .*Module.*, but got <class 'int'>"
    ):
        ModelFromRegistry("test_not_a_module")


# -- tests/eva/vision/models/wrappers/test_from_timm.py @ 0.4.5 -------------------------------------
# eva's fixture loads pretrained weights (its default); no weights can be downloaded here, so the
# cases build with pretrained=False. The shapes are eva's.


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_name", "out_indices", "model_kwargs", "input_tensor", "expected_len", "expected_shape"),
    [
        (
            "vit_small_patch16_224",
            1,
            None,
            torch.rand(2, 3, 224, 224),
            1,
            torch.Size([2, 384, 14, 14]),
        ),
        (
            "vit_small_patch16_224",
            3,
            None,
            torch.rand(2, 3, 224, 224),
            3,
            torch.Size([2, 384, 14, 14]),
        ),
        (
            "vit_small_patch16_224",
            3,
            {"dynamic_img_size": True},
            torch.rand(2, 3, 512, 512),
            3,
            torch.Size([2, 384, 32, 32]),
        ),
    ],
)
def test_timm_model(
    model_name: str,
    out_indices: int,
    model_kwargs: dict[str, Any] | None,
    input_tensor: torch.Tensor,
    expected_len: int,
    expected_shape: torch.Size,
) -> None:
    model = TimmModel(
        model_name=model_name, out_indices=out_indices, model_kwargs=model_kwargs, pretrained=False
    )
    outputs = model(input_tensor)
    assert isinstance(outputs, list)
    assert len(outputs) == expected_len
    assert isinstance(outputs[0], torch.Tensor)
    assert outputs[0].shape == expected_shape


# -- what eva builds: architecture-changing model_kwargs, with and without checkpoint_path -------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kwargs", "levels", "prefix", "dim"),
    [
        ({"depth": 6}, 6, 1, 192),
        ({"embed_dim": 96, "num_heads": 3}, 12, 1, 96),
        ({"reg_tokens": 4}, 12, 5, 192),
        ({"depth": 4, "embed_dim": 64, "num_heads": 2, "reg_tokens": 2}, 4, 3, 64),
    ],
)
def test_timm_model_with_architecture_changing_kwargs(
    kwargs: dict[str, Any], levels: int, prefix: int, dim: int, tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    x = torch.rand(1, 3, 224, 224)
    model = TimmModel("vit_tiny_patch16_224", pretrained=False, model_kwargs=kwargs)
    output = model.model.manifest.output
    assert (output.feature_levels, output.prefix_tokens, output.embedding_dim) == (
        levels,
        prefix,
        dim,
    )
    assert model(x).shape == (1, dim)
    maps = TimmModel("vit_tiny_patch16_224", pretrained=False, out_indices=2, model_kwargs=kwargs)(
        x
    )
    assert [tuple(m.shape) for m in maps] == [(1, dim, 14, 14)] * 2
    # The same architecture from a checkpoint file, as eva's checkpoint_path loads it.
    torch.manual_seed(3)
    source = timm.create_model("vit_tiny_patch16_224", num_classes=0, **kwargs).eval()
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    loaded = TimmModel(
        "vit_tiny_patch16_224", checkpoint_path=str(tmp_path / "w.safetensors"), model_kwargs=kwargs
    )
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x))


def test_model_from_function_with_architecture_changing_kwargs(tmp_path: Path) -> None:
    torch.manual_seed(4)
    arguments = {
        "model_name": "vit_tiny_patch16_224",
        "depth": 3,
        "reg_tokens": 2,
        "num_classes": 0,
    }
    source = timm.create_model(**arguments).eval()
    torch.save({"state_dict": source.state_dict()}, tmp_path / "w.ckpt")  # a Lightning-style file
    x = torch.rand(1, 3, 224, 224)
    assert ModelFromFunction(timm.create_model, arguments)(x).shape == (1, 192)
    loaded = ModelFromFunction(
        timm.create_model, arguments, checkpoint_path=str(tmp_path / "w.ckpt")
    )
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x))


def test_timm_model_bad_kwargs_are_a_type_error() -> None:
    with pytest.raises(TypeError) as info:
        TimmModel("vit_tiny_patch16_224", pretrained=False, model_kwargs={"deptth": 6})
    assert isinstance(info.value, ArgumentError)
    assert "deptth" in str(info.value)


# -- eva's defaults ---------------------------------------------------------------------------


def test_timm_names_in_the_registry_are_not_pretrained_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # src/eva/vision/models/networks/backbones/timm/backbones.py @ 0.4.5: timm_model(...,
    # pretrained=False); kaiko-eva 0.4.5 builds backbone_registry.get("timm/...")() offline.
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    model = backbone_registry.get("timm/vit_tiny_patch16_224")()
    assert isinstance(model, TimmModel)
    assert model(torch.rand(1, 3, 224, 224)).shape == (1, 192)
    maps = backbone_registry.get("timm/vit_tiny_patch16_224")(out_indices=2)(
        torch.rand(1, 3, 224, 224)
    )
    assert len(maps) == 2


def test_timm_model_is_pretrained_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # src/eva/vision/models/wrappers/from_timm.py @ 0.4.5: TimmModel(pretrained=True)
    from zoo.errors import WeightsNotAvailableError

    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError):
        TimmModel("vit_tiny_patch16_224")


def test_model_from_registry_refuses_what_eva_would_drop() -> None:
    # eva's factory drops keyword arguments the registered function does not take (checked with
    # kaiko-eva 0.4.5: {"bogus": 3} is silently ignored); zoo refuses them, with a suggestion.
    with pytest.raises(ArgumentError, match="did you mean 'out_indices'"):
        ModelFromRegistry("universal/vit_small_patch16_224_random", {"out_indice": 1})
