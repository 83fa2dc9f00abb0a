"""``wrapper.type: function`` — call an allowed dotted-path function that returns an ``nn.Module``."""

from __future__ import annotations

from torch import nn

from zoo.errors import ArgumentError
from zoo.loading.kwargs import did_you_mean, parameters
from zoo.loading.objects import import_object
from zoo.loading.wrappers._base import Adapter, BuildContext, WrapperType
from zoo.loading.wrappers._generic import adapter_for, as_module, attach_weights, build_scope
from zoo.manifest import FunctionWrapper, Manifest


def build(manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
    """Import ``wrapper.path`` (allow-listed) and call it with ``arguments`` plus the overrides."""
    wrapper = manifest.wrapper
    assert isinstance(wrapper, FunctionWrapper)
    purpose = f"{manifest.name}: wrapper.path"
    fn = import_object(wrapper.path, purpose=purpose, also=ctx.trusted)
    arguments = ctx.resolve(manifest, wrapper.arguments, "wrapper.arguments")
    with build_scope(manifest, ctx):
        try:
            module = as_module(fn(**arguments), manifest, wrapper.path)
        except TypeError as exc:
            hint = did_you_mean(exc, parameters(fn))
            raise ArgumentError(
                f"{manifest.name}: {wrapper.path} rejects its arguments: {exc}.{hint}"
            ) from None
    attach_weights(module, manifest, ctx)
    return module, adapter_for(module, manifest)


#: ``arguments`` takes the caller's keyword arguments.
WRAPPER = WrapperType(build, merge_into="arguments")
