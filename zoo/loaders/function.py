"""``wrapper.type: function`` — call an allowed dotted-path function that returns an ``nn.Module``."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from zoo._imports import import_object, resolve_objects
from zoo.checkpoint import empty_parameters
from zoo.errors import UsageError
from zoo.loaders._base import Adapter, BuildContext
from zoo.loaders._generic import adapter_for, as_module, attach_weights
from zoo.manifest import FunctionWrapper, Manifest


def build(manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
    """Import ``wrapper.path`` (allow-listed) and call it with ``arguments`` plus the overrides."""
    wrapper = manifest.wrapper
    assert isinstance(wrapper, FunctionWrapper)
    purpose = f"{manifest.name}: wrapper.path"
    fn = import_object(wrapper.path, purpose=purpose)
    arguments = resolve_objects(
        dict(wrapper.arguments), purpose=f"{manifest.name}: wrapper.arguments"
    )
    arguments.update(ctx.overrides)
    weights = manifest.checkpoint is not None and ctx.pretrained and manifest.checkpoint.strict
    if ctx.meta:
        scope: contextlib.AbstractContextManager[None] = torch.device("meta")  # type: ignore[assignment]
    elif weights and not ctx.meta:
        scope = empty_parameters()
    else:
        scope = contextlib.nullcontext()
    with scope:
        try:
            module = as_module(fn(**arguments), manifest, wrapper.path)
        except TypeError as exc:
            raise UsageError(
                f"{manifest.name}: {wrapper.path} rejects its arguments: {exc}"
            ) from None
    attach_weights(module, manifest, ctx)
    return module, adapter_for(module, manifest)
