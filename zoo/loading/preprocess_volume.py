"""The evaluation transform a volume manifest's ``input:`` block describes, built from MONAI transforms.

reorient and resample (only for a MONAI ``MetaTensor``, which carries its affine)
-> clip the intensity window and scale it to its range -> per-channel mean/std ->
pad or crop to a size the network takes. A plain array or tensor has no affine, so
it is taken as already oriented and resampled to the declared spacing.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.errors import MissingExtraError, UsageError
from zoo.manifest import Manifest, VolumeInputSpec


def _transforms() -> Any:
    try:
        import monai.transforms as transforms
    except ImportError:
        raise MissingExtraError("monai", "monai", "volume preprocessing") from None
    return transforms


class VolumeTransform:
    """Callable evaluation transform: a volume ``[D, H, W]`` or ``[C, D, H, W]`` (tensor, NumPy
    array or MONAI ``MetaTensor``) in, a float32 tensor ``[C, D, H, W]`` the model takes out.

    Args:
        manifest: A manifest whose input is a volume.
    """

    def __init__(self, manifest: Manifest) -> None:
        spec = manifest.input
        if not isinstance(spec, VolumeInputSpec):
            raise UsageError(f"{manifest.name}: its input is an image, not a volume")
        grid = manifest.output.grid
        self.name = manifest.name
        self.spec = spec
        self.multiple = grid.multiple_of() if grid is not None else (1, 1, 1)
        t = _transforms()
        self._spatial = []
        if spec.orientation:
            # nibabel's axis letters (L->R, P->A, I->S), stated rather than left to MONAI's default
            labels = (("L", "R"), ("P", "A"), ("I", "S"))
            self._spatial.append(t.Orientation(axcodes=spec.orientation, labels=labels))
        if spec.spacing:
            self._spatial.append(t.Spacing(pixdim=spec.spacing, mode="bilinear"))
        steps: list[Any] = []
        if spec.intensity is not None:
            (a_min, a_max), (b_min, b_max) = spec.intensity.window, spec.intensity.range
            steps.append(
                t.ScaleIntensityRange(
                    a_min=a_min, a_max=a_max, b_min=b_min, b_max=b_max, clip=spec.intensity.clip
                )
            )
        if spec.mean is not None and spec.std is not None:
            steps.append(
                t.NormalizeIntensity(subtrahend=spec.mean, divisor=spec.std, channel_wise=True)
            )
        if spec.dynamic_size:
            steps.append(t.DivisiblePad(k=self.multiple))
        else:
            steps.append(t.ResizeWithPadOrCrop(spatial_size=spec.size))
        self._steps = steps

    def __repr__(self) -> str:
        s = self.spec
        size = f"pad to multiples of {list(self.multiple)}" if s.dynamic_size else f"{list(s.size)}"
        return (
            f"VolumeTransform(size={size}, spacing={s.spacing}, orientation={s.orientation!r}, "
            f"intensity={s.intensity.model_dump() if s.intensity else None}, mean={s.mean}, std={s.std})"
        )

    def __call__(self, volume: Any) -> torch.Tensor:
        meta = _is_meta_tensor(volume)
        x = volume if meta else torch.as_tensor(volume)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise UsageError(
                f"{self.name}: expected a volume [D, H, W] or [C, D, H, W], got shape {tuple(x.shape)}"
            )
        if x.shape[0] != self.spec.channels:
            raise UsageError(
                f"{self.name}: expected {self.spec.channels} channel(s), got {x.shape[0]} "
                "(channels first: [C, D, H, W])"
            )
        x = x.float()
        if meta:
            for step in self._spatial:
                x = step(x)
        for step in self._steps:
            x = step(x)
        out = x.as_tensor() if hasattr(x, "as_tensor") else x
        return out.contiguous().to(torch.float32)


def _is_meta_tensor(value: Any) -> bool:
    from monai.data import MetaTensor

    return isinstance(value, MetaTensor)
