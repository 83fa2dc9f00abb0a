"""The small protocol every wrapper type implements, and what they share.

A wrapper type is one :class:`WrapperType` object (its row in
:data:`zoo.loading.wrappers.WRAPPERS`): how the caller's keyword arguments change its
manifest (:meth:`WrapperType.overrides`) and how it builds (:meth:`WrapperType.build`),
from the manifest alone and the :class:`BuildContext` (meta, random or pretrained, decided
once by the pipeline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from zoo.errors import ContractError, UsageError
from zoo.loading.objects import resolve_objects
from zoo.manifest import Manifest, TilesInputSpec
from zoo.manifest._wrappers import Wrapper
from zoo.weights.sources import source_of

#: What a build makes: ``meta`` (shapes only, no memory, no weights: validation), ``random``
#: (random initialization) or ``pretrained`` (the manifest's checkpoint, loaded strictly).
Mode = Literal["meta", "random", "pretrained"]


@dataclass(frozen=True)
class BuildContext:
    """What the caller asked for, decided once by the pipeline.

    Attributes:
        mode: ``meta``, ``random`` or ``pretrained`` (only for a manifest with a checkpoint).
        dtype: Target dtype of floating parameters.
        device: Target device.
        trust_remote_code: The caller opted in to code from the model's repository.
        trusted: Module prefixes importable for this load beyond the allow-list: the modules of
            the manifest's ``requires`` when the caller passed ``trust_remote_code``.
    """

    mode: Mode = "random"
    dtype: torch.dtype | None = None
    device: torch.device | None = None
    trust_remote_code: bool = False
    trusted: tuple[str, ...] = ()

    @property
    def meta(self) -> bool:
        """Build on the ``meta`` device, without weights."""
        return self.mode == "meta"

    @property
    def pretrained(self) -> bool:
        """Load the manifest's checkpoint."""
        return self.mode == "pretrained"

    def resolve(self, manifest: Manifest, value: dict[str, Any], field: str) -> dict[str, Any]:
        """A copy of a kwargs mapping of the manifest with every ``{$object: path}`` imported
        (under the allow-list, plus the ``requires`` modules on the caller's opt-in): the one
        kwargs helper of every wrapper type."""
        resolved: dict[str, Any] = resolve_objects(
            dict(value), purpose=f"{manifest.name}: {field}", also=self.trusted
        )
        return resolved


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


class WrapperType:
    """One wrapper type: everything zoo does differently for it lives in its object.

    Its torch-free facts are the manifest model's ``traits`` (:class:`zoo.manifest.Traits`).

    Args:
        builder: The type's build function.
        merge_into: The wrapper field the caller's keyword arguments join (``kwargs``,
            ``arguments``); a type that merges otherwise overrides :meth:`merge`.
    """

    def __init__(self, builder: Builder, merge_into: str | None = None) -> None:
        self.builder, self.merge_into = builder, merge_into

    def overrides(self, manifest: Manifest, overrides: dict[str, Any]) -> Manifest:
        """A copy of the manifest that states what the caller's keyword arguments change: the
        input (``img_size``, ``dynamic_img_size``, ``in_chans``) and the wrapper's own arguments.

        Raises:
            UsageError: The type takes no overrides, or they make the manifest invalid.
        """
        if not overrides:
            return manifest
        if not manifest.wrapper.traits.takes_overrides:
            raise UsageError(
                f"{manifest.name}: a {manifest.wrapper.type} model takes no keyword overrides "
                f"(got {', '.join(overrides)})"
            )
        image_keys = sorted({"img_size", "dynamic_img_size", "in_chans"} & overrides.keys())
        if isinstance(manifest.input, TilesInputSpec):
            if image_keys:
                raise UsageError(
                    f"{manifest.name} is a slide encoder (tile features in): {', '.join(image_keys)} "
                    "apply to images"
                )
            return revalidate(
                manifest,
                {**manifest.model_dump(), "wrapper": self.merge(manifest, overrides).model_dump()},
                overrides,
            )
        spec = manifest.input.model_dump()
        if "dynamic_img_size" in overrides:
            spec["dynamic_size"] = bool(overrides["dynamic_img_size"])
        if "img_size" in overrides:
            size = overrides["img_size"]
            spec["size"] = [size, size] if isinstance(size, int) else list(size)
        if "in_chans" in overrides and overrides["in_chans"] != manifest.input.in_chans:
            n = overrides["in_chans"]
            # timm adapts a pretrained RGB stem by summing over channels: normalize with the
            # mean statistics.
            spec["mean"] = [sum(spec["mean"]) / len(spec["mean"])] * n
            spec["std"] = [sum(spec["std"]) / len(spec["std"])] * n
            spec["channels"] = None
        data = manifest.model_dump()
        data.update(input=spec, wrapper=self.merge(manifest, overrides).model_dump())
        return revalidate(manifest, data, overrides)

    def merge(self, manifest: Manifest, overrides: dict[str, Any]) -> Wrapper:
        """The wrapper block with the caller's keyword arguments in it."""
        wrapper = manifest.wrapper
        if self.merge_into is None:
            raise NotImplementedError(f"{type(self).__name__} names no field to merge into")
        merged = {**getattr(wrapper, self.merge_into), **overrides}
        return wrapper.model_copy(update={self.merge_into: merged})

    def build(self, manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
        """The module and the adapter that reaches its tokens, pooled output and blocks."""
        return self.builder(manifest, ctx)


def revalidate(manifest: Manifest, data: dict[str, Any], overrides: dict[str, Any]) -> Manifest:
    """The manifest made of ``data`` (a changed dump of ``manifest``), validated again.

    Raises:
        UsageError: The overrides made it invalid.
    """
    try:
        updated = Manifest.model_validate(data)
    except ValueError as exc:
        raise UsageError(
            f"{manifest.name}: overrides {overrides} make the manifest invalid: {exc}"
        ) from None
    return updated.with_file(manifest.file)


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
