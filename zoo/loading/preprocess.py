"""The evaluation transform a manifest's ``input:`` block describes.

resize (by ``crop_mode``) -> center crop -> tensor in [0, 1] -> normalize, the same
steps and sizes as timm's evaluation transform for the same settings. Before any resize an
image is checked against :data:`MAX_ASPECT` and :data:`MAX_PIXELS` (:class:`ImageSizeError`),
and 16-bit and float images are scaled to 8 bits as their type says (:func:`to_8bit`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ImageSizeError, ImageValueError, UsageError, require
from zoo.manifest import InputSpec, Manifest, VolumeInputSpec


def _tvf() -> Any:
    return require(
        "torchvision.transforms.functional",
        package="torchvision",
        extra="timm",
        purpose="preprocessing",
    )


#: The longest side of an image may be at most this many times its shortest (a 20000x1 strip,
#: resized to 224 on its short side, would be 224 x 4.5 million pixels).
MAX_ASPECT = 100
#: Pixels an image may have, before and after its resize (checked before either happens).
MAX_PIXELS = 1 << 27


class EvalTransform:
    """Callable evaluation transform: a PIL image (or a ``[C, H, W]`` tensor) in, a normalized tensor out.

    Args:
        spec: The manifest's input block.
    """

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.size = (int(spec.size[0]), int(spec.size[1]))
        self.scale_size = tuple(math.floor(s / spec.crop_pct) for s in self.size)

    def __repr__(self) -> str:
        s = self.spec
        return (
            f"EvalTransform(size={self.size}, resize={self.scale_size}, crop_mode={s.crop_mode!r}, "
            f"{f'pad_fill={s.pad_fill!r}, ' if s.crop_mode in ('border', 'pad_square') else ''}"
            f"interpolation={s.interpolation!r}, mean={s.mean}, std={s.std})"
        )

    def resized_size(self, h: int, w: int) -> tuple[int, int]:
        """The size ``(h, w)`` an image of ``h x w`` has after the resize, before the crop."""
        sh, sw = self.scale_size
        if self.spec.crop_mode in ("squash", "pad_square"):
            return sh, sw
        if self.spec.crop_mode == "center" and sh == sw:  # shortest edge, as torchvision does
            short, long = (h, w) if h <= w else (w, h)
            other = int(sh * long / short)
            return (sh, other) if h <= w else (other, sh)
        ratios = (h / sh, w / sw)
        # center keeps the shorter relative edge (crops), border the longer one (pads)
        ratio = max(ratios) if self.spec.crop_mode == "border" else min(ratios)
        return round(h / ratio), round(w / ratio)

    def check_size(self, h: int, w: int) -> None:
        """Refuse an image whose resize would be out of bounds, before any pixel is resized.

        Raises:
            ImageSizeError: Empty, more than :data:`MAX_ASPECT` times longer than wide (or the
                reverse), or more than :data:`MAX_PIXELS` pixels before or after the resize.
        """
        if h < 1 or w < 1:
            raise ImageSizeError(f"the image is empty ({w}x{h})")
        if max(h, w) > MAX_ASPECT * min(h, w):
            raise ImageSizeError(
                f"the image is {w}x{h}, more than {MAX_ASPECT} times longer than wide or the "
                "reverse; zoo does not embed such strips (crop or tile them first)"
            )
        rh, rw = self.resized_size(h, w)
        padded = max(h, w) ** 2 if self.spec.crop_mode == "pad_square" else h * w
        if max(padded, rh * rw) > MAX_PIXELS:
            raise ImageSizeError(
                f"the image is {w}x{h} (resized: {rw}x{rh}), more than {MAX_PIXELS} pixels; "
                "tile it first"
            )

    def _resize(self, img: Any) -> Any:
        tvf = _tvf()
        mode = tvf.InterpolationMode(self.spec.interpolation)
        h, w = tvf.get_dimensions(img)[1:]
        self.check_size(h, w)
        if self.spec.crop_mode == "pad_square":  # pad to a square first, then resize the square
            img = self._pad(img, max(h, w), max(h, w))
            h = w = max(h, w)
        if self.spec.resize_on == "tensor" and not isinstance(img, torch.Tensor):
            # torchvision v2's pipelines (ToImage, then Resize): the uint8 tensor is resized,
            # antialiased, with the tensor kernel (a few pixels differ from PIL's by one level).
            v2 = require(
                "torchvision.transforms.v2.functional",
                package="torchvision",
                extra="timm",
                purpose="preprocessing",
            )
            return v2.resize(
                v2.pil_to_tensor(img),
                list(self.resized_size(h, w)),
                interpolation=mode,
                antialias=True,
            )
        return tvf.resize(img, list(self.resized_size(h, w)), interpolation=mode)

    def _pad(self, img: Any, th: int, tw: int) -> Any:
        """``img`` padded to at least ``th x tw`` with ``pad_fill``, the smaller half of each
        margin on top/left (as timm's border mode and MedSigLIP's serving code place it)."""
        tvf = _tvf()
        h, w = tvf.get_dimensions(img)[1:]
        if h >= th and w >= tw:
            return img
        fill = (
            [round(255 * v) for v in self.spec.mean]
            if not isinstance(img, torch.Tensor) and self.spec.pad_fill == "mean"
            else 0
        )
        left, top = max(tw - w, 0) // 2, max(th - h, 0) // 2
        return tvf.pad(img, [left, top, max(tw - w, 0) - left, max(th - h, 0) - top], fill=fill)

    def _crop(self, img: Any) -> Any:
        tvf = _tvf()
        if self.spec.crop_mode == "border":
            img = self._pad(img, *self.size)
        if self.spec.crop_offset == "floor" and self.spec.crop_mode == "center":
            # transformers' image processors: top = (height - crop) // 2 (torchvision rounds).
            h, w = tvf.get_dimensions(img)[1:]
            th, tw = self.size
            if h >= th and w >= tw:
                return tvf.crop(img, (h - th) // 2, (w - tw) // 2, th, tw)
        return tvf.center_crop(img, list(self.size))

    def __call__(self, img: Any) -> torch.Tensor:
        tvf = _tvf()
        if not isinstance(img, torch.Tensor) and hasattr(img, "convert"):
            wanted = "L" if self.spec.in_chans == 1 else "RGB"
            self.check_size(img.height, img.width)
            img = to_8bit(img)
            if img.mode != wanted:
                img = img.convert(wanted)
        img = self._crop(self._resize(img))
        if isinstance(img, torch.Tensor):
            tensor = img.float() / 255 if img.dtype == torch.uint8 else img.float()
        else:
            tensor = tvf.to_tensor(img)
        return tvf.normalize(tensor, mean=list(self.spec.mean), std=list(self.spec.std))


def to_8bit(img: Any) -> Any:
    """A PIL image of 16-bit or float pixels as 8-bit (``L``), scaled as its type says: 16-bit
    values divided by 65535, floats taken as [0, 1]; other images unchanged. (PIL's own
    ``convert`` clips them to 0..255 instead: near-white 16-bit images, black float ones.)

    Raises:
        ImageValueError: Float pixels outside [0, 1] (or NaN), or 32-bit integers beyond
            0..65535: zoo does not guess their scaling.
    """
    import numpy as np
    from PIL import Image

    if img.mode.startswith("I;16"):
        pixels = np.asarray(img).astype(np.float64) / 65535
    elif img.mode == "I":
        pixels = np.asarray(img, dtype=np.int64)
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise ImageValueError(
                f"32-bit integer pixels from {pixels.min()} to {pixels.max()}, not 16-bit "
                "(0..65535); zoo does not guess their scaling: convert the image to 8 or 16 bits"
            )
        pixels = pixels / 65535
    elif img.mode == "F":
        pixels = np.asarray(img, dtype=np.float64)
        if not np.isfinite(pixels).all():
            raise ImageValueError("float pixels holding NaN or inf")
        if pixels.size and (pixels.min() < 0 or pixels.max() > 1):
            raise ImageValueError(
                f"float pixels from {pixels.min():g} to {pixels.max():g}, not in [0, 1]; zoo does "
                "not guess their scaling: scale the image to [0, 1] or convert it to 8 bits"
            )
    else:
        return img
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8), mode="L")


def transforms(name_or_manifest: str | Path | Manifest) -> Any:
    """The evaluation transform of a model, by name, manifest file or manifest object: an
    :class:`EvalTransform` for images, a :class:`~zoo.loading.preprocess_volume.VolumeTransform`
    for volumes."""
    if isinstance(name_or_manifest, Manifest):
        manifest = name_or_manifest
    else:
        from zoo.catalog.reader import Catalog

        manifest = Catalog().resolve(name_or_manifest)
    if isinstance(manifest.input, VolumeInputSpec):
        from zoo.loading.preprocess_volume import VolumeTransform

        return VolumeTransform(manifest)
    if not isinstance(manifest.input, InputSpec):
        raise UsageError(
            f"{manifest.name} is a slide encoder: it takes tile features, not images, so it has no "
            f"preprocessing; the tiles are prepared by {' or '.join(manifest.pairs_with)}"
        )
    return EvalTransform(manifest.input)
