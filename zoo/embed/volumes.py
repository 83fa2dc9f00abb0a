"""``zoo embed`` on volumes: NIfTI (``.nii``, ``.nii.gz``) and NumPy (``.npy``) files for a 3-D
encoder, through its ``model.preprocess`` (the manifest's volume transform).

A NIfTI file is read with nibabel into a MONAI ``MetaTensor`` that carries the file's affine,
so the manifest's reorientation (``input.orientation``) and resampling (``input.spacing``)
apply. A ``.npy`` array carries no affine: it is taken as already in the model's orientation
and spacing, and only the intensity, mean/std and size steps apply. Both are ``[D, H, W]``
(one channel) or channels first, ``[C, D, H, W]``; a 4-D NIfTI file keeps its channels on its
fourth axis, as NIfTI does, and is read channels first.

Volumes of one run may differ in size (a dynamic-size encoder pads each to its size
multiple): a batch then runs one model call per shape. Feature maps (``out_indices``) must
share one shape per level, so they are taken at the manifest's ``input.size``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.embed.images import ImageList, suffix
from zoo.errors import require
from zoo.loading.preprocess_volume import MAX_VOXELS, VolumeSizeError
from zoo.manifest import Manifest, VolumeInputSpec

NIFTI = (".nii", ".nii.gz")


def nibabel() -> Any:
    """nibabel, which reads NIfTI files (the ``monai`` extra).

    Raises:
        MissingExtraError: It is not installed.
    """
    return require("nibabel", package="nibabel", extra="monai", purpose="reading NIfTI volumes")


def read_volume(path: Path) -> Any:
    """One volume file: a ``MetaTensor`` ``[C, D, H, W]`` with its affine (NIfTI), or the array
    as stored (``.npy``, read without pickles).

    Raises:
        ValueError: The file is no volume of numbers with 3 or 4 axes.
        VolumeSizeError: Its header claims more than ``MAX_VOXELS`` voxels (nothing read).
        OSError: It cannot be read.
    """
    kind = suffix(path.name)
    if kind == ".npy":
        array = np.load(path, allow_pickle=False)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"a .npy volume holds numbers, not {array.dtype}")
        return array
    if kind not in NIFTI:
        raise ValueError(f"{path.name}: zoo embed reads volumes from .nii, .nii.gz and .npy files")
    from monai.data import MetaTensor

    image = nibabel().load(str(path))
    if math.prod(image.shape) > MAX_VOXELS:  # from the header: before any voxel is read
        raise VolumeSizeError(
            f"{path}: the volume is {'x'.join(map(str, image.shape))} voxels, more than "
            f"{MAX_VOXELS}"
        )
    data = np.asarray(image.get_fdata(dtype=np.float32))
    if data.ndim == 3:
        data = data[None]
    elif data.ndim == 4:
        data = np.moveaxis(data, -1, 0)  # NIfTI keeps channels (or time) on its fourth axis
    else:
        raise ValueError(
            f"a NIfTI volume has 3 axes (or 4 with channels), this one has {data.ndim}: "
            f"shape {tuple(data.shape)}"
        )
    affine = torch.as_tensor(np.asarray(image.affine), dtype=torch.float64)
    meta = {"filename_or_obj": str(path)}  # errors of the transform name the file
    return MetaTensor(torch.from_numpy(np.ascontiguousarray(data)), affine=affine, meta=meta)


class VolumeDataset(torch.utils.data.Dataset):
    """Volumes through the model's volume transform; a bad file yields its error, not an exception."""

    def __init__(self, volumes: ImageList, transform: Any) -> None:
        self.volumes = volumes
        self.transform = transform

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        index = int(index)
        try:
            return index, self.transform(read_volume(self.volumes.file(index))), None
        except Exception as exc:  # any unreadable file is reported and skipped, never fatal
            return index, None, f"{type(exc).__name__}: {exc}"


def is_volume_model(manifest: Manifest) -> bool:
    """Whether the model takes volumes ``[B, C, D, H, W]``."""
    return isinstance(manifest.input, VolumeInputSpec)


def maps_at_input_size(manifest: Manifest, feature_maps: bool) -> bool:
    """Feature maps of a dynamic-size 3-D encoder: taken at the manifest's ``input.size``, so
    that every row of a level has one shape."""
    spec = manifest.input
    return feature_maps and isinstance(spec, VolumeInputSpec) and spec.dynamic_size


def transform_for(model: Any, feature_maps: bool) -> Any:
    """The transform a run applies: the model's own, or for :func:`maps_at_input_size` the
    same steps padding or centre-cropping to ``input.size`` instead of to a size multiple."""
    manifest = model.manifest
    if not maps_at_input_size(manifest, feature_maps):
        return model.preprocess
    from zoo.loading.preprocess_volume import VolumeTransform

    fixed = manifest.input.model_copy(update={"dynamic_size": False})
    return VolumeTransform(manifest.model_copy(update={"input": fixed}))


def forward(model: Any, batch: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    """The model's output levels for a batch: one call for a stacked batch, one call per shape
    for a list of differently sized volumes (rows in the batch's order)."""
    if isinstance(batch, torch.Tensor):
        out = model(batch)
        return list(out) if isinstance(out, (list, tuple)) else [out]
    groups: dict[tuple[int, ...], list[int]] = {}
    for position, tensor in enumerate(batch):
        groups.setdefault(tuple(tensor.shape), []).append(position)
    rows: list[list[torch.Tensor]] = [[] for _ in batch]
    for positions in groups.values():
        levels = forward(model, torch.stack([batch[p] for p in positions]))
        for j, position in enumerate(positions):
            rows[position] = [level[j : j + 1] for level in levels]
    return [torch.cat([row[k] for row in rows]) for k in range(len(rows[0]))]
