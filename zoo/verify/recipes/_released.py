"""The authors' weights as a flat state dict under their key names, for references that compute
from a state dict rather than from a module (slide encoders): a module holding one parameter per
key, so that ``zoo verify`` can perturb it, write it in the released layout and load the released
file back into it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn


class Released(nn.Module):
    """One parameter per key of ``state`` (names may hold dots), in the given order."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.keys = list(state)
        self.values = nn.ParameterList(
            nn.Parameter(v.detach().float().clone()) for v in state.values()
        )

    def state(self) -> dict[str, torch.Tensor]:
        """The weights by the authors' key names."""
        return {k: v.detach() for k, v in zip(self.keys, self.values, strict=True)}

    def fill(self, state: dict[str, torch.Tensor]) -> None:
        """Take the values of ``state`` (the same keys and shapes; strict)."""
        if sorted(state) != sorted(self.keys):
            missing, extra = set(self.keys) - set(state), set(state) - set(self.keys)
            raise ValueError(
                f"not the released layout: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
            )
        with torch.no_grad():
            for key, value in zip(self.keys, self.values, strict=True):
                value.copy_(state[key].float())


def random_state(
    layout: dict[str, tuple[int, ...]], scale: float = 0.05
) -> dict[str, torch.Tensor]:
    """Random weights in ``layout`` (torch's global generator, which ``zoo verify`` seeds)."""
    return {key: torch.randn(shape) * scale for key, shape in layout.items()}


def flat_file(fmt: str) -> tuple[Callable[[Any, Path], None], Callable[[Any, Path], None]]:
    """``(save, load)`` of a :class:`Released` as one flat state dict: ``pickle`` (torch.save) or
    ``safetensors``."""

    def save(net: Any, path: Path) -> None:
        state = {k: v.contiguous() for k, v in net.state().items()}
        if fmt == "safetensors":
            from safetensors.torch import save_file

            save_file(state, str(path))
        else:
            torch.save(state, path)

    def load(net: Any, path: Path) -> None:
        if fmt == "safetensors":
            from safetensors.torch import load_file

            net.fill(load_file(str(path)))
        else:
            net.fill(torch.load(path, map_location="cpu", weights_only=True))

    return save, load
