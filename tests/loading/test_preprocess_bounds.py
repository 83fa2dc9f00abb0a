"""The image transform's bounds and scaling: a strip or a huge image is refused before any
resize (a 60 KB 20000x1 PNG once cost 5.9 GB), and 16-bit and float images are scaled as their
type says instead of clipped to near-white or black."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

from zoo.loading.preprocess import (  # noqa: E402
    MAX_ASPECT,
    MAX_PIXELS,
    EvalTransform,
    ImageSizeError,
    ImageValueError,
)
from zoo.manifest import InputSpec  # noqa: E402

PLAIN = {"mean": [0.0], "std": [1.0], "crop_pct": 1.0}


def _center(size: int = 224) -> EvalTransform:
    return EvalTransform(InputSpec(size=(size, size), mean=[0.5] * 3, std=[0.5] * 3))


@pytest.mark.parametrize(("width", "height"), [(1000, 1), (1, 1000), (20000, 1)])
def test_a_strip_is_refused_before_any_resize(tmp_path: Path, width: int, height: int) -> None:
    # resized to 224 on its short side, 1000x1 would be 224x224000 pixels (150 MB) and 20000x1
    # 224x4.5 million (3 GB): the error must come first
    file = tmp_path / "strip.png"
    Image.fromarray(np.full((height, width), 128, dtype=np.uint8)).save(file)
    with (
        Image.open(file) as img,
        pytest.raises(ImageSizeError, match=f"more than {MAX_ASPECT} times"),
    ):
        _center()(img)


def test_the_largest_allowed_aspect_is_embedded() -> None:
    img = Image.fromarray(np.full((2, 2 * MAX_ASPECT), 9, dtype=np.uint8))
    assert _center(16)(img).shape == (3, 16, 16)


def test_the_pixel_budget_holds_before_and_after_the_resize() -> None:
    transform = _center()
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(ImageSizeError, match="pixels; tile it first"):
        transform.check_size(side, side)  # sizes only: nothing is allocated
    transform.check_size(side // 2, side // 2)
    big = EvalTransform(InputSpec(size=(8000, 8000), mean=[0.5] * 3, std=[0.5] * 3))
    with pytest.raises(ImageSizeError, match=r"resized: 400000x8000"):
        big.check_size(50, 2500)  # 2500x50, resized to 8000 on its short side


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    file = tmp_path / "gray16.png"
    pixels = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16).repeat(4, axis=0)
    Image.fromarray(pixels).save(file)
    spec = InputSpec(size=(4, 4), interpolation="nearest", **PLAIN)
    with Image.open(file) as img:
        assert img.mode.startswith("I")
        out = EvalTransform(spec)(img)
    # PIL's convert("L") clips: every value above 255 becomes white (1.0)
    torch.testing.assert_close(out[0, 0], torch.tensor([0, 64, 128, 255]) / 255)


def test_float_tiff_in_zero_one_is_kept(tmp_path: Path) -> None:
    file = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.25, 0.5, 1.0]] * 4, dtype=np.float32)).save(file)
    spec = InputSpec(size=(4, 4), interpolation="nearest", **PLAIN)
    with Image.open(file) as img:
        assert img.mode == "F"
        out = EvalTransform(spec)(img)
    torch.testing.assert_close(out[0, 0], torch.tensor([0, 64, 128, 255]) / 255)  # not all black


@pytest.mark.parametrize(
    ("values", "message"),
    [([0.0, 3.5], r"float pixels from 0 to 3.5, not in \[0, 1\]"), ([0.0, np.nan], "NaN")],
)
def test_other_float_images_are_refused(tmp_path: Path, values: list[float], message: str) -> None:
    file = tmp_path / "float.tif"
    Image.fromarray(np.array([values] * 2, dtype=np.float32)).save(file)
    with Image.open(file) as img, pytest.raises(ImageValueError, match=message):
        _center(4)(img)


def test_eight_bit_images_are_unchanged() -> None:
    spec = InputSpec(size=(2, 2), interpolation="nearest", **PLAIN)
    img = Image.fromarray(np.array([[0, 255], [64, 128]], dtype=np.uint8))
    torch.testing.assert_close(
        EvalTransform(spec)(img)[0], torch.tensor([[0, 255], [64, 128]]) / 255
    )
