"""zoo.transforms and zoo.loading.preprocess: the evaluation transform described by a manifest's input block."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
Image = pytest.importorskip("PIL.Image")

import zoo  # noqa: E402
from zoo.loading.preprocess import EvalTransform  # noqa: E402
from zoo.manifest import InputSpec  # noqa: E402


def _image(width: int, height: int, mode: str = "RGB"):
    g = torch.Generator().manual_seed(width * 1000 + height)
    channels = 1 if mode == "L" else 3
    data = torch.randint(0, 256, (height, width, channels), generator=g, dtype=torch.uint8)
    array = data.squeeze(-1).numpy() if mode == "L" else data.numpy()
    return Image.fromarray(array, mode=mode)


def _timm_transform(name: str):
    from timm.data import resolve_model_data_config
    from timm.data.transforms_factory import create_transform

    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, num_classes=0)
    return create_transform(**resolve_model_data_config(model), is_training=False)


@pytest.mark.usefixtures("with_timm_index")
@pytest.mark.parametrize(
    "name",
    [
        "resnet18.a1_in1k",  # crop_pct 0.95, bicubic
        "vit_small_patch16_224.dino",  # crop_pct 0.9
        "eva02_base_patch14_448.mim_in22k_ft_in22k_in1k",  # squash
        "convnext_tiny.fb_in22k",  # bicubic, 0.875
        "vit_base_patch16_clip_224.openai",  # clip mean/std
    ],
)
@pytest.mark.parametrize("size", [(300, 200), (200, 300), (224, 224), (97, 640)])
def test_matches_timm_eval_transform(name: str, size: tuple[int, int]) -> None:
    ours = zoo.transforms(f"timm/{name}")
    theirs = _timm_transform(name)
    img = _image(*size)
    torch.testing.assert_close(ours(img), theirs(img), rtol=0, atol=1e-6)


def test_border_mode_pads_with_the_mean() -> None:
    spec = InputSpec(size=(32, 32), mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], crop_mode="border")
    out = EvalTransform(spec)(_image(64, 16))  # wide image: scaled to 32x8, padded top and bottom
    assert out.shape == (3, 32, 32)
    # Padded rows hold round(255 * 0.5) = 128 -> (128/255 - 0.5) / 0.5, close to 0.
    assert out[:, 0].abs().max() < 0.01
    assert out[:, 16].abs().max() > 0.01


def test_zero_pad_fill_pads_black_as_medsiglip_pads_to_a_square() -> None:
    from torchvision import transforms as tv

    spec = InputSpec(
        size=(32, 32), mean=[0.5] * 3, std=[0.5] * 3, interpolation="bilinear",
        crop_mode="border", pad_fill="zero",
    )  # fmt: skip
    img = _image(64, 16)
    ours = EvalTransform(spec)(img)
    assert torch.equal(ours[:, 0], torch.full_like(ours[:, 0], -1.0))  # black, normalized
    assert "pad_fill='zero'" in repr(EvalTransform(spec))
    # Padding to a square first (CenterCrop to the longer side), then resizing, is the same up
    # to resampling at the border (crop_mode pad_square does that exactly: below).
    authors = tv.Compose(
        [
            tv.CenterCrop(max(img.size)),
            tv.Resize((32, 32), interpolation=tv.InterpolationMode.BILINEAR),
            tv.ToTensor(),
            tv.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )(img)
    assert (ours - authors).abs().mean() < 0.05
    assert ours.shape == authors.shape


def test_pad_fill_needs_border_mode() -> None:
    with pytest.raises(ValueError, match="pad_fill zero applies to crop_mode border or pad_squ"):
        InputSpec(size=(8, 8), mean=[0.5], std=[0.5], pad_fill="zero")


@pytest.mark.parametrize("fill", ["zero", "mean"])
@pytest.mark.parametrize("size", [(64, 16), (15, 40), (33, 33)])
def test_pad_square_pads_first_then_resizes_the_square(fill: str, size: tuple[int, int]) -> None:
    import numpy as np

    spec = InputSpec(
        size=(24, 24), mean=[0.5] * 3, std=[0.25] * 3, interpolation="bicubic",
        crop_mode="pad_square", pad_fill=fill,
    )  # fmt: skip
    img = _image(*size)
    w, h = img.size
    side = max(w, h)
    colour = (0, 0, 0) if fill == "zero" else (128, 128, 128)
    square = Image.new("RGB", (side, side), colour)
    square.paste(img, ((side - w) // 2, (side - h) // 2))  # the smaller half on top/left
    resized = np.asarray(square.resize((24, 24), Image.Resampling.BICUBIC), dtype=np.float32)
    expected = (torch.from_numpy(resized).permute(2, 0, 1) / 255 - 0.5) / 0.25
    torch.testing.assert_close(EvalTransform(spec)(img), expected, rtol=0, atol=1e-5)
    assert "crop_mode='pad_square', pad_fill=" in repr(EvalTransform(spec))


@pytest.mark.parametrize(
    ("changes", "match"),
    [({"size": (24, 32)}, "size must be square"), ({"crop_pct": 0.9}, "crop_pct 1.0")],
)
def test_pad_square_needs_a_square_size_and_no_crop(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        InputSpec(
            **{"size": (24, 24), "mean": [0.5], "std": [0.5], "crop_mode": "pad_square", **changes}
        )


def test_pad_square_counts_the_padded_pixels_against_the_limit() -> None:
    from zoo.errors import ImageSizeError

    spec = InputSpec(size=(24, 24), mean=[0.5], std=[0.5], crop_mode="pad_square")
    EvalTransform(spec).check_size(110, 11_000)  # 1.2 M pixels, padded: 121 M (under 134 M)
    with pytest.raises(ImageSizeError, match="pixels"):
        EvalTransform(spec).check_size(120, 12_000)  # padded: 144 M pixels


def test_non_square_center_keeps_the_aspect_ratio_and_crops() -> None:
    spec = InputSpec(size=(32, 48), mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], crop_pct=1.0)
    out = EvalTransform(spec)(_image(100, 100))
    assert out.shape == (3, 32, 48)


def test_grayscale_model_gets_one_channel_and_rgb_images_are_converted() -> None:
    spec = InputSpec(size=(16, 16), mean=[0.449], std=[0.226])
    assert EvalTransform(spec)(_image(20, 20)).shape == (1, 16, 16)
    rgb = InputSpec(size=(16, 16), mean=[0.5] * 3, std=[0.5] * 3)
    assert EvalTransform(rgb)(_image(20, 20, mode="L")).shape == (3, 16, 16)


def test_uint8_tensor_input_is_scaled_like_an_image() -> None:
    spec = InputSpec(
        size=(8, 8), mean=[0.0] * 3, std=[1.0] * 3, crop_pct=1.0, interpolation="nearest"
    )
    img = _image(8, 8)
    tensor = torch.from_numpy(__import__("numpy").array(img)).permute(2, 0, 1)
    torch.testing.assert_close(EvalTransform(spec)(tensor), EvalTransform(spec)(img))


def test_loaded_model_carries_its_preprocess() -> None:
    model = zoo.load("universal/vit_tiny_patch16_224_random", pretrained=False)
    x = model.preprocess(_image(300, 260)).unsqueeze(0)
    assert x.shape == (1, 3, 224, 224)
    assert model(x).shape == (1, 192)


def test_crop_offset_floor_starts_where_transformers_starts() -> None:
    # A 2x5 image cropped to 2x2: the margin is 3. torchvision (and timm) start at round(1.5)
    # = 2; transformers' image processors at 3 // 2 = 1.
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.arange(10, dtype=np.uint8).reshape(2, 5).repeat(3).reshape(2, 5, 3))
    base = {"size": (2, 2), "mean": [0.0] * 3, "std": [1 / 255] * 3}
    rounded = EvalTransform(InputSpec(**base))(img)[0]
    floored = EvalTransform(InputSpec(**base, crop_offset="floor"))(img)[0]
    assert rounded[0].tolist() == pytest.approx([2, 3], abs=1e-4)
    assert floored[0].tolist() == pytest.approx([1, 2], abs=1e-4)


def test_crop_offset_needs_center_mode() -> None:
    with pytest.raises(ValueError, match="crop_offset floor applies to crop_mode center only"):
        InputSpec(size=(8, 8), mean=[0.5], std=[0.5], crop_mode="squash", crop_offset="floor")


def test_resize_on_tensor_is_torchvision_v2s_resize_of_the_uint8_image() -> None:
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.transforms import v2

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8))
    base = {"size": (32, 32), "mean": [0.0] * 3, "std": [1.0] * 3, "interpolation": "bilinear"}
    authors = v2.Compose(
        [v2.ToImage(), v2.Resize(32), v2.CenterCrop(32), v2.ToDtype(torch.float32, scale=True)]
    )(img)
    on_tensor = EvalTransform(InputSpec(**base, resize_on="tensor"))(img)
    on_image = EvalTransform(InputSpec(**base))(img)
    authors = authors.as_subclass(torch.Tensor)
    torch.testing.assert_close(on_tensor, authors, rtol=0, atol=1e-6)
    # PIL's resize rounds some pixels the other way: one level apart.
    assert (on_image - authors).abs().max() > 0.5 / 255


def test_resize_on_takes_image_or_tensor_only() -> None:
    with pytest.raises(ValueError, match="resize_on"):
        InputSpec(size=(8, 8), mean=[0.5], std=[0.5], resize_on="gpu")  # type: ignore[arg-type]
