"""eva's ``BaseModel``: the template every compat wrapper follows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from zoo.errors import UsageError


def pick_transforms(
    tensor_transforms: Callable | None, transforms: Callable | None
) -> Callable | None:
    """The output transform, given under eva's old name or its new one (not both)."""
    if tensor_transforms is not None and transforms is not None:
        raise UsageError(
            "give tensor_transforms or transforms, not both (they are the same argument)"
        )
    return tensor_transforms if tensor_transforms is not None else transforms


class BaseModel(nn.Module):
    """Base of the wrappers: ``forward`` is ``transforms(model_forward(x))``.

    A subclass sets ``self.model = self.load_model()`` in its ``__init__`` and may
    override :meth:`model_forward`.

    Args:
        tensor_transforms: Applied to the model's output (eva < 0.2 name).
        transforms: The same (eva's newer name); give one of the two.
    """

    model: Any

    def __init__(
        self, tensor_transforms: Callable | None = None, transforms: Callable | None = None
    ) -> None:
        super().__init__()
        self._output_transforms = pick_transforms(tensor_transforms, transforms)

    def load_model(self) -> Any:
        """Build and return the model (weights loaded)."""
        raise NotImplementedError(f"{type(self).__name__} must implement load_model()")

    def model_forward(self, tensor: torch.Tensor) -> Any:
        """The model's forward pass."""
        return self.model(tensor)

    def forward(self, tensor: torch.Tensor) -> Any:
        return self._apply_transforms(self.model_forward(tensor))

    def _apply_transforms(self, tensor: Any) -> Any:
        """The output transform applied to a model output (unchanged without one), as eva's."""
        if self._output_transforms is not None:
            tensor = self._output_transforms(tensor)
        return tensor

    @property
    def preprocess(self) -> Any:
        """The evaluation transform of the wrapped zoo model's input."""
        return self.model.preprocess
