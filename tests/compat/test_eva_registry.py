"""The registry page of eva's docs (seed 001), run with only the import changed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.compat.eva import BackboneModelRegistry, ModelFromRegistry, register_model
from zoo.errors import ModelNotFoundError, RegistryLookupError, UsageError

VIT_S = "universal/vit_small_patch16_224_random"


def test_list_models_is_the_catalogue() -> None:
    models = BackboneModelRegistry.list_models()
    assert models == sorted(models)
    assert VIT_S in models
    assert set(zoo.Catalog().names()) <= set(models)


@pytest.mark.slow
def test_seed_snippet_feature_maps() -> None:
    # the seed's second snippet, verbatim but for the import
    model = BackboneModelRegistry.load_model(model_name=VIT_S, **{"out_indices": 2})
    outputs = model(torch.randn(1, 3, 224, 224))
    assert [tuple(o.shape) for o in outputs] == [(1, 384, 14, 14), (1, 384, 14, 14)]


@pytest.mark.slow
def test_seed_snippet_embedding() -> None:
    # The seed's first snippet passes out_indices=2 yet prints an embedding shape; its text says
    # the output "corresponds to the CLS embedding": that is the call without out_indices.
    model = BackboneModelRegistry.load_model(model_name=VIT_S)
    output = model(torch.randn(1, 3, 224, 224))
    assert output.shape == torch.Size([1, 384])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("value", "shapes"),
    [
        (1, [(1, 192, 14, 14)]),
        ((-2, -4), [(1, 192, 14, 14)] * 2),
        ("(-2, -4)", [(1, 192, 14, 14)] * 2),  # what OUT_INDICES gives through ${oc.env:...}
        ("[-1]", [(1, 192, 14, 14)]),
    ],
)
def test_out_indices_forms(value: object, shapes: list[tuple[int, ...]]) -> None:
    model = BackboneModelRegistry.load_model(
        "universal/vit_tiny_patch16_224_random", {"out_indices": value}
    )
    assert [tuple(o.shape) for o in model(torch.randn(1, 3, 224, 224))] == shapes


def test_model_kwargs_and_keywords_merge() -> None:
    model = BackboneModelRegistry.load_model(
        "universal/vit_tiny_patch16_224_random", {"out_indices": 3}, out_indices=1
    )
    assert len(model(torch.randn(1, 3, 224, 224))) == 1


def test_unknown_name_is_lookup_and_value_error() -> None:
    with pytest.raises(RegistryLookupError, match="vit_small_patch16_224_random") as info:
        BackboneModelRegistry.load_model("universal/vit_small_patch16_224_randm")
    assert isinstance(info.value, ValueError)  # what eva raised
    assert isinstance(info.value, ModelNotFoundError)


def test_timm_names_are_served() -> None:
    model = BackboneModelRegistry.load_model("timm/resnet18", pretrained=False)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 512)


class _Tiny(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(3, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.mean(dim=(2, 3)))


def test_register_model_in_process() -> None:
    @register_model("mine/tiny")
    def tiny(dim: int = 4) -> nn.Module:
        return _Tiny(dim)

    try:
        assert "mine/tiny" in BackboneModelRegistry.list_models()
        assert BackboneModelRegistry.get("mine/tiny") is tiny
        model = BackboneModelRegistry.load_model("mine/tiny", {"dim": 6})
        assert model(torch.randn(2, 3, 8, 8)).shape == (2, 6)
        wrapped = ModelFromRegistry("mine/tiny", model_kwargs={"dim": 3})
        assert wrapped(torch.randn(1, 3, 8, 8)).shape == (1, 3)
        with pytest.raises(UsageError, match="already registered"):
            register_model("mine/tiny")(tiny)
    finally:
        BackboneModelRegistry.unregister("mine/tiny")
    assert "mine/tiny" not in BackboneModelRegistry.list_models()
    with pytest.raises(RegistryLookupError):
        BackboneModelRegistry.unregister("mine/tiny")


def test_register_cannot_shadow_the_catalogue() -> None:
    with pytest.raises(UsageError, match=r"already registered.*catalogue"):
        register_model(VIT_S)(lambda: _Tiny(2))


@pytest.mark.slow
def test_model_from_registry_extra_kwargs_and_transforms() -> None:
    model = ModelFromRegistry(
        "universal/vit_tiny_patch16_224_random",
        model_kwargs={"out_indices": 2},
        model_extra_kwargs={"out_indices": 1},
        tensor_transforms=lambda maps: maps[0].mean(dim=(2, 3)),
    )
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 192)
    assert model.preprocess.size == (224, 224)


def test_tensor_transforms_and_transforms_are_one_argument() -> None:
    with pytest.raises(UsageError, match="not both"):
        ModelFromRegistry(VIT_S, tensor_transforms=abs, transforms=abs)
