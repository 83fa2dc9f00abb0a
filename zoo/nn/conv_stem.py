"""A convolutional patch embedding: CTransPath's stem, in the shape timm's models expect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


class ConvStem(nn.Module):
    """Two 3x3 stride-2 convolutions (each with BatchNorm and ReLU), then a 1x1 convolution.

    A drop-in ``embed_layer`` for timm's Swin Transformer (and other models that take
    timm's ``PatchEmbed`` signature): it downsamples by 4 like a 4x4 patch embedding, with
    ``embed_dim / 8`` then ``embed_dim / 4`` channels in between. This is the stem of
    CTransPath (Wang et al., Medical Image Analysis 2022); its parameters are named as in the
    authors' checkpoint (``proj.0``, ``proj.1``, ``proj.3``, ``proj.4``, ``proj.6``, ``norm``).

    Args:
        img_size: Input size the model is built for.
        patch_size: Must be 4 (two stride-2 convolutions).
        in_chans: Input channels.
        embed_dim: Output channels; a multiple of 8.
        norm_layer: Normalization over the channels of the output tokens, if any.
        flatten: Return tokens ``[B, N, C]`` (when ``output_fmt`` is not given).
        output_fmt: ``NCHW``, ``NHWC`` or ``NLC`` (timm's Swin asks for ``NHWC``).
        strict_img_size: Refuse inputs of another size than ``img_size``.
        **factory: ``device`` / ``dtype`` for the parameters, as timm passes them.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int | tuple[int, int] = 4,
        in_chans: int = 3,
        embed_dim: int = 768,
        norm_layer: Callable[..., nn.Module] | None = None,
        flatten: bool = True,
        output_fmt: str | None = None,
        strict_img_size: bool = True,
        **factory: Any,
    ) -> None:
        super().__init__()
        if _pair(patch_size) != (4, 4):
            raise ValueError(f"ConvStem downsamples by 4: patch_size must be 4, got {patch_size}")
        if embed_dim % 8:
            raise ValueError(f"ConvStem needs embed_dim divisible by 8, got {embed_dim}")
        if output_fmt not in (None, "NCHW", "NHWC", "NLC"):
            raise ValueError(f"ConvStem output_fmt must be NCHW, NHWC or NLC, got {output_fmt!r}")
        dd = {k: v for k, v in factory.items() if k in ("device", "dtype") and v is not None}
        self.img_size = _pair(img_size)
        self.patch_size = (4, 4)
        self.grid_size = (self.img_size[0] // 4, self.img_size[1] // 4)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.output_fmt = output_fmt or ("NLC" if flatten else "NCHW")
        self.flatten = self.output_fmt == "NLC"
        self.strict_img_size = strict_img_size
        layers: list[nn.Module] = []
        width_in, width_out = in_chans, embed_dim // 8
        for _ in range(2):
            layers += [
                nn.Conv2d(width_in, width_out, 3, stride=2, padding=1, bias=False, **dd),
                nn.BatchNorm2d(width_out, **dd),
                nn.ReLU(inplace=True),
            ]
            width_in, width_out = width_out, width_out * 2
        layers.append(nn.Conv2d(width_in, embed_dim, 1, **dd))
        self.proj = nn.Sequential(*layers)
        self.norm = norm_layer(embed_dim, **dd) if norm_layer else nn.Identity()

    def feat_ratio(self, as_scalar: bool = True) -> int | tuple[int, int]:
        """The downsampling factor (timm's ``PatchEmbed`` interface)."""
        return 4 if as_scalar else self.patch_size

    def dynamic_feat_size(self, img_size: tuple[int, int]) -> tuple[int, int]:
        """The token grid of an input size (timm's ``PatchEmbed`` interface)."""
        return (-(-img_size[0] // 4), -(-img_size[1] // 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.strict_img_size and tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(
                f"input {tuple(x.shape[-2:])} differs from the model's size {self.img_size}"
            )
        x = self.proj(x)
        if self.output_fmt == "NLC":
            x = x.flatten(2).transpose(1, 2)
        elif self.output_fmt == "NHWC":
            x = x.permute(0, 2, 3, 1)
        else:
            return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.norm(x)
