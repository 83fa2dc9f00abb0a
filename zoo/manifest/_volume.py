"""Volumes in the manifest: a 3-D ``input`` (``kind: volume``) and the 3-D feature grid of ``output``.

A 2-D encoder takes images ``[B, C, H, W]``; a 3-D encoder takes volumes
``[B, C, D, H, W]``. The input block of a volume says its default size per axis,
what the authors state about resampling (spacing, orientation) and how intensities
are normalized (a window clipped and scaled to a range, then per-channel mean/std).
The ``output.grid`` block says where each feature map sits on the volume (its
stride per axis) and which maps the embedding pools.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from zoo.manifest._base import Flag, Number, PositiveInteger, PositiveNumber, StrictModel

#: Axis codes (nibabel's ``aff2axcodes`` letters): one of each pair per axis.
_AXIS_PAIRS = ({"R", "L"}, {"A", "P"}, {"S", "I"})

Triple = tuple[PositiveInteger, PositiveInteger, PositiveInteger]


class Intensity(StrictModel):
    """Intensity normalization of a volume: clip to `window`, map it linearly onto `range`."""

    window: tuple[Number, Number]
    """`[low, high]` of the raw intensities kept (Hounsfield units for CT), e.g. `[-175, 250]`."""
    range: tuple[Number, Number] = (0.0, 1.0)
    """`[low, high]` the window is mapped onto (MONAI `ScaleIntensityRange`'s `b_min`, `b_max`)."""
    clip: Flag = True
    """Clip values outside the window (MONAI `ScaleIntensityRange(clip=True)`)."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.window[0] >= self.window[1]:
            raise ValueError(f"window {list(self.window)}: give [low, high] with low < high")
        if self.range[0] == self.range[1]:
            raise ValueError(f"range {list(self.range)}: low and high must differ")
        return self


class VolumeInputSpec(StrictModel):
    """A 3-D encoder's input: volumes `[C, D, H, W]` (a batch is `[B, C, D, H, W]`)."""

    kind: Literal["volume"]
    """Marks a volume input (an image input has no `kind`)."""
    size: Triple
    """Default input size per axis, `[depth, height, width]` (the authors' region of interest)."""
    channels: PositiveInteger = 1
    """Input channels (1 for CT; one per sequence for multi-sequence MR)."""
    spacing: tuple[PositiveNumber, PositiveNumber, PositiveNumber] | None = None
    """Voxel spacing in millimetres along `[depth, height, width]` that the authors resample to."""
    orientation: Annotated[str, Field(pattern=r"^[RLAPSI]{3}$", examples=["RAS"])] | None = None
    """Orientation the authors reorient to, as axis codes of the three spatial axes in the order they
    are fed to the network (`RAS`: MONAI `Orientation(axcodes="RAS")` on a channel-first array)."""
    intensity: Intensity | None = None
    """Window/clip and scaling of raw intensities, applied first."""
    mean: Annotated[list[Number], Field(min_length=1)] | None = None
    """Per-channel mean subtracted after `intensity` (omit when the authors use none)."""
    std: Annotated[list[PositiveNumber], Field(min_length=1)] | None = None
    """Per-channel standard deviation divided by after `intensity`."""
    dynamic_size: Flag = False
    """Other sizes are allowed: any size per axis that is a multiple of `output.grid.multiple`."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std, or neither")
        if self.mean is not None and self.std is not None:
            if len(self.mean) != len(self.std):
                raise ValueError(f"mean has {len(self.mean)} values but std has {len(self.std)}")
            if len(self.mean) != self.channels:
                raise ValueError(
                    f"mean/std have {len(self.mean)} values for {self.channels} channels: "
                    "give one value per input channel"
                )
        if self.orientation is not None:
            letters = set(self.orientation)
            if len(letters) != 3 or any(len(letters & pair) != 1 for pair in _AXIS_PAIRS):
                raise ValueError(
                    f"orientation {self.orientation!r}: name each anatomical axis once, one of R/L, "
                    "A/P and S/I (e.g. RAS)"
                )
        return self

    @property
    def in_chans(self) -> int:
        """Number of input channels."""
        return self.channels


class VolumeGrid(StrictModel):
    """Where a 3-D encoder's feature maps sit on the volume, and what its embedding pools."""

    strides: Annotated[list[PositiveInteger | Triple], Field(min_length=1)]
    """Downsampling of each feature level relative to the input, one per level (an int for all three
    axes, or `[d, h, w]`): level `i` of a `[D, H, W]` input is `[D/d, H/h, W/w]`."""
    multiple: PositiveInteger | Triple
    """Input sizes the network accepts are multiples of this per axis (its total downsampling,
    e.g. 32 for a Swin UNETR with patch size 2 and four merging stages)."""
    pool: Annotated[list[int], Field(min_length=1)] = [-1]
    """Feature levels whose global average pools, concatenated in this order, are the embedding
    (`pooling: mean`); negative indices count from the end. Default: the deepest map."""

    def stride_of(self, level: int) -> tuple[int, int, int]:
        """The stride of one level per axis."""
        s = self.strides[level]
        return (s, s, s) if isinstance(s, int) else s

    def multiple_of(self) -> tuple[int, int, int]:
        """The size multiple per axis."""
        m = self.multiple
        return (m, m, m) if isinstance(m, int) else m


def volume_problems(manifest: Any) -> list[tuple[tuple[str, ...], str]]:
    """Cross-field checks of a volume manifest: ``(field path, message)`` for each problem."""
    spec, out, wrapper = manifest.input, manifest.output, manifest.wrapper
    is_volume = isinstance(spec, VolumeInputSpec)
    grid: VolumeGrid | None = out.grid
    if wrapper.type == "monai":
        if not is_volume:
            return [
                (
                    ("input",),
                    "a monai wrapper builds a 3-D encoder: declare input.kind: volume with a "
                    "size [D, H, W]",
                )
            ]
        given = wrapper.kwargs.get("in_channels", spec.channels)
        if given != spec.channels:
            return [
                (
                    ("wrapper", "kwargs", "in_channels"),
                    f"wrapper.kwargs.in_channels is {given} but input.channels is {spec.channels}",
                )
            ]
        if wrapper.kwargs.get("spatial_dims", 3) != 3:
            return [
                (
                    ("wrapper", "kwargs", "spatial_dims"),
                    "zoo builds MONAI networks for volumes: spatial_dims must be 3",
                )
            ]
    if not is_volume:
        if grid is not None:
            return [
                (
                    ("output", "grid"),
                    "output.grid describes a 3-D encoder's feature maps: it needs input.kind: volume",
                )
            ]
        return []
    if grid is None:
        return [
            (
                ("output", "grid"),
                "a volume input needs output.grid (the stride of each feature level and the size "
                "multiple the network accepts)",
            )
        ]
    problems: list[tuple[tuple[str, ...], str]] = []
    if out.pooling not in ("mean", "none"):
        problems.append(
            (
                ("output", "pooling"),
                f"pooling {out.pooling} needs tokens; a 3-D encoder's embedding is `mean` (global "
                "average of the maps in output.grid.pool) or `none`",
            )
        )
    if out.prefix_tokens:
        problems.append((("output", "prefix_tokens"), "a 3-D feature grid has no prefix tokens"))
    levels = out.feature_levels
    if len(grid.strides) != levels:
        problems.append(
            (
                ("output", "grid", "strides"),
                f"output.grid.strides lists {len(grid.strides)} levels for {levels} feature_levels",
            )
        )
    if not isinstance(out.feature_dim, list):
        problems.append(
            (
                ("output", "feature_dim"),
                "a 3-D encoder lists its channels per level: feature_dim: [...]",
            )
        )
    bad = [i for i in grid.pool if not -levels <= i < levels]
    if bad:
        problems.append(
            (
                ("output", "grid", "pool"),
                f"output.grid.pool {grid.pool}: {bad} out of range for {levels} feature levels",
            )
        )
    elif out.pooling == "mean" and isinstance(out.feature_dim, list) and levels:
        pooled = sum(out.feature_dim[i % levels] for i in grid.pool)
        if pooled != out.embedding_dim:
            problems.append(
                (
                    ("output", "embedding_dim"),
                    f"pooling the levels {grid.pool} gives {pooled} channels, not {out.embedding_dim}",
                )
            )
    multiple = grid.multiple_of()
    if any(s % m for s, m in zip(spec.size, multiple, strict=True)):
        problems.append(
            (
                ("input", "size"),
                f"input.size {list(spec.size)} is not a multiple of output.grid.multiple "
                f"{list(multiple)} per axis",
            )
        )
    return problems
