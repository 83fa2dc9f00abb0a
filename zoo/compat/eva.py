"""eva's Python API on zoo's loader: the backbone registry, the model wrappers, the output transforms.

Code and configs written for kaiko-ai/eva keep working with their imports (or
``class_path``) changed to ``zoo.compat.eva``::

    from zoo.compat.eva import BackboneModelRegistry

    model = BackboneModelRegistry.load_model(
        model_name="universal/vit_small_patch16_224_random", **{"out_indices": 2}
    )

Every model is built by zoo's loader: the registry serves the catalogue, and each
wrapper describes its model as an in-memory manifest (``model.model.manifest``)
handed to :func:`zoo.load_manifest`. Constructor arguments are eva's, including the
older ``tensor_transforms`` and the newer ``transforms`` spelling of the output transform.

Differences from eva, on purpose: ``out_indices`` also accepts strings such as
``"(-2, -4)"``; :class:`TimmModel` returns timm's embedding (``num_classes=0``), not
classifier logits; ``ModelFromFunction`` imports functions only under zoo's
trusted-module allow-list (``ZOO_TRUSTED_MODULES``); unknown names get suggestions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from zoo.build.catalog import Catalog
from zoo.build.outputs import tokens_to_map
from zoo.compat._eva_base import BaseModel
from zoo.compat._eva_wrappers import (
    HuggingFaceModel,
    ModelFromFunction,
    ONNXModel,
    TimmModel,
    TorchHubModel,
)
from zoo.errors import RegistryLookupError, UsageError

ModelFn = Callable[..., nn.Module]


def _load_from_catalog(model_name: str, **kwargs: Any) -> nn.Module:
    return Catalog().load(model_name, **kwargs)


class BackboneModelRegistry:
    """Backbones by name: the zoo catalogue plus models registered in this process."""

    _registry: dict[str, ModelFn] = {}

    @classmethod
    def register(cls, name: str) -> Callable[[ModelFn], ModelFn]:
        """Decorator that registers a function returning an ``nn.Module`` under ``name``.

        Raises:
            UsageError: The name is already registered or is a catalogue name.
        """

        def decorator(model_fn: ModelFn) -> ModelFn:
            if name in cls._registry:
                raise UsageError(f"model {name!r} is already registered; unregister it first")
            if name in Catalog():
                raise UsageError(
                    f"model {name!r} is a catalogue entry; register your function under another name"
                )
            cls._registry[name] = model_fn
            return model_fn

        return decorator

    @classmethod
    def unregister(cls, name: str) -> None:
        """Remove a model registered in this process (catalogue entries stay)."""
        if cls._registry.pop(name, None) is None:
            raise RegistryLookupError(name, sorted(cls._registry))

    @classmethod
    def list_models(cls) -> list[str]:
        """Every catalogue name and every registered name, sorted."""
        return sorted({*Catalog().names(), *cls._registry})

    @classmethod
    def get(cls, model_name: str) -> ModelFn:
        """The function that builds ``model_name``.

        Raises:
            RegistryLookupError: Unknown name (with suggestions); a ``LookupError`` and a ``ValueError``.
        """
        if model_name in cls._registry:
            return cls._registry[model_name]
        catalog = Catalog()
        if model_name in catalog or model_name.startswith("timm/"):
            name = catalog.get(model_name).name
            return lambda **kwargs: _load_from_catalog(name, **kwargs)
        suggestions = catalog.suggest(model_name)
        import difflib

        suggestions += difflib.get_close_matches(model_name, list(cls._registry), n=2)
        raise RegistryLookupError(model_name, suggestions[:3])

    @classmethod
    def load_model(
        cls, model_name: str, model_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> nn.Module:
        """Build a model: ``model_kwargs`` and keyword arguments (``out_indices``,
        ``dynamic_img_size``, ``pretrained``...) are merged, the keywords winning."""
        return cls.get(model_name)(**{**(model_kwargs or {}), **kwargs})


def register_model(name: str) -> Callable[[ModelFn], ModelFn]:
    """Decorator: register a model function in :class:`BackboneModelRegistry`."""
    return BackboneModelRegistry.register(name)


class ModelFromRegistry(BaseModel):
    """A model of :class:`BackboneModelRegistry` (the zoo catalogue, or registered in-process).

    Args:
        model_name: Registry name, e.g. ``pathology/kaiko_vits16``.
        model_kwargs: Keyword arguments of the model (``out_indices``, ``dynamic_img_size``...).
        model_extra_kwargs: More keyword arguments, merged over ``model_kwargs``.
        tensor_transforms: Applied to the model's output.
        transforms: Newer name of ``tensor_transforms``.
    """

    def __init__(
        self,
        model_name: str,
        model_kwargs: dict[str, Any] | None = None,
        model_extra_kwargs: dict[str, Any] | None = None,
        tensor_transforms: Callable | None = None,
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(tensor_transforms, transforms)
        self._model_name = model_name
        self._model_kwargs = {**(model_kwargs or {}), **(model_extra_kwargs or {})}
        self.model = self.load_model()

    def load_model(self) -> nn.Module:
        return BackboneModelRegistry.load_model(self._model_name, self._model_kwargs)


def _output_object(tensor: Any) -> torch.Tensor:
    hidden = getattr(tensor, "last_hidden_state", None)  # a transformers model output
    out = hidden if hidden is not None else tensor
    if not isinstance(out, torch.Tensor) or out.ndim != 3:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UsageError(f"expected tokens [B, N, C] (or a transformers output), got {shape}")
    return out


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
                    f"{count} patch tokens do not form a square grid; check has_cls_token and "
                    "num_register_tokens, or set ignore_remaining_dims=True"
                )
            prefix = tokens.shape[1] - side * side
        return [tokens_to_map(tokens, prefix, (side, side), "ExtractPatchFeatures")]


__all__ = [
    "BackboneModelRegistry",
    "BaseModel",
    "ExtractCLSFeatures",
    "ExtractPatchFeatures",
    "HuggingFaceModel",
    "ModelFromFunction",
    "ModelFromRegistry",
    "ONNXModel",
    "TimmModel",
    "TorchHubModel",
    "register_model",
]
