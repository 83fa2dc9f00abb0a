"""A loaded model speaks timm: data config, num_features, forward_features/head/intermediates.

The catalogue-wide test builds every bundled entry on the meta device and checks that timm's
own recipe (``resolve_model_data_config`` + ``create_transform``) gives exactly
``zoo.transforms(name)`` on test images; tiny models check the feature API per wrapper type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from tests.conftest import catalog_names
from tests.loading.loading_kit import Kit, hf_manifest, hf_source
from zoo.loading.timm_cfg import PROVENANCE

timm = pytest.importorskip("timm")

#: Test images: landscape, portrait, square, odd sizes (smaller than every input size too).
SIZES = [(640, 480), (300, 500), (224, 224), (97, 211)]


def _images(chans: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    images = []
    for w, h in SIZES:
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        images.append(image.convert("L") if chans == 1 else image)
    return images


def _timm_transform(model: Any) -> Any:
    config = timm.data.resolve_model_data_config(model)
    return timm.data.create_transform(**config, is_training=False)


def _same_preprocessing(model: Any, reference: Any) -> None:
    timm_t = _timm_transform(model)
    spec = model.manifest.input
    for image in _images(spec.in_chans):
        got, want = timm_t(image), reference(image)
        if spec.crop_offset == "floor":
            # timm's centre crop rounds its start (README, timm users): one pixel from the
            # floored start where the half margin ends in .5; the rest must agree
            from zoo.loading.preprocess import EvalTransform

            want = EvalTransform(spec.model_copy(update={"crop_offset": "round"}))(image)
        assert got.shape == want.shape, (model.manifest.name, image.size)
        if spec.crop_mode == "pad_square" and image.width != image.height:
            # timm resizes, then pads (border); zoo pads to a square, then resizes (README, timm
            # users): the same only where nothing is padded
            continue
        if getattr(spec, "pad_fill", "mean") == "zero":
            got = _zero_padding(got, want, spec)
        # timm's recipe resizes the PIL image and cannot be told to resize the uint8 tensor
        # (README, timm users): with resize_on: tensor, pixels may differ by one level.
        level = 1.0001 / 255 / min(spec.std) if spec.resize_on == "tensor" else 0.0
        torch.testing.assert_close(got, want, atol=1e-6 + level, rtol=0)


def _zero_padding(got: torch.Tensor, want: torch.Tensor, spec: Any) -> torch.Tensor:
    """timm's recipe pads with the mean colour and cannot be told otherwise (README, timm
    users): where zoo's zero-padded output differs, it must be exactly timm's padding
    (mean rounded to a byte) against zoo's zero; those pixels are set to zoo's values."""
    mean = torch.tensor(spec.mean).view(-1, 1, 1)
    std = torch.tensor(spec.std).view(-1, 1, 1)
    timm_fill = ((mean * 255).round() / 255 - mean) / std
    zero = (0 - mean) / std
    differs = (got - want).abs() > 1e-6
    padded = ((got - timm_fill).abs() < 1e-6) & ((want - zero).abs() < 1e-6)
    assert bool((differs <= padded).all()), "zoo and timm differ beyond the padding"
    return torch.where(padded, want, got)


@pytest.mark.slow
@pytest.mark.parametrize("name", catalog_names())
def test_timm_recipe_gives_the_manifests_preprocessing(name: str) -> None:
    model = zoo.load(name, meta=True, trust_remote_code=True)
    if getattr(model.manifest.input, "kind", "image") == "volume":  # no 2-D recipe: see below
        _check_volume(model)
        return
    if getattr(model.manifest.input, "kind", "image") == "tiles":  # a slide encoder: no pixels
        with pytest.raises(zoo.errors.UsageError, match="takes tile features, not images"):
            zoo.transforms(name)
        assert model.pretrained_cfg["input_size"] == (model.manifest.input.feature_dim,)
        assert model.num_features == model.manifest.output.embedding_dim
        return
    _same_preprocessing(model, zoo.transforms(name))
    cfg = model.pretrained_cfg
    spec = model.manifest.input
    assert cfg["input_size"] == (spec.in_chans, *spec.size)
    assert (cfg["mean"], cfg["std"]) == (tuple(spec.mean), tuple(spec.std))
    assert model.default_cfg == cfg
    assert model.num_features == model.manifest.output.embedding_dim


@pytest.mark.parametrize(
    "spec",
    [
        {"crop_mode": "border", "size": [32, 48], "crop_pct": 0.9},
        {"crop_mode": "border", "size": [48, 48]},
        {"crop_mode": "squash", "size": [40, 32], "crop_pct": 0.875},
        {"crop_mode": "squash", "size": [32, 32]},
        {"crop_mode": "center", "size": [32, 48], "crop_pct": 0.95},
        {"crop_mode": "center", "size": [48, 48], "crop_pct": 0.875, "interpolation": "bilinear"},
        {"size": [32, 32], "interpolation": "nearest", "mean": [0.5], "std": [0.25]},
    ],
    ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()),
)
def test_every_crop_mode_and_shape_agrees_with_timm(kit: Kit, spec: dict[str, Any]) -> None:
    data = kit.timm_manifest(kwargs={"dynamic_img_size": True})
    data["input"].update(spec, dynamic_size=True)
    if len(data["input"]["mean"]) == 1:
        data["wrapper"]["kwargs"]["in_chans"] = 1
    model = kit.load(data, meta=True)
    _same_preprocessing(model, zoo.transforms(model.manifest))


@pytest.mark.parametrize("name", ["radiology/ct_fm", "radiology/segresnet_encoder"])
def test_a_volume_tells_its_size_and_no_2d_crop(name: str) -> None:
    _check_volume(zoo.load(name, meta=True, trust_remote_code=True))


def _check_volume(model: Any) -> None:
    spec = model.manifest.input
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (spec.in_chans, *spec.size)  # (C, D, H, W)
    assert "crop_pct" not in cfg
    assert "interpolation" not in cfg
    assert cfg["num_classes"] == 0


def test_inner_timm_model_tells_the_same_truth() -> None:
    model = zoo.load("pathology/kaiko_vits16", pretrained=False)
    inner = model.backbone.pretrained_cfg
    # timm itself would say augreg_in21k_ft_in1k, ImageNet statistics, bicubic, crop 0.9.
    assert inner["tag"] is None
    assert inner.get("hf_hub_id") is None
    assert inner["url"] == model.manifest.checkpoint.url
    assert (inner["mean"], inner["std"]) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert (inner["interpolation"], inner["crop_pct"]) == ("bilinear", 1.0)
    assert inner["first_conv"] == "patch_embed.proj"  # architecture facts are kept
    assert model.backbone.default_cfg == inner
    assert timm.data.resolve_model_data_config(model.backbone) == (
        timm.data.resolve_model_data_config(model)
    )


def test_a_timm_tag_keeps_timms_record_of_where_it_lives() -> None:
    name = "universal/eva02_tiny_patch14_336.mim_in22k_ft_in1k"
    model = zoo.load(name, pretrained=False)
    cfg = model.backbone.pretrained_cfg
    assert cfg["tag"] == "mim_in22k_ft_in1k"
    assert cfg["hf_hub_id"] == "timm/eva02_tiny_patch14_336.mim_in22k_ft_in1k"
    assert cfg["crop_mode"] == model.manifest.input.crop_mode
    assert set(PROVENANCE) & {k for k, v in model.pretrained_cfg.items() if v is not None} <= {
        "tag",
        "hf_hub_id",
        "license",
        "description",
    }


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls+mean"])
def test_forward_head_of_forward_features_is_the_embedding(kit: Kit, pooling: str) -> None:
    model = kit.load(kit.timm_manifest(pooling=pooling), pretrained=False)
    x = kit.image()
    with torch.no_grad():
        features = model.forward_features(x)
        torch.testing.assert_close(features, model.backbone.forward_features(x))
        for pre_logits in (True, False):  # no classifier: the same either way
            torch.testing.assert_close(
                model.forward_head(features, pre_logits=pre_logits), model(x)
            )
    assert model.num_features == model.head_hidden_size == model(x).shape[1]


def test_pooler_head_is_timms_own(kit: Kit) -> None:
    data = kit.timm_manifest(pooling="cls")
    data["output"]["pooling"] = "pooler"
    model = kit.load(data, pretrained=False)
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(model.forward_features(x)), model(x))


def test_forward_intermediates_passes_through(kit: Kit) -> None:
    model = kit.load(kit.timm_manifest(), pretrained=False)
    x = kit.image()
    with torch.no_grad():
        got = model.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
        want = model.backbone.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(zoo.errors.UsageError, match="but the model takes 32x32"):
        model.forward_intermediates(kit.image(size=(36, 36)))  # the input is checked first


def test_transformers_model_has_features_and_head_but_no_intermediates(
    kit: Kit, tmp_path: Path
) -> None:
    hf_source(tmp_path / "vit")
    model = kit.load(hf_manifest(kit, checkpoint={"path": str(tmp_path / "vit")}))
    assert model.timm_methods() == {
        "forward_features": None,
        "forward_head": None,
        "forward_intermediates": "ViTModel has no forward_intermediates (use out_indices)",
    }
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(model.forward_features(x)), model(x))
    assert not hasattr(model, "forward_intermediates")
    with pytest.raises(AttributeError, match="testing/tiny\\) has no forward_intermediates"):
        _ = model.forward_intermediates


def test_pooling_none_has_no_head(kit: Kit) -> None:
    data = kit.timm_manifest()
    data["output"] = {"embedding_dim": 32, "pooling": "none"}
    model = kit.load(data, pretrained=False)
    assert not hasattr(model, "forward_head")
    with pytest.raises(AttributeError, match="pooling is none"):
        _ = model.forward_head
    assert hasattr(model, "forward_features")


def test_seed_003_timm_card_recipe_on_a_zoo_model() -> None:
    # The embedding recipe of timm's EVA model card (shared/seeds/003), with zoo.load in place of
    # timm.create_model(..., pretrained=True, num_classes=0); a generated image in place of the
    # card's download. A small EVA-02 entry keeps the test fast; the recipe is the card's.
    model = zoo.load("universal/eva02_tiny_patch14_336.mim_in22k_ft_in1k", pretrained=False)
    model = model.eval()
    img = _images(3)[0]

    # get model specific transforms (normalization, resize)
    data_config = timm.data.resolve_model_data_config(model)
    transforms = timm.data.create_transform(**data_config, is_training=False)

    with torch.no_grad():
        output = model(transforms(img).unsqueeze(0))  # (batch_size, num_features)
        assert output.shape == (1, model.num_features)
        features = model.forward_features(transforms(img).unsqueeze(0))
        assert features.shape == (1, 1 + 24 * 24, 192)  # unpooled tokens
        pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (1, model.num_features)
    torch.testing.assert_close(pooled, output)
    torch.testing.assert_close(
        transforms(img), zoo.transforms(model.manifest)(img), atol=1e-6, rtol=0
    )
