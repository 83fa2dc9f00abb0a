"""The authors' weights as a module whose ``state_dict()`` keys are the released ones, for
references that compute from a state dict rather than from a module (slide encoders): ``zoo
verify`` perturbs it, writes it in the released layout and loads the released file back into it
(strictly) as it does any network (``_layout.state_dict_file``)."""

from __future__ import annotations

import torch
from torch import nn


class Released(nn.Module):
    """One parameter per key of ``state``, under submodules named by the key's dotted parts."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        for key, value in state.items():
            *path, leaf = key.split(".")
            owner: nn.Module = self
            for part in path:
                if part not in owner._modules:
                    owner.add_module(part, nn.Module())
                owner = owner._modules[part]  # type: ignore[assignment]
            owner.register_parameter(leaf, nn.Parameter(value.detach().float().clone()))


def random_state(
    layout: dict[str, tuple[int, ...]], scale: float = 0.05
) -> dict[str, torch.Tensor]:
    """Random weights in ``layout`` (torch's global generator, which ``zoo verify`` seeds)."""
    return {key: torch.randn(shape) * scale for key, shape in layout.items()}
