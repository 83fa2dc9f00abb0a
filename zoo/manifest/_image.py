"""The input of a 2-D image encoder: its size and the evaluation transform's settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from typing_extensions import Self

from zoo.manifest._base import (
    Flag,
    Fraction,
    Number,
    PositiveInteger,
    PositiveNumber,
    StrictModel,
)
from zoo.manifest._scale import Mpp


class InputSpec(StrictModel):
    """What the model expects as input."""

    size: tuple[PositiveInteger, PositiveInteger]
    """Default input size, `[height, width]`."""
    mean: Annotated[list[Number], Field(min_length=1)]
    """Normalization mean, one value per channel."""
    std: Annotated[list[PositiveNumber], Field(min_length=1)]
    """Normalization standard deviation, one value per channel."""
    channels: PositiveInteger | None = None
    """Input channels; default: the length of `mean`."""
    interpolation: Literal["bicubic", "bilinear", "nearest"] = "bicubic"
    """Resize interpolation used by the authors' evaluation transform."""
    crop_pct: Fraction = 1.0
    """Center-crop fraction: resize to `size / crop_pct`, then crop `size`. 1.0 resizes only."""
    crop_mode: Literal["center", "squash", "border", "pad_square"] = "center"
    """timm's `crop_mode`: `center` (short side, then crop), `squash` (both sides), `border`
    (resize the long side, then pad); or `pad_square` (pad to a square first, the smaller half of
    the margin on top/left, then resize to a square `size`: MedSigLIP's serving code)."""
    pad_fill: Literal["mean", "zero"] = "mean"
    """What `crop_mode: border` or `pad_square` pads with: `mean` (timm's), or `zero` (black)."""
    crop_offset: Literal["round", "floor"] = "round"
    """A center crop starts at half the margin rounded (torchvision, timm) or floored (HF)."""
    resize_on: Literal["image", "tensor"] = "image"
    """Where the resize runs: on the PIL `image` (timm, most cards) or on the uint8 `tensor`
    (torchvision v2 pipelines, antialiased: a few pixels differ by one level)."""
    dynamic_size: Flag = False
    """Other input sizes (multiples of the patch size) are allowed."""
    mpp: Mpp | None = None
    """Pathology tile encoders: the microns per pixel of their training tiles (slide tiling)."""

    @model_validator(mode="after")
    def _per_channel(self) -> Self:
        for name, modes in (("pad_fill", ("border", "pad_square")), ("crop_offset", ("center",))):
            if getattr(self, name) not in ("mean", "round") and self.crop_mode not in modes:
                raise ValueError(
                    f"{name} {getattr(self, name)} applies to crop_mode {' or '.join(modes)} only "
                    f"(crop_mode is {self.crop_mode}): remove {name} or set crop_mode: {modes[0]}"
                )
        if self.crop_mode == "pad_square" and (self.size[0] != self.size[1] or self.crop_pct != 1):
            raise ValueError(
                f"crop_mode pad_square pads to a square and resizes it to size, so size must be "
                f"square and crop_pct 1.0 (size is {list(self.size)}, crop_pct {self.crop_pct})"
            )
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} values but std has {len(self.std)}")
        if self.channels is not None and self.channels != len(self.mean):
            raise ValueError(
                f"channels is {self.channels} but mean/std have {len(self.mean)} values: "
                "give one value per input channel"
            )
        return self

    @property
    def in_chans(self) -> int:
        """Number of input channels."""
        return self.channels if self.channels is not None else len(self.mean)
