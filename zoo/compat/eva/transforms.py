"""eva's output transforms (``eva.core.models.transforms``): AsDiscrete, ExtractCLSFeatures,
ExtractPatchFeatures, with eva's arguments, results and error wording."""

from __future__ import annotations

import math
from typing import Any

import torch

from zoo.errors import UsageError
from zoo.loading.model import tokens_to_map


def _output_object(tensor: Any) -> torch.Tensor:
    hidden = getattr(tensor, "last_hidden_state", None)  # a transformers model output
    out = hidden if hidden is not None else tensor
    if not isinstance(out, torch.Tensor) or out.ndim != 3:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UsageError(f"expected tokens [B, N, C] (or a transformers output), got {shape}")
    return out


class AsDiscrete:
    """Output transform: logits to discrete values (argmax, one-hot, threshold), in that order.

    Args:
        argmax: Take the argmax along ``dim`` first.
        to_onehot: One-hot encode along ``dim`` with this many classes; ``True``: as many
            classes as the largest value + 1 (what eva's docstring promises).
        threshold: Compare with this value (``tensor >= threshold``, a bool tensor).
        dim: The dimension of argmax and one-hot.
        keepdim: Keep the reduced dimension after argmax.
    """

    def __init__(
        self,
        argmax: bool = False,
        to_onehot: int | bool | None = None,
        threshold: float | None = None,
        dim: int = 1,
        keepdim: bool = True,
    ) -> None:
        self.argmax = argmax
        self.to_onehot = to_onehot
        self.threshold = threshold
        self.dim = dim
        self.keepdim = keepdim

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.argmax:
            tensor = torch.argmax(tensor, dim=self.dim, keepdim=self.keepdim)
        if self.to_onehot is not None and self.to_onehot is not False:
            tensor = self._one_hot(tensor)
        if self.threshold is not None:
            tensor = tensor >= self.threshold
        return tensor

    def _one_hot(self, tensor: torch.Tensor) -> torch.Tensor:
        shape = list(tensor.shape)
        if shape[self.dim] != 1:
            raise UsageError(
                f"Input tensor must have 1 channel at dim {self.dim}. (AsDiscrete: got shape "
                f"{tuple(shape)}; set argmax=True to reduce class scores to one channel first)"
            )
        classes = (
            int(tensor.max().item()) + 1 if self.to_onehot is True else int(self.to_onehot or 0)
        )
        shape[self.dim] = classes
        out = torch.zeros(shape, dtype=torch.long, device=tensor.device)
        return out.scatter_(self.dim, tensor.long(), 1)


class ExtractCLSFeatures:
    """Output transform: the class token of ``[B, N, C]`` tokens (or of ``last_hidden_state``).

    Args:
        cls_index: Position of the class token.
        num_register_tokens: Register tokens after the class token (skipped when averaging).
        include_patch_tokens: Concatenate the mean of the patch tokens: ``[B, 2C]``.
    """

    def __init__(
        self, cls_index: int = 0, num_register_tokens: int = 0, include_patch_tokens: bool = False
    ) -> None:
        self.cls_index = cls_index
        self.num_register_tokens = num_register_tokens
        self.include_patch_tokens = include_patch_tokens

    def __call__(self, tensor: Any) -> torch.Tensor:
        tokens = _output_object(tensor)
        cls = tokens[:, self.cls_index]
        if not self.include_patch_tokens:
            return cls
        patches = tokens[:, 1 + self.num_register_tokens :].mean(dim=1)
        return torch.cat([cls, patches], dim=-1)


class ExtractPatchFeatures:
    """Output transform: the patch tokens as one square feature map, ``[[B, C, h, w]]``.

    Args:
        has_cls_token: The tokens start with a class token.
        num_register_tokens: Register tokens after the class token.
        ignore_remaining_dims: When the patch count is not a square, keep the last
            ``h*w`` tokens instead of failing.
    """

    def __init__(
        self,
        has_cls_token: bool = True,
        num_register_tokens: int = 0,
        ignore_remaining_dims: bool = False,
    ) -> None:
        self.has_cls_token = has_cls_token
        self.num_register_tokens = num_register_tokens
        self.ignore_remaining_dims = ignore_remaining_dims

    def __call__(self, tensor: Any) -> list[torch.Tensor]:
        tokens = _output_object(tensor)
        prefix = int(self.has_cls_token) + self.num_register_tokens
        count = tokens.shape[1] - prefix
        side = math.isqrt(max(count, 0))
        if side * side != count:
            if not self.ignore_remaining_dims or side == 0:
                raise UsageError(
                    f"Patch grid size must be a square number {count}. (ExtractPatchFeatures: "
                    "check has_cls_token and num_register_tokens, or set ignore_remaining_dims=True)"
                )
            prefix = tokens.shape[1] - side * side
        return [tokens_to_map(tokens, prefix, (side, side), "ExtractPatchFeatures")]
