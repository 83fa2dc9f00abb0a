"""``wrapper.type: timm`` — ``timm.create_model(architecture, num_classes=0, **kwargs)``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from zoo.errors import ArgumentError, LoadError, require
from zoo.loading.checkpoint import StateDict, assign, empty_parameters, load_state_dict
from zoo.loading.meta import meta_device
from zoo.loading.wrappers._base import Adapter, BuildContext, WrapperType, weights_path
from zoo.manifest import Manifest, TimmWrapper


def _timm() -> Any:
    return require("timm", package="timm", extra="timm", purpose="a timm backbone")


class TimmAdapter(Adapter):
    """Any timm model (ViTs and CNNs) through its standard feature API."""

    block_tokens = False  # forward_intermediates already returns NCHW maps without prefix tokens

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.forward_features(x)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        m = self.module
        return m.forward_head(m.forward_features(x), pre_logits=True)

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        if not hasattr(self.module, "forward_intermediates"):
            raise self._unsupported("block outputs (forward_intermediates)")
        return self.module.forward_intermediates(
            x, indices=indices, intermediates_only=True, output_fmt="NCHW", norm=False
        )

    def dims(self) -> dict[str, int | None]:
        m = self.module
        blocks: Any = getattr(m, "blocks", None)
        count = len(blocks) if isinstance(blocks, (nn.Sequential, nn.ModuleList)) else None
        if count is None and hasattr(m, "feature_info"):
            count = len(m.feature_info)
        patch = getattr(getattr(m, "patch_embed", None), "patch_size", None)
        return {
            "token_dim": getattr(m, "embed_dim", None),
            "embedding_dim": getattr(m, "num_features", None),
            "blocks": count,
            "prefix_tokens": getattr(m, "num_prefix_tokens", None),
            "patch_size": patch[0] if isinstance(patch, (tuple, list)) else patch,
            "projection_dim": getattr(m, "projection_dim", None),
        }


def kwargs_for(manifest: Manifest, ctx: BuildContext) -> dict[str, Any]:
    """The ``create_model`` kwargs: the manifest's (with the caller's merged in), ``$object``
    resolved."""
    wrapper = manifest.wrapper
    assert isinstance(wrapper, TimmWrapper)
    return ctx.resolve(manifest, wrapper.kwargs, "wrapper.kwargs")


def _architecture(manifest: Manifest) -> str:
    wrapper = manifest.wrapper
    assert isinstance(wrapper, TimmWrapper)
    return wrapper.architecture


def _create(manifest: Manifest, kwargs: dict[str, Any], *, skip_init: bool = False) -> nn.Module:
    """``timm.create_model`` with zoo's errors.

    ``skip_init``: every parameter is about to be replaced (or lives on meta), so ask
    architectures that can (``weight_init="skip"``, e.g. VisionTransformer) not to
    run their initializers; the others do not take the keyword and build as usual.
    """
    timm = _timm()
    arch = _architecture(manifest)
    try:
        if skip_init and "weight_init" not in kwargs:
            try:
                return timm.create_model(
                    arch, pretrained=False, num_classes=0, weight_init="skip", **kwargs
                )
            except TypeError as exc:
                if "weight_init" not in str(exc):
                    raise
        return timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            close = timm.list_models(f"*{arch.split('_')[0]}*")[:5]
            hint = f" Close names: {', '.join(close)}." if close else ""
            raise LoadError(
                f"{manifest.name}: timm has no architecture {arch!r} (timm {timm.__version__}).{hint}"
            ) from None
        raise LoadError(f"{manifest.name}: building {arch} failed: {exc}") from None
    except TypeError as exc:
        raise ArgumentError(
            f"{manifest.name}: {arch} rejects its keyword arguments: {exc}"
        ) from None


def timm_filters(model: nn.Module) -> tuple[Callable[[StateDict], StateDict], ...]:
    """What timm's own pretrained loading does to a checkpoint, as state-dict filters.

    The architecture module's ``checkpoint_filter_fn`` (original-format keys,
    position-embedding resampling), first-conv adaptation when ``in_chans``
    differs, and dropping the classifier (zoo builds with ``num_classes=0``).
    """
    filters: list[Callable[[StateDict], StateDict]] = []
    filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    if filter_fn is not None:
        filters.append(lambda sd: filter_fn(sd, model))
    cfg = getattr(model, "pretrained_cfg", None) or {}
    expected = model.state_dict()

    def adapt_first_conv(sd: StateDict) -> StateDict:
        from timm.models import adapt_input_conv

        first = cfg.get("first_conv")
        for name in [first] if isinstance(first, str) else list(first or []):
            key = f"{name}.weight"
            if (
                key in sd
                and key in expected
                and sd[key].ndim == 4
                and sd[key].shape[1] != expected[key].shape[1]
            ):
                sd[key] = adapt_input_conv(expected[key].shape[1], sd[key])
        return sd

    def drop_classifier(sd: StateDict) -> StateDict:
        heads = cfg.get("classifier")
        heads = [heads] if isinstance(heads, str) else list(heads or [])
        return {
            k: v
            for k, v in sd.items()
            if k in expected or not any(k.startswith(h + ".") for h in heads)
        }

    filters += [adapt_first_conv, drop_classifier]
    return tuple(filters)


def build(manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
    """Build the timm model; with weights, on meta then assigned from the checkpoint."""
    kwargs = kwargs_for(manifest, ctx)
    ckpt = manifest.checkpoint if ctx.pretrained else None
    if ctx.meta:
        with meta_device():
            model = _create(manifest, kwargs, skip_init=True)
    elif ckpt is None:
        model = _create(manifest, kwargs)
    else:
        path = weights_path(manifest)
        with empty_parameters():
            model = _create(manifest, kwargs, skip_init=True)
        state = load_state_dict(path, ckpt, filters=timm_filters(model))
        if not ckpt.strict:
            missing = set(model.state_dict()) - set(state)
            if missing:  # parameters the checkpoint lacks need a real initialization
                model = _create(manifest, kwargs)
        assign(
            model, state, source=str(path), strict=ckpt.strict, dtype=ctx.dtype, device=ctx.device
        )
    set_pretrained_cfg(model, manifest)
    return model, TimmAdapter(model, manifest)


#: ``kwargs`` takes the caller's keyword arguments.
WRAPPER = WrapperType(build, merge_into="kwargs")


def set_pretrained_cfg(model: nn.Module, manifest: Manifest) -> None:
    """Replace the timm model's ``pretrained_cfg`` (which describes timm's default tag, e.g.
    ``augreg_in21k_ft_in1k``, whatever zoo loaded) by what the manifest says: its input and its
    weights; a timm tag keeps timm's own record of where that tag lives."""
    from zoo.loading.timm_cfg import pretrained_cfg

    base = dict(getattr(model, "pretrained_cfg", None) or {})
    ckpt = manifest.checkpoint
    if ckpt is not None and ckpt.timm is not None:
        tagged = _timm().models.get_pretrained_cfg(f"{_architecture(manifest)}.{ckpt.timm}")
        if tagged is not None:
            base.update({k: v for k, v in tagged.to_dict().items() if v is not None})
    cfg = pretrained_cfg(manifest, base)
    if ckpt is not None and ckpt.timm is not None:
        cfg.update({k: base[k] for k in ("hf_hub_id", "hf_hub_filename", "url") if base.get(k)})
    # Plain attributes of timm models (nn.Module's typing only knows tensors and modules).
    object.__setattr__(model, "pretrained_cfg", cfg)
    object.__setattr__(model, "default_cfg", cfg)
