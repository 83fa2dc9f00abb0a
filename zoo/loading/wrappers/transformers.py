"""``wrapper.type: transformers`` — Hugging Face models, from a repository, a local folder or an inline config."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import LoadError, TrustError, UsageError, ZooError, require
from zoo.loading.meta import meta_device
from zoo.loading.wrappers._base import (
    Adapter,
    BuildContext,
    WrapperType,
    transformers_config_overrides,
    weights_path,
)
from zoo.loading.wrappers._hf_weights import enforce_loading_info, folder_state, quiet
from zoo.manifest import Manifest, TransformersWrapper, Wrapper
from zoo.manifest._refs import hub_code_keys


def _transformers() -> Any:
    return require(
        "transformers",
        package="transformers",
        extra="transformers",
        purpose="a transformers backbone",
    )


class TransformersAdapter(Adapter):
    """Hidden states and pooler output of a transformers vision model."""

    def _interpolation(self, x: torch.Tensor) -> dict[str, Any]:
        """``interpolate_pos_encoding=True`` when the input differs from the configured size."""
        size = getattr(self.module.config, "image_size", None)
        if size is not None and self._accepts_interpolation():
            expected = (size, size) if isinstance(size, int) else tuple(size)
            if tuple(x.shape[-2:]) != expected:
                return {"interpolate_pos_encoding": True}
        return {}

    def _call(self, x: torch.Tensor, **kwargs: Any) -> Any:
        return self.module(pixel_values=x, **self._interpolation(x), **kwargs)

    def _accepts_interpolation(self) -> bool:
        return "interpolate_pos_encoding" in inspect.signature(self.module.forward).parameters

    def raw(self, x: torch.Tensor) -> Any:
        return self._call(x)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self._call(x).last_hidden_state

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        pooled = getattr(self._call(x), "pooler_output", None)
        tower = getattr(self.module, "vision_model", None)
        if pooled is None and tower is not None:
            # A tower with its projection (CLIPVisionModelWithProjection) reports the projected
            # embedding only; the pooled output before the projection is its vision model's.
            pooled = tower(pixel_values=x, **self._interpolation(x)).pooler_output
        if pooled is None:
            raise self._unsupported(
                "a pooler output (build it with a pooling layer, or use pooling: cls)"
            )
        return pooled

    def projected(self, x: torch.Tensor) -> torch.Tensor:
        embeds = getattr(self._call(x), "image_embeds", None)
        if embeds is None:
            raise self._unsupported(
                "a projected image embedding (use a *VisionModelWithProjection class)"
            )
        return embeds

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        hidden = self._call(x, output_hidden_states=True).hidden_states
        # hidden[0] is the embedding output; block i's output is hidden[i + 1].
        return [hidden[i + 1] for i in indices]

    def _class_tokens(self) -> int:
        """1 when the embeddings prepend a class token (ViT, DINOv2, CLIP), 0 when not (SigLIP)."""
        m = self.module
        embeddings = getattr(m, "embeddings", None) or getattr(
            getattr(m, "vision_model", None), "embeddings", None
        )
        if embeddings is None:
            return 1
        return int(hasattr(embeddings, "cls_token") or hasattr(embeddings, "class_embedding"))

    def dims(self) -> dict[str, int | None]:
        config = self.module.config
        patch = getattr(config, "patch_size", None)
        projection = getattr(self.module, "visual_projection", None)
        return {
            "token_dim": getattr(config, "hidden_size", None),
            "blocks": getattr(config, "num_hidden_layers", None),
            "patch_size": patch if isinstance(patch, int) else None,
            "prefix_tokens": self._class_tokens()
            + int(getattr(config, "num_register_tokens", 0) or 0)
            if isinstance(patch, int)
            else None,
            "projection_dim": projection.out_features
            if isinstance(projection, nn.Linear)
            else None,
        }


def _model_class(wrapper: TransformersWrapper) -> Any:
    transformers = _transformers()
    cls = getattr(transformers, wrapper.model_class, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise LoadError(
            f"transformers {transformers.__version__} has no model class {wrapper.model_class!r}"
        )
    return cls


def _remote_code(manifest: Manifest, ctx: BuildContext) -> bool:
    wrapper = manifest.wrapper
    assert isinstance(wrapper, TransformersWrapper)
    if wrapper.trust_remote_code and not ctx.trust_remote_code:
        raise TrustError(
            f"{manifest.name} runs Python code from its model repository (wrapper.trust_remote_code). "
            "If you trust it, pass trust_remote_code=True (CLI: --trust-remote-code).",
            flag="--trust-remote-code",
        )
    return wrapper.trust_remote_code


def _weights_folder(manifest: Manifest) -> Path:
    folder = weights_path(manifest)  # the same file set `zoo pull` fetches
    return folder.parent if folder.is_file() else folder


def _check_config_keys(manifest: Manifest, config: Any, caller: dict[str, Any]) -> None:
    """Refuse config keys the model's configuration class does not define.

    transformers configs store any keyword they are given, so a misspelt
    override would otherwise be kept and silently ignored by the model.
    """
    if not caller:
        return
    try:
        defaults = type(config)()
    except Exception:  # a remote-code config that needs arguments: judge by the loaded one
        defaults = config
    unknown = sorted(k for k in caller if not hasattr(defaults, k) and k != "model_type")
    if unknown:
        raise UsageError(
            f"{manifest.name}: {type(config).__name__} has no setting {', '.join(unknown)} "
            "(wrapper.config and keyword overrides are config keys such as image_size, or timm's "
            "img_size / in_chans)"
        )


def _concrete_class(wrapper: TransformersWrapper, config: Any, folder: Path, remote: bool) -> Any:
    """The model class itself (an ``Auto*`` name resolved through the config)."""
    transformers = _transformers()
    cls = _model_class(wrapper)
    if not wrapper.model_class.startswith("Auto"):
        return cls
    auto_map = getattr(config, "auto_map", None) or {}
    if remote and wrapper.model_class in auto_map:
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        return get_class_from_dynamic_module(auto_map[wrapper.model_class], str(folder))
    try:
        return cls._model_mapping[type(config)]
    except KeyError:
        raise LoadError(
            f"transformers {transformers.__version__}: {wrapper.model_class} has no class for "
            f"{type(config).__name__}; name the class in wrapper.model_class"
        ) from None


def _from_checkpoint(
    manifest: Manifest, ctx: BuildContext, overrides: dict[str, Any], kwargs: dict[str, Any]
) -> nn.Module:
    """Build with the checkpoint's weights, read by zoo and loaded strictly.

    The state dict goes through zoo's checkpoint path (safetensors memory-mapped, pickles
    weights-only, ``checkpoint.key`` and ``remap`` applied); transformers then maps it onto
    the architecture (its own key conversions, prefixes and ignore lists), and what it reports
    missing, unexpected or mis-shaped is an error unless ``checkpoint.strict`` is false.
    """
    transformers = _transformers()
    wrapper = manifest.wrapper
    assert isinstance(wrapper, TransformersWrapper)
    ckpt = manifest.checkpoint
    assert ckpt is not None
    remote = _remote_code(manifest, ctx)  # only the repository's code needs the opt-in
    folder = _weights_folder(manifest)
    config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=remote)
    wanted: Any = getattr(_model_class(wrapper), "config_class", None)
    if (
        not wrapper.model_class.startswith("Auto")
        and wanted is not None
        and not isinstance(config, wanted)
    ):
        # A tower of a composite checkpoint (CLIPVisionModel out of a CLIPModel folder):
        # the tower's config class reads its part of config.json (vision_config).
        config = wanted.from_pretrained(folder)
    _check_config_keys(manifest, config, overrides)
    for key, value in overrides.items():
        if key != "model_type":
            setattr(config, key, value)
    cls = _concrete_class(wrapper, config, folder, remote)
    state = folder_state(folder, ckpt)
    try:
        model, info = cls.from_pretrained(
            None,
            config=config,
            state_dict=state,
            output_loading_info=True,
            ignore_mismatched_sizes=True,  # reported below, never silently re-initialized
            **kwargs,
        )
    except RuntimeError as exc:
        raise LoadError(
            f"{manifest.name}: transformers could not load {folder}: {str(exc).splitlines()[0]}"
        ) from None
    pooling = manifest.output.pooling
    enforce_loading_info(info, strict=ckpt.strict, source=str(folder), pooling=pooling)
    return model


def build(manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
    """Build with ``from_pretrained`` (weights) or ``from_config`` (random init / meta)."""
    transformers = _transformers()
    wrapper = manifest.wrapper
    assert isinstance(wrapper, TransformersWrapper)
    cls = _model_class(wrapper)
    found = hub_code_keys(wrapper.kwargs, "wrapper.kwargs") + hub_code_keys(
        wrapper.config, "wrapper.config"
    )
    if found:  # refused by validation; a manifest built without it is refused here too
        raise TrustError(
            f"{manifest.name}: {found[0]} asks transformers for hub or remote code; only "
            "wrapper.trust_remote_code (with --trust-remote-code) may",
            flag="wrapper.trust_remote_code",
        )
    kwargs = ctx.resolve(manifest, wrapper.kwargs, "wrapper.kwargs")
    config = dict(wrapper.config)
    try:
        with quiet(transformers):
            model = (
                _from_checkpoint(manifest, ctx, config, kwargs)
                if ctx.pretrained
                else _from_config(manifest, ctx, cls, config, kwargs)
            )
    except ZooError:
        raise
    except TypeError as exc:
        raise UsageError(f"{manifest.name}: {exc}") from None
    except (OSError, ValueError, KeyError) as exc:
        raise LoadError(
            f"{manifest.name}: transformers could not build the model: {str(exc).splitlines()[0]}"
        ) from None
    if ctx.dtype is not None and not ctx.meta:
        model.to(ctx.dtype)
    return model, TransformersAdapter(model, manifest)


class Transformers(WrapperType):
    """transformers: the caller's keyword arguments join the inline ``wrapper.config`` (timm's
    ``img_size`` / ``in_chans`` as ``image_size`` / ``num_channels``)."""

    def merge(self, manifest: Manifest, overrides: dict[str, Any]) -> Wrapper:
        wrapper = manifest.wrapper
        assert isinstance(wrapper, TransformersWrapper)
        config = {**wrapper.config, **transformers_config_overrides(overrides)}
        return wrapper.model_copy(update={"config": config})


WRAPPER = Transformers(build)


def _from_config(
    manifest: Manifest,
    ctx: BuildContext,
    cls: Any,
    overrides: dict[str, Any],
    kwargs: dict[str, Any],
) -> nn.Module:
    """Build the architecture from the inline config alone (random weights, or on meta)."""
    transformers = _transformers()
    if "model_type" not in overrides:
        raise LoadError(
            f"{manifest.name}: building without weights needs wrapper.config.model_type "
            "(an inline config is what lets the architecture build offline)"
        )
    config = transformers.AutoConfig.for_model(**overrides)
    _check_config_keys(manifest, config, overrides)
    if getattr(config, "auto_map", None):  # an inline config never reaches a repository's code
        raise TrustError(
            f"{manifest.name}: the inline config names repository code (auto_map); build it "
            "from its checkpoint with wrapper.trust_remote_code and --trust-remote-code",
            flag="wrapper.trust_remote_code",
        )
    if hasattr(cls, "from_config"):  # an Auto class: never the repository's code from here
        kwargs = {**kwargs, "trust_remote_code": False}
        factory = cls.from_config
    else:
        factory = cls._from_config
    if ctx.meta:
        with meta_device():
            return factory(config, **kwargs)
    return factory(config, **kwargs)
