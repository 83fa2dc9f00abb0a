"""Vision-language image towers: transformers CLIP/SigLIP towers and the open_clip wrapper type,
each saved from a tiny model in tmp_path and loaded through a manifest, giving exactly the source
model's projected embedding, its unprojected pooled output and its block maps."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch

from tests.loading.loading_kit import Kit
from zoo.errors import (
    CheckpointMismatchError,
    ContractError,
    LoadError,
    MissingExtraError,
    UsageError,
)

VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 8,
}
TEXT = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "vocab_size": 64,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "pad_token_id": 1,
}
TEXT_PARTS = ["text_model.*", "text_projection.*", "logit_scale", "logit_bias"]


def _image_features(model: Any, x: torch.Tensor) -> torch.Tensor:
    """``get_image_features``: a tensor, or (transformers 5) an output whose pooler is the embedding."""
    out = model.get_image_features(pixel_values=x)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _output(pooling: str, dim: int, prefix: int = 1) -> dict[str, Any]:
    return {
        "embedding_dim": dim,
        "pooling": pooling,
        "prefix_tokens": prefix,
        "patch_size": 8,
        "feature_levels": 2,
        "feature_dim": 32,
    }


# -- transformers CLIP ---------------------------------------------------------------------------


@pytest.fixture
def clip(kit: Kit) -> Any:
    """A tiny full CLIPModel saved as <catalog>/testing/clip (what vinid/plip publishes)."""
    import transformers

    torch.manual_seed(0)
    config = transformers.CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=24)
    model = transformers.CLIPModel(config).eval()
    model.save_pretrained(kit.folder / "clip")
    return model


def _clip_manifest(kit: Kit, pooling: str, dim: int, **checkpoint: Any) -> dict[str, Any]:
    wrapper = {
        "type": "transformers",
        "model_class": "CLIPVisionModelWithProjection",
        "config": {"model_type": "clip_vision_model", **VISION, "projection_dim": 24},
    }
    ckpt = {"path": "clip", "remap": {"drop": TEXT_PARTS}, **checkpoint}
    return kit.manifest(wrapper, _output(pooling, dim), checkpoint=ckpt)


def test_clip_tower_out_of_a_full_clip_checkpoint(kit: Kit, clip: Any) -> None:
    x = kit.image()
    projected = kit.load(_clip_manifest(kit, "projection", 24))
    pooled = kit.load(_clip_manifest(kit, "pooler", 32))
    maps = kit.load(_clip_manifest(kit, "pooler", 32), out_indices=2)
    with torch.no_grad():
        torch.testing.assert_close(projected(x), _image_features(clip, x))
        want = clip.vision_model(pixel_values=x, output_hidden_states=True)
        torch.testing.assert_close(pooled(x), want.pooler_output)
        got = maps(x)
    for block, fmap in zip((1, 2), got, strict=True):
        tokens = want.hidden_states[block]
        torch.testing.assert_close(fmap, tokens[:, 1:].transpose(1, 2).reshape(2, 32, 4, 4))


def test_clip_tower_is_strict_about_the_text_half(kit: Kit, clip: Any) -> None:
    data = _clip_manifest(kit, "projection", 24)
    data["checkpoint"]["remap"]["drop"] = ["logit_scale"]
    with pytest.raises(CheckpointMismatchError, match="text_model"):
        kit.load(data)


def test_clip_tower_builds_on_meta_without_the_checkpoint(kit: Kit) -> None:
    model = kit.load(_clip_manifest(kit, "projection", 24), meta=True)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32, device="meta")).shape == (1, 24)


def test_projection_width_is_checked_against_the_built_projection(kit: Kit) -> None:
    with pytest.raises(ContractError, match=r"output\.embedding_dim declared 25, built 24"):
        kit.load(_clip_manifest(kit, "projection", 25), meta=True)


def test_projection_of_a_tower_without_one_is_refused(kit: Kit) -> None:
    data = _clip_manifest(kit, "projection", 24)
    data["wrapper"]["model_class"] = "CLIPVisionModel"
    model = kit.load(data, meta=True)
    with pytest.raises(ContractError, match="projected image embedding"):
        model(torch.zeros(1, 3, 32, 32, device="meta"))


# -- transformers SigLIP ---------------------------------------------------------------------------


def test_siglip_tower_has_no_class_token_and_pools_with_its_head(kit: Kit) -> None:
    import transformers

    torch.manual_seed(0)
    config = transformers.SiglipConfig(text_config=TEXT, vision_config=VISION)
    source = transformers.SiglipModel(config).eval()
    source.save_pretrained(kit.folder / "siglip")
    wrapper = {
        "type": "transformers",
        "model_class": "SiglipVisionModel",
        "config": {"model_type": "siglip_vision_model", **VISION},
    }
    ckpt = {"path": "siglip", "remap": {"drop": TEXT_PARTS}}
    data = kit.manifest(wrapper, _output("pooler", 32, prefix=0), checkpoint=ckpt)
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(kit.load(data)(x), _image_features(source, x))
        maps = kit.load(data, out_indices=1)(x)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4)]
    with pytest.raises(ContractError, match=r"output\.prefix_tokens declared 1, built 0"):
        kit.load(kit.manifest(wrapper, _output("pooler", 32), checkpoint=ckpt), meta=True)


# -- open_clip -----------------------------------------------------------------------------------------

OPEN_CLIP = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture
def open_clip_model(kit: Kit) -> Any:
    """A tiny open_clip CLIP saved as open_clip_pytorch_model.bin (what QuiltNet publishes)."""
    open_clip = pytest.importorskip("open_clip")
    torch.manual_seed(0)
    model = open_clip.CLIP(**OPEN_CLIP).eval()
    torch.save(model.state_dict(), kit.folder / "open_clip_pytorch_model.bin")
    return model


def _oc_manifest(
    kit: Kit, pooling: str, dim: int, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    ckpt = {"path": "open_clip_pytorch_model.bin", "format": "pickle", "key": "visual"}
    wrapper = {"type": "open_clip", "config": config or OPEN_CLIP}
    return kit.manifest(wrapper, _output(pooling, dim), checkpoint=ckpt)


def test_open_clip_tower_gives_encode_image_and_its_parts(kit: Kit, open_clip_model: Any) -> None:
    x = kit.image()
    visual = open_clip_model.visual
    with torch.no_grad():
        projected = kit.load(_oc_manifest(kit, "projection", 24))(x)
        pooled = kit.load(_oc_manifest(kit, "pooler", 32))(x)
        cls = kit.load(_oc_manifest(kit, "cls", 32))(x)
        maps = kit.load(_oc_manifest(kit, "cls", 32), out_indices=2)(x)
        torch.testing.assert_close(projected, open_clip_model.encode_image(x))
        torch.testing.assert_close(pooled @ visual.proj, projected)
        torch.testing.assert_close(cls, pooled)  # token pooling: the class token after ln_post
        want = visual.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    for got, expected in zip(maps, want["image_intermediates"], strict=True):
        torch.testing.assert_close(got, expected)


@pytest.mark.slow
def test_open_clip_tower_with_a_timm_trunk(kit: Kit) -> None:
    open_clip = pytest.importorskip("open_clip")
    config = {
        "embed_dim": 24,
        "vision_cfg": {
            "timm_model_name": "vit_tiny_patch16_224",
            "timm_pool": "",
            "timm_proj": "linear",
            "image_size": 224,
        },
        "text_cfg": OPEN_CLIP["text_cfg"],
    }
    torch.manual_seed(0)
    source = open_clip.CLIP(**config).eval()
    torch.save(source.state_dict(), kit.folder / "open_clip_pytorch_model.bin")
    data = _oc_manifest(kit, "projection", 24, config)
    data["input"]["size"] = [224, 224]
    data["output"].update(patch_size=16, feature_levels=12, feature_dim=192)
    x = kit.image(size=(224, 224))
    with torch.no_grad():
        torch.testing.assert_close(kit.load(data)(x), source.encode_image(x))
        data["output"].update(pooling="pooler", embedding_dim=192)
        torch.testing.assert_close(kit.load(data)(x), source.visual.trunk(x))


def test_open_clip_builds_on_meta_and_checks_its_projection(kit: Kit) -> None:
    pytest.importorskip("open_clip")
    model = kit.load(_oc_manifest(kit, "projection", 24), meta=True)
    assert model(torch.zeros(1, 3, 32, 32, device="meta")).shape == (1, 24)
    with pytest.raises(ContractError, match=r"output\.embedding_dim declared 512, built 24"):
        kit.load(_oc_manifest(kit, "projection", 512), meta=True)


@pytest.mark.parametrize(
    ("vision", "message"),
    [
        ({"layerz": 2}, "has no setting layerz"),
        ({"timm_model_name": "vit_tiny_patch16_224", "timm_model_pretrained": True}, "downloads"),
    ],
)
def test_open_clip_config_mistakes_are_usage_errors(
    kit: Kit, vision: dict[str, Any], message: str
) -> None:
    pytest.importorskip("open_clip")
    config = {**OPEN_CLIP, "vision_cfg": {**OPEN_CLIP["vision_cfg"], **vision}}
    with pytest.raises(UsageError, match=message.replace("downloads", "would download")):
        kit.load(_oc_manifest(kit, "pooler", 32, config), meta=True)


def test_open_clip_takes_only_img_size_as_override(kit: Kit) -> None:
    pytest.importorskip("open_clip")
    with pytest.raises(UsageError, match="only img_size"):
        kit.load(_oc_manifest(kit, "pooler", 32), meta=True, dynamic_img_size=True)
    model = kit.load(_oc_manifest(kit, "pooler", 32), meta=True, img_size=48)
    assert model(torch.zeros(1, 3, 48, 48, device="meta")).shape == (1, 32)


def test_open_clip_missing_is_one_error_naming_the_extra(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)  # as if the package were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'zoo-backbones\[open_clip\]'"):
        kit.load(_oc_manifest(kit, "pooler", 32), meta=True)


def test_open_clip_key_selects_the_image_tower_or_says_what_is_there(
    kit: Kit, open_clip_model: Any
) -> None:
    data = _oc_manifest(kit, "pooler", 32)
    data["checkpoint"]["key"] = "vision"
    with pytest.raises(LoadError, match="no key 'vision'"):
        kit.load(data)
