"""The evaluation transform a manifest's ``input:`` block describes.

resize (by ``crop_mode``) -> center crop -> tensor in [0, 1] -> normalize, the same
steps and sizes as timm's evaluation transform for the same settings.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from zoo.errors import MissingExtraError
from zoo.manifest import InputSpec, Manifest, VolumeInputSpec


def _tvf() -> Any:
    try:
        import torchvision.transforms.functional as tvf
    except ImportError:
        raise MissingExtraError("torchvision", "timm", "preprocessing") from None
    return tvf


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
            f"{f'pad_fill={s.pad_fill!r}, ' if s.crop_mode == 'border' else ''}"
            f"interpolation={s.interpolation!r}, mean={s.mean}, std={s.std})"
        )

    def _resize(self, img: Any) -> Any:
        tvf = _tvf()
        mode = tvf.InterpolationMode(self.spec.interpolation)
        sh, sw = self.scale_size
        if self.spec.crop_mode == "squash":
            return tvf.resize(img, [sh, sw], interpolation=mode)
        if self.spec.crop_mode == "center" and sh == sw:
            return tvf.resize(img, sh, interpolation=mode)  # shortest edge
        h, w = tvf.get_dimensions(img)[1:]
        ratios = (h / sh, w / sw)
        # center keeps the shorter relative edge (crops), border the longer one (pads)
        ratio = max(ratios) if self.spec.crop_mode == "border" else min(ratios)
        return tvf.resize(img, [round(h / ratio), round(w / ratio)], interpolation=mode)

    def _crop(self, img: Any) -> Any:
        tvf = _tvf()
        if self.spec.crop_mode == "border":
            h, w = tvf.get_dimensions(img)[1:]
            th, tw = self.size
            if h < th or w < tw:
                fill = (
                    [round(255 * v) for v in self.spec.mean]
                    if not isinstance(img, torch.Tensor) and self.spec.pad_fill == "mean"
                    else 0
                )
                left, top = max(tw - w, 0) // 2, max(th - h, 0) // 2
                img = tvf.pad(
                    img, [left, top, max(tw - w, 0) - left, max(th - h, 0) - top], fill=fill
                )
        return tvf.center_crop(img, list(self.size))

    def __call__(self, img: Any) -> torch.Tensor:
        tvf = _tvf()
        if not isinstance(img, torch.Tensor) and hasattr(img, "convert"):
            wanted = "L" if self.spec.in_chans == 1 else "RGB"
            if img.mode != wanted:
                img = img.convert(wanted)
        img = self._crop(self._resize(img))
        if isinstance(img, torch.Tensor):
            tensor = img.float() / 255 if img.dtype == torch.uint8 else img.float()
        else:
            tensor = tvf.to_tensor(img)
        return tvf.normalize(tensor, mean=list(self.spec.mean), std=list(self.spec.std))


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
    return EvalTransform(manifest.input)
