"""``wrapper.type: monai`` — the encoder of a MONAI network (SwinUNETR, SegResNet, SegResEncoder).

The network is built by MONAI itself (``monai.networks.nets.<network>(**kwargs)``)
and its decoder modules are removed, so the module's state dict is the encoder's:
a checkpoint of the whole segmentation network loads strictly once ``remap``
keeps the encoder's keys. Each network has a recipe that runs its encoder and
returns its feature maps ``[B, C, d, h, w]``, shallow to deep, computing only the
levels asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zoo.errors import LoadError, UsageError, require
from zoo.loading.checkpoint import empty_parameters
from zoo.loading.wrappers._base import (
    Adapter,
    BuildContext,
    WrapperType,
    contract_mismatch,
    revalidate,
)
from zoo.loading.wrappers._generic import as_module, attach_weights, build_scope
from zoo.manifest import Manifest, MonaiWrapper, VolumeInputSpec


@dataclass(frozen=True)
class Encoder:
    """What a MONAI encoder returns: channels and stride of each level, and the size multiple."""

    channels: list[int]
    strides: list[int]
    multiple: int


def _nets() -> Any:
    return require("monai.networks.nets", package="monai", extra="monai", purpose="a MONAI network")


class MonaiAdapter(Adapter):
    """A MONAI encoder: feature maps by level; the embedding is pooled from them."""

    block_tokens = False  # maps are already [B, C, d, h, w]

    #: Modules of the full network that belong to the decoder (removed after building).
    decoder: tuple[str, ...] = ()
    #: The constructor takes ``out_channels`` (it sizes a decoder, removed after building).
    out_channels = True

    @staticmethod
    def describe(kwargs: dict[str, Any]) -> Encoder:
        """What the encoder built with these constructor arguments returns (no build needed)."""
        raise NotImplementedError

    def levels(self) -> int:
        """Number of feature levels of the built encoder."""
        raise NotImplementedError

    def dims(self) -> dict[str, int | None]:
        return {"blocks": self.levels()}


class SwinUNETRAdapter(MonaiAdapter):
    """SwinUNETR's encoder: ``encoder1(x)``, ``encoder2-4`` of Swin stages 0-2, Swin stage 3,
    ``encoder10`` of stage 4 — strides 1, 2, 4, 8, 16, 32 (as the network's own forward)."""

    decoder = ("decoder5", "decoder4", "decoder3", "decoder2", "decoder1", "out")

    @staticmethod
    def describe(kwargs: dict[str, Any]) -> Encoder:
        # MONAI's defaults: feature_size 24, patch_size 2; inputs divisible by patch_size ** 5.
        f, p = int(kwargs.get("feature_size", 24)), int(kwargs.get("patch_size", 2))
        return Encoder(
            channels=[f, f, 2 * f, 4 * f, 8 * f, 16 * f],
            strides=[1, p, 2 * p, 4 * p, 8 * p, 16 * p],
            multiple=p**5,
        )

    def levels(self) -> int:
        return 6

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        m = self.module
        wanted = set(indices)
        maps: dict[int, torch.Tensor] = {}
        if 0 in wanted:
            maps[0] = m.encoder1(x)
        if wanted - {0}:
            hidden = m.swinViT(x, m.normalize)
            heads = {
                1: (m.encoder2, 0),
                2: (m.encoder3, 1),
                3: (m.encoder4, 2),
                5: (m.encoder10, 4),
            }
            for level in wanted - {0}:
                block, stage = heads.get(level, (None, 3))
                maps[level] = block(hidden[stage]) if block is not None else hidden[stage]
        return [maps[i] for i in indices]


class SegResNetAdapter(MonaiAdapter):
    """SegResNet's encoder: ``convInit`` then one map per ``down_layers`` stage (strides 1, 2, 4...)."""

    decoder = ("up_layers", "up_samples", "conv_final")

    @staticmethod
    def describe(kwargs: dict[str, Any]) -> Encoder:
        # MONAI's defaults: init_filters 8, blocks_down (1, 2, 2, 4); stage i has 2**i * f channels.
        f, stages = int(kwargs.get("init_filters", 8)), len(kwargs.get("blocks_down", (1, 2, 2, 4)))
        return Encoder(
            channels=[f * 2**i for i in range(stages)],
            strides=[2**i for i in range(stages)],
            multiple=2 ** (stages - 1),
        )

    def levels(self) -> int:
        return len(self.module.down_layers)

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        m = self.module
        deepest = max(indices)
        h = m.convInit(x)
        if getattr(m, "dropout_prob", None) is not None and hasattr(m, "dropout"):
            h = m.dropout(h)
        maps: dict[int, torch.Tensor] = {}
        for level, stage in enumerate(m.down_layers):
            h = stage(h)
            maps[level] = h
            if level == deepest:
                break
        return [maps[i] for i in indices]


class SegResEncoderAdapter(MonaiAdapter):
    """SegResNetDS's encoder (``monai.networks.nets.segresnet_ds.SegResEncoder``): ``conv_init``,
    then each level's ``blocks`` is one map (strides 1, 2, 4...), its ``downsample`` leads on."""

    #: An encoder without a decoder: it takes no ``out_channels``.
    out_channels = False

    @staticmethod
    def describe(kwargs: dict[str, Any]) -> Encoder:
        # MONAI's defaults: init_filters 32, blocks_down (1, 2, 2, 4); level i has 2**i * f channels.
        for name, why in (
            ("anisotropic_scales", "changes the kernels and strides per axis"),
            ("head_module", "replaces the list of maps the encoder returns"),
        ):
            if kwargs.get(name) is not None:
                raise UsageError(
                    f"monai SegResEncoder: {name} {why}, which zoo's contract for it does not "
                    f"describe; remove wrapper.kwargs.{name}"
                )
        f, stages = (
            int(kwargs.get("init_filters", 32)),
            len(kwargs.get("blocks_down", (1, 2, 2, 4))),
        )
        return Encoder(
            channels=[f * 2**i for i in range(stages)],
            strides=[2**i for i in range(stages)],
            multiple=2 ** (stages - 1),
        )

    def levels(self) -> int:
        return len(self.module.layers)

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        m = self.module
        deepest = max(indices)
        h = m.conv_init(x)
        maps: dict[int, torch.Tensor] = {}
        for level, stage in enumerate(m.layers):
            h = stage["blocks"](h)
            maps[level] = h
            if level == deepest:
                break
            h = stage["downsample"](h)
        return [maps[i] for i in indices]


ADAPTERS: dict[str, type[MonaiAdapter]] = {
    "SwinUNETR": SwinUNETRAdapter,
    "SegResNet": SegResNetAdapter,
    "SegResEncoder": SegResEncoderAdapter,
}


def _network(nets: Any, name: str) -> Any:
    """The MONAI class: ``monai.networks.nets.<name>``, or the module that defines it there."""
    if name == "SegResEncoder":
        from monai.networks.nets.segresnet_ds import SegResEncoder

        return SegResEncoder
    return getattr(nets, name)


def check_declared(manifest: Manifest, encoder: Encoder) -> None:
    """Compare the manifest's feature levels, channels, strides and size multiple with what the
    network's arguments build.

    Raises:
        ContractError: Naming each field that disagrees.
    """
    out, grid = manifest.output, manifest.output.grid
    wrong: dict[str, str] = {}
    levels = len(encoder.channels)
    if out.feature_levels != levels:
        wrong["output.feature_levels"] = f"declared {out.feature_levels}, built {levels}"
    elif isinstance(out.feature_dim, list) and out.feature_dim != encoder.channels:
        wrong["output.feature_dim"] = f"declared {out.feature_dim}, built {encoder.channels}"
    if grid is not None:
        strides = [grid.stride_of(i) for i in range(len(grid.strides))]
        built = [(s, s, s) for s in encoder.strides]
        if out.feature_levels == levels and strides != built:
            wrong["output.grid.strides"] = f"declared {grid.strides}, built {encoder.strides}"
        multiple = (encoder.multiple,) * 3
        if grid.multiple_of() != multiple:
            wrong["output.grid.multiple"] = f"declared {grid.multiple}, built {encoder.multiple}"
    if wrong:
        raise contract_mismatch(manifest, wrong)


def build(manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
    """Build the network with MONAI, drop its decoder, attach the checkpoint (strict)."""
    wrapper = manifest.wrapper
    assert isinstance(wrapper, MonaiWrapper)
    nets = _nets()
    cls = _network(nets, wrapper.network)
    adapter_type = ADAPTERS[wrapper.network]
    kwargs = ctx.resolve(manifest, wrapper.kwargs, "wrapper.kwargs")
    if adapter_type.out_channels:
        kwargs.setdefault("out_channels", 1)  # sizes only the decoder, which is removed below
    spec = manifest.input
    assert isinstance(spec, VolumeInputSpec)  # the manifest's monai check: a volume input
    kwargs.setdefault("in_channels", spec.in_chans)
    check_declared(manifest, adapter_type.describe(kwargs))
    # MONAI's constructors call .item() on tensors, which torch.device("meta") refuses: build with
    # parameters on meta (no memory, no init) and move the few real buffers to meta afterwards.
    scope = empty_parameters() if ctx.meta else build_scope(manifest, ctx)
    with scope:
        try:
            network = cls(**kwargs)
        except TypeError as exc:
            raise UsageError(
                f"{manifest.name}: monai {wrapper.network} rejects its arguments: {exc}"
            ) from None
        except (ValueError, AssertionError) as exc:
            raise LoadError(
                f"{manifest.name}: building monai {wrapper.network} failed: {exc}"
            ) from None
    module = as_module(network, manifest, f"monai {wrapper.network}")
    for name in adapter_type.decoder:
        if hasattr(module, name):
            delattr(module, name)
    if ctx.meta:
        module.to("meta")
    attach_weights(module, manifest, ctx)
    return module, adapter_type(module, manifest)


def apply_overrides(manifest: Manifest, overrides: dict[str, Any]) -> Manifest:
    """A copy of the manifest whose wrapper, input channels and output contract follow the
    caller's constructor arguments (``in_channels``, ``feature_size``, ``init_filters``...).

    Raises:
        UsageError: The overrides make an invalid manifest.
    """
    if not overrides:
        return manifest
    wrapper = manifest.wrapper
    assert isinstance(wrapper, MonaiWrapper)
    kwargs = {**wrapper.kwargs, **overrides}
    data = manifest.model_dump()
    data["wrapper"]["kwargs"] = kwargs
    spec, out = data["input"], data["output"]
    channels = kwargs.get("in_channels", spec["channels"])
    if channels != spec["channels"]:
        spec["channels"] = channels
        if spec["mean"] is not None and len(spec["mean"]) != channels:
            spec["mean"] = spec["std"] = None  # per-channel statistics no longer apply
    encoder = ADAPTERS[wrapper.network].describe(kwargs)
    levels = len(encoder.channels)
    pool = [i for i in out["grid"]["pool"] if -levels <= i < levels] or [-1]
    out.update(feature_levels=levels, feature_dim=encoder.channels)
    out["grid"].update(strides=encoder.strides, multiple=encoder.multiple, pool=pool)
    if out["pooling"] == "mean":
        out["embedding_dim"] = sum(encoder.channels[i % levels] for i in pool)
    return revalidate(manifest, data, overrides)


class Monai(WrapperType):
    """A MONAI encoder: the caller's constructor arguments change the network, so the
    manifest's channels, levels and grid follow them (:func:`apply_overrides`)."""

    def overrides(self, manifest: Manifest, overrides: dict[str, Any]) -> Manifest:
        return apply_overrides(manifest, overrides)


WRAPPER = Monai(build)
