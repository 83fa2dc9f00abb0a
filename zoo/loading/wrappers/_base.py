"""The small protocol every wrapper type implements, and what they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import ContractError
from zoo.manifest import Manifest
from zoo.weights.sources import source_of


@dataclass(frozen=True)
class BuildContext:
    """What the caller asked for.

    Attributes:
        pretrained: Load the manifest's weights (False: random initialization).
        meta: Build on the ``meta`` device without weights (validation).
        overrides: Extra builder keyword arguments from the caller.
        dtype: Target dtype of floating parameters.
        device: Target device.
        trust_remote_code: The caller opted in to code from the model's repository.
        trusted: Module prefixes importable for this load beyond the allow-list: the modules of
            the manifest's ``requires`` when the caller passed ``trust_remote_code``.
    """

    pretrained: bool = True
    meta: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    dtype: torch.dtype | None = None
    device: torch.device | None = None
    trust_remote_code: bool = False
    trusted: tuple[str, ...] = ()


class Adapter:
    """How zoo reaches a built model's tokens, pooled output and block outputs.

    Subclasses override what their model supports; the rest raise a
    :class:`ContractError` naming the manifest.
    """

    #: Whether :meth:`blocks` returns token sequences ``[B, N, C]`` (True) or maps ``[B, C, H, W]``.
    block_tokens = True

    def __init__(self, module: nn.Module, manifest: Manifest) -> None:
        self.module: Any = module  # duck-typed: each adapter calls its library's own methods
        self.manifest = manifest

    def _unsupported(self, what: str) -> ContractError:
        return ContractError(
            f"{self.manifest.name} ({self.manifest.file}): {type(self.module).__name__} does not "
            f"provide {what}; change output.pooling or output.feature_levels in the manifest"
        )

    def raw(self, x: torch.Tensor) -> Any:
        """The module's own output."""
        return self.module(x)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Final (normalized) tokens ``[B, N, C]``."""
        raise self._unsupported("final tokens (for cls/mean pooling)")

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The model's own pooled embedding ``[B, D]``."""
        raise self._unsupported("a pooled output (pooling: pooler)")

    def projected(self, x: torch.Tensor) -> torch.Tensor:
        """A vision-language image tower's projected image embedding ``[B, D]``.

        By default the module's ``forward_projection(x)`` when it declares a
        ``projection_dim`` (the convention of zoo's building blocks, :mod:`zoo.nn`).
        """
        fn = getattr(self.module, "forward_projection", None)
        if not callable(fn) or getattr(self.module, "projection_dim", None) is None:
            raise self._unsupported("a projected image embedding (pooling: projection)")
        return fn(x)

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        """Outputs of the blocks ``indices`` (sorted, unique), in that order."""
        raise self._unsupported("block outputs (out_indices)")

    def dims(self) -> dict[str, int | None]:
        """What the built architecture says about itself, for the declared-vs-actual check:
        ``token_dim``, ``embedding_dim`` (of the pooler), ``projection_dim`` (of the image
        projection), ``blocks``, ``prefix_tokens``, ``patch_size``."""
        return {}


Builder = Callable[[Manifest, BuildContext], tuple[nn.Module, Adapter]]


#: timm's keyword names for what transformers configs call otherwise.
_TRANSFORMERS_NAMES = {"img_size": "image_size", "in_chans": "num_channels"}


def transformers_config_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """timm-style overrides in transformers' config vocabulary.

    ``dynamic_img_size`` has no config key: transformers vision models interpolate
    their position embeddings per call, which zoo turns on whenever the input size
    differs from the configured one.
    """
    return {
        _TRANSFORMERS_NAMES.get(key, key): value
        for key, value in overrides.items()
        if key != "dynamic_img_size"
    }


def weights_path(manifest: Manifest) -> Path:
    """The manifest's checkpoint file or folder on disk, fetched and verified by its weights
    source (:mod:`zoo.weights.sources`, the one place that knows checkpoint kinds)."""
    source = source_of(manifest)
    if source is None:
        raise ValueError(f"{manifest.name}: no checkpoint")
    return source.fetch()


def contract_mismatch(manifest: Manifest, wrong: dict[str, str]) -> ContractError:
    """The error for a built model that disagrees with its manifest, one entry per field."""
    said = "; ".join(f"{field} {message}" for field, message in wrong.items())
    return ContractError(
        f"{manifest.name} ({manifest.file}): the built model disagrees with its manifest: {said}",
        fields=wrong,
    )
