"""Building on the ``meta`` device without paying for initializers.

On meta a tensor has a shape and no data, so an initializer (``trunc_normal_``, ``uniform_``,
...) changes nothing; yet each one still runs its decomposed meta kernels, which for a
billion-parameter model costs about a second. Inside :func:`meta_device` the in-place
operations initializers are made of return their meta tensor at once; shapes are unchanged,
so every contract check sees the same model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

#: In-place operations that only fill values (what ``torch.nn.init`` and timm's initializers do).
_FILLS = frozenset(
    {
        "normal_",
        "uniform_",
        "trunc_normal_",
        "fill_",
        "zero_",
        "erfinv_",
        "clamp_",
        "mul_",
        "add_",
        "copy_",
        "exponential_",
        "bernoulli_",
        "random_",
        "log_normal_",
        "geometric_",
        "cauchy_",
    }
)


class _SkipMetaFills(TorchFunctionMode):
    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        target = args[0] if args else None
        if (
            isinstance(target, torch.Tensor)
            and target.is_meta
            and getattr(func, "__name__", "") in _FILLS
        ):
            return target
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def meta_device() -> Iterator[None]:
    """Create tensors on ``meta`` and skip value-only in-place operations on meta tensors."""
    with torch.device("meta"), _SkipMetaFills():
        yield
