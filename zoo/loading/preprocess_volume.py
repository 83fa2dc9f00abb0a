"""The evaluation transform a volume manifest's ``input:`` block describes, built from MONAI transforms.

reorient and resample (only for a MONAI ``MetaTensor``, which carries its affine)
-> clip the intensity window and scale it to its range -> per-channel mean/std ->
pad or crop to a size the network takes. A plain array or tensor has no affine, so
it is taken as already oriented and resampled to the declared spacing. The resampled size
is computed first and bounded (:data:`MAX_VOXELS`), so that a header with a shear or a
huge spacing is one error, not gigabytes allocated; a volume holding NaN is refused.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from zoo.errors import UsageError, VolumeSizeError, VolumeValueError, require
from zoo.manifest import Manifest, VolumeInputSpec

#: Voxels (times channels) a volume may have, as stored and once resampled: 1 GiB of float32.
MAX_VOXELS = 1 << 28


def _transforms() -> Any:
    return require(
        "monai.transforms", package="monai", extra="monai", purpose="volume preprocessing"
    )


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
        self._spatial = self._spatial_steps(lazy=False)
        # the same steps, lazy: they compute the resampled shape and allocate nothing
        self._shape_only = self._spatial_steps(lazy=True)
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

    def _spatial_steps(self, lazy: bool) -> list[Any]:
        t, spec = _transforms(), self.spec
        steps = []
        if spec.orientation:
            # nibabel's axis letters (L->R, P->A, I->S), stated rather than left to MONAI's default
            labels = (("L", "R"), ("P", "A"), ("I", "S"))
            steps.append(t.Orientation(axcodes=spec.orientation, labels=labels, lazy=lazy))
        if spec.spacing:
            steps.append(t.Spacing(pixdim=spec.spacing, mode="bilinear", lazy=lazy))
        return steps

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
        if meta and self._spatial:
            self._check_resampled(x)
        x = x.float()
        if not bool(torch.isfinite(x).all()):
            raise VolumeValueError(f"{_named(x)}holds NaN or inf values; zoo embeds finite volumes")
        if meta:
            for step in self._spatial:
                x = step(x)
        for step in self._steps:
            x = step(x)
        out = x.as_tensor() if hasattr(x, "as_tensor") else x
        return out.contiguous().to(torch.float32)

    def _check_resampled(self, x: Any) -> None:
        """Refuse a volume whose reorientation and resampling would exceed :data:`MAX_VOXELS`,
        from MONAI's own lazy computation of the output shape (nothing resampled or allocated).

        Raises:
            VolumeSizeError: The resampled volume is too large (a sheared affine, a huge spacing).
        """
        shape = tuple(int(s) for s in x.shape[1:])
        if math.prod(shape) * x.shape[0] > MAX_VOXELS:
            raise VolumeSizeError(
                f"{_named(x)}is {'x'.join(map(str, shape))} voxels, more than {MAX_VOXELS}"
            )
        pending = x
        for step in self._shape_only:
            pending = step(pending)
        out = tuple(int(s) for s in pending.peek_pending_shape())
        if math.prod(out) * x.shape[0] > MAX_VOXELS:
            raise VolumeSizeError(
                f"{_named(x)}would be {'x'.join(map(str, out))} voxels once resampled to spacing "
                f"{list(self.spec.spacing or [])} (from {'x'.join(map(str, shape))}), more than "
                f"{MAX_VOXELS}: its header's affine (a shear, a huge spacing) is not a volume's; "
                "fix the header or resample the file yourself"
            )


def _named(x: Any) -> str:
    """``"<file>: "`` for a volume read from a file (its MetaTensor says which), else ``"the volume "``."""
    meta = getattr(x, "meta", None)
    name = meta.get("filename_or_obj") if isinstance(meta, dict) else None
    return f"{name}: the volume " if isinstance(name, str) and name else "the volume "


def _is_meta_tensor(value: Any) -> bool:
    from monai.data import MetaTensor

    return isinstance(value, MetaTensor)
