"""The output contract around a load: out_indices, register tokens, dtype, input sizes, overrides,
and the declared-vs-built check."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.loading.loading_kit import Kit, block_outputs, token_maps
from zoo.errors import ContractError, OutIndicesError, UsageError


@pytest.fixture
def deep(kit: Kit) -> tuple[dict[str, Any], torch.nn.Module]:
    """A 4-block tiny ViT with its weights saved, and its manifest."""
    source = kit.timm_source(depth=4)
    kit.save(source.state_dict(), kit.folder / "deep.safetensors")
    return kit.timm_manifest(kwargs={"depth": 4}, checkpoint={"path": "deep.safetensors"}), source


# -- out_indices -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out_indices", "blocks"),
    [
        (1, [3]),
        (2, [2, 3]),
        (4, [0, 1, 2, 3]),
        ((0, 2), [0, 2]),
        ((-1,), [3]),
        ((-2, -4), [2, 0]),  # in the order asked for, not sorted
        ((3, 0), [3, 0]),
        ([1, -1], [1, 3]),
        ("-2,-4", [2, 0]),
        ("(-2, -4)", [2, 0]),
        ("2", [2, 3]),
    ],
)
def test_out_indices_select_blocks_in_the_order_asked(
    kit: Kit, deep: tuple[dict[str, Any], torch.nn.Module], out_indices: Any, blocks: list[int]
) -> None:
    data, source = deep
    model = kit.load(data, out_indices=out_indices)
    x = kit.image()
    with torch.no_grad():
        maps = model(x)
    assert isinstance(maps, list)
    assert len(maps) == len(blocks)
    want = [token_maps(t, 1, (4, 4)) for t in block_outputs(source, x, blocks)]
    for got, expected in zip(maps, want, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("out_indices", "message"),
    [
        (5, r"valid: 1\.\.4"),
        (0, r"valid: 1\.\.4"),
        ((4,), r"4 out of range.*valid: -4\.\.3"),
        ((-5, 1), r"-5 out of range.*valid: -4\.\.3"),
        ((), "empty"),
    ],
)
def test_out_of_range_out_indices_name_the_valid_range(
    kit: Kit, deep: tuple[dict[str, Any], torch.nn.Module], out_indices: Any, message: str
) -> None:
    with pytest.raises(OutIndicesError, match=message) as info:
        kit.load(deep[0], out_indices=out_indices)
    assert isinstance(info.value, IndexError)


@pytest.mark.parametrize("out_indices", ["two", 1.5, (1, "a"), True])
def test_malformed_out_indices_are_usage_errors(
    kit: Kit, deep: tuple[dict[str, Any], torch.nn.Module], out_indices: Any
) -> None:
    with pytest.raises(UsageError, match="out_indices"):
        kit.load(deep[0], out_indices=out_indices)


def test_model_without_feature_levels_refuses_out_indices(kit: Kit) -> None:
    data = kit.timm_manifest()
    data["output"].update(feature_levels=0, feature_dim=None)
    with pytest.raises(OutIndicesError, match="no feature levels"):
        kit.load(data, out_indices=1)


# -- register tokens -------------------------------------------------------------------------------


def test_register_tokens_are_not_averaged_and_not_in_the_maps(kit: Kit) -> None:
    source = kit.timm_source(reg_tokens=4)
    assert source.num_prefix_tokens == 5
    kit.save(source.state_dict(), kit.folder / "reg.safetensors")
    data = kit.timm_manifest(
        kwargs={"reg_tokens": 4},
        pooling="cls+mean",
        prefix=5,
        checkpoint={"path": "reg.safetensors"},
    )
    x = kit.image()
    with torch.no_grad():
        tokens = source.forward_features(x)
        embedding = kit.load(data)(x)
        maps = kit.load(data, out_indices=(-1,))(x)
    assert tokens.shape == (2, 5 + 16, 32)
    torch.testing.assert_close(
        embedding, torch.cat([tokens[:, 0], tokens[:, 5:].mean(dim=1)], dim=-1), rtol=0, atol=0
    )
    wrong = torch.cat([tokens[:, 0], tokens[:, 1:].mean(dim=1)], dim=-1)  # registers averaged in
    assert not torch.allclose(embedding, wrong)
    assert maps[0].shape == (2, 32, 4, 4)
    (last,) = block_outputs(source, x, [1])
    torch.testing.assert_close(maps[0], token_maps(last, 5, (4, 4)), rtol=0, atol=0)


def test_declared_prefix_tokens_must_match_the_registers(kit: Kit) -> None:
    data = kit.timm_manifest(kwargs={"reg_tokens": 4}, pooling="cls+mean", prefix=1)
    with pytest.raises(ContractError, match="prefix_tokens declared 1, built 5"):
        kit.load(data)


def test_declared_embedding_dim_must_match_the_architecture(kit: Kit) -> None:
    data = kit.timm_manifest()
    data["output"].update(embedding_dim=64, feature_dim=64)
    with pytest.raises(ContractError, match="declared 64, built 32"):
        kit.load(data)


def test_more_feature_levels_than_blocks_is_a_contract_error(kit: Kit) -> None:
    data = kit.timm_manifest()
    data["output"]["feature_levels"] = 3
    with pytest.raises(ContractError, match="feature_levels declared 3, built 2 blocks"):
        kit.load(data)


# -- dtype -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["bfloat16", "bf16", torch.bfloat16])
def test_bfloat16_load_casts_params_and_input(kit: Kit, dtype: Any) -> None:
    source = kit.timm_source()
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    model = kit.load(kit.timm_manifest(checkpoint={"path": "tiny.safetensors"}), dtype=dtype)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.dtype == torch.bfloat16
    x = kit.image()
    with torch.no_grad():
        got = model(x)  # a float32 batch is cast to the model's dtype
        want = source.to(torch.bfloat16).forward_features(x.to(torch.bfloat16))[:, 0]
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, want)


def test_precision_default_of_the_manifest_is_used(kit: Kit) -> None:
    data = kit.timm_manifest(precision={"default": "bfloat16", "safe": ["bfloat16"]})
    model = kit.load(data)
    assert model.dtype == torch.bfloat16
    assert kit.load(data, dtype="float32").dtype == torch.float32


def test_unknown_dtype_is_a_usage_error(kit: Kit) -> None:
    with pytest.raises(UsageError, match="dtype 'int8'"):
        kit.load(kit.timm_manifest(), dtype="int8")


# -- input sizes -----------------------------------------------------------------------------------


def test_non_square_input_with_dynamic_size(kit: Kit) -> None:
    # 224x320 scaled down: 32x48 with 8x8 patches is a 4x6 grid.
    source = kit.timm_source(dynamic_img_size=True)
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    data = kit.timm_manifest(
        kwargs={"dynamic_img_size": True},
        checkpoint={"path": "tiny.safetensors"},
        dynamic_size=True,
    )
    x = kit.image(size=(32, 48))
    with torch.no_grad():
        embedding = kit.load(data)(x)
        maps = kit.load(data, out_indices=(0, 1))(x)
        want = source.forward_features(x)[:, 0]
    torch.testing.assert_close(embedding, want, rtol=0, atol=0)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 6)] * 2
    torch.testing.assert_close(
        maps[1], token_maps(block_outputs(source, x, [1])[0], 1, (4, 6)), rtol=0, atol=0
    )


def test_wrong_size_without_dynamic_size_is_a_usage_error(kit: Kit) -> None:
    model = kit.load(kit.timm_manifest())
    with pytest.raises(
        UsageError, match=r"input 32x48 but the model takes 32x32.*dynamic_size is false"
    ):
        model(kit.image(size=(32, 48)))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 36, 36), "not a multiple of the patch size 8"),
        ((2, 1, 32, 32), "expected 3 input channels"),
        ((3, 32, 32), r"\[B, C, H, W\]"),
    ],
)
def test_bad_input_shapes_are_usage_errors(kit: Kit, shape: tuple[int, ...], message: str) -> None:
    model = kit.load(kit.timm_manifest(dynamic_size=True, kwargs={"dynamic_img_size": True}))
    with pytest.raises(UsageError, match=message):
        model(torch.zeros(shape))


# -- overrides -------------------------------------------------------------------------------------


def test_img_size_and_dynamic_img_size_overrides(kit: Kit) -> None:
    source = kit.timm_source()
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    model = kit.load(
        kit.timm_manifest(checkpoint={"path": "tiny.safetensors"}),
        img_size=48,
        dynamic_img_size=True,
    )
    assert model.manifest.input.size == (48, 48)
    assert model.manifest.input.dynamic_size is True
    assert model.manifest.wrapper.kwargs["img_size"] == 48
    assert model.backbone.patch_embed.img_size == (48, 48)
    # The checkpoint's 4x4 position embedding was resampled to 6x6.
    assert model.backbone.pos_embed.shape == (1, 1 + 36, 32)
    torch.testing.assert_close(
        model.backbone.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight, rtol=0, atol=0
    )
    with torch.no_grad():
        assert model(kit.image(size=(48, 48))).shape == (2, 32)
        assert model(kit.image(size=(32, 40))).shape == (2, 32)


def test_unknown_timm_override_is_an_error(kit: Kit) -> None:
    with pytest.raises(UsageError, match="foo"):
        kit.load(kit.timm_manifest(), foo=1)


def test_unknown_transformers_override_is_an_error(kit: Kit) -> None:
    from tests.loading.loading_kit import hf_manifest

    with pytest.raises(UsageError, match="foo"):
        kit.load(hf_manifest(kit), foo=1)


def test_img_size_override_reaches_a_transformers_model(kit: Kit) -> None:
    from tests.loading.loading_kit import hf_manifest

    model = kit.load(hf_manifest(kit), img_size=48)
    assert model.manifest.input.size == (48, 48)
    assert model.backbone.config.image_size == 48


def test_unknown_function_override_is_an_error(kit: Kit) -> None:
    wrapper = {
        "type": "function",
        "path": "timm.models.create_model",
        "arguments": {
            "model_name": "vit_tiny_patch16_224",
            "num_classes": 0,
            "depth": 2,
            "embed_dim": 32,
            "num_heads": 2,
            "img_size": 32,
            "patch_size": 8,
        },
    }
    with pytest.raises(UsageError, match="foo"):
        kit.load(kit.manifest(wrapper, kit.vit_output()), foo=1)


def test_onnx_takes_no_overrides(kit: Kit) -> None:
    (kit.folder / "model.onnx").write_bytes(b"not read")
    data = kit.manifest(
        {"type": "onnx"}, kit.vit_output(levels=0), checkpoint={"path": "model.onnx"}
    )
    with pytest.raises(UsageError, match="onnx model takes no keyword overrides"):
        kit.load(data, img_size=64)


def test_override_that_makes_the_manifest_invalid_is_a_usage_error(kit: Kit) -> None:
    with pytest.raises(UsageError, match="invalid"):
        kit.load(kit.timm_manifest(), img_size=0)
