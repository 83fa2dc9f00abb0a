"""The load pipeline: manifest -> wrapper loader -> weights -> :class:`ZooModel`."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from zoo.catalog import requirements
from zoo.catalog.parse import read_manifest
from zoo.errors import MissingPackageError, UsageError
from zoo.loading.devices import resolve_device
from zoo.loading.dtypes import torch_dtype
from zoo.loading.indices import resolve_out_indices
from zoo.loading.kwargs import LOAD_KEYWORDS, check_overrides
from zoo.loading.model import ZooModel
from zoo.loading.wrappers._base import (
    Adapter,
    BuildContext,
    Builder,
    contract_mismatch,
    transformers_config_overrides,
)
from zoo.manifest import Manifest, TimmWrapper, TransformersWrapper


def loader(wrapper_type: str) -> Builder:
    """The ``build`` function of a wrapper type (its module is imported now, not before)."""
    module = importlib.import_module(f"zoo.loading.wrappers.{wrapper_type}")
    return module.build


def parse_dtype(value: str | torch.dtype | None) -> torch.dtype | None:
    """``"bf16"``, ``"bfloat16"``, ``torch.bfloat16``... to a torch dtype (:mod:`zoo.loading.dtypes`,
    the parser the command line uses too)."""
    return torch_dtype(value)


def check_requirements(manifest: Manifest) -> None:
    """Refuse to build when a package the manifest ``requires`` is missing or too old.

    Raises:
        MissingPackageError: Naming the requirements and the install command.
    """
    missing = requirements.unmet(manifest)
    if missing:
        raise MissingPackageError(
            manifest.name,
            [u.requirement for u in missing],
            [f"{u.name} {u.installed}" for u in missing if u.installed is not None],
            requirements.install_command(missing),
        )


def trusted_modules(manifest: Manifest, trust_remote_code: bool) -> tuple[str, ...]:
    """The modules of the manifest's ``requires``, importable by path only on the caller's opt-in."""
    if not trust_remote_code:
        return ()
    return tuple(m for r in manifest.requires for m in requirements.modules_of(r))


def apply_overrides(manifest: Manifest, overrides: dict[str, Any]) -> Manifest:
    """A copy of the manifest that states what the overrides change (input size, channels)."""
    if not overrides:
        return manifest
    if manifest.wrapper.type == "monai":  # the contract follows the network's arguments
        from zoo.loading.wrappers.monai import apply_overrides as monai_overrides

        return monai_overrides(manifest, overrides)
    if manifest.wrapper.type == "onnx":
        raise UsageError(
            f"{manifest.name}: an onnx model takes no keyword overrides (got {', '.join(overrides)})"
        )
    spec = manifest.input.model_dump()
    if "dynamic_img_size" in overrides:
        spec["dynamic_size"] = bool(overrides["dynamic_img_size"])
    if "img_size" in overrides:
        size = overrides["img_size"]
        spec["size"] = [size, size] if isinstance(size, int) else list(size)
    if "in_chans" in overrides and overrides["in_chans"] != manifest.input.in_chans:
        n = overrides["in_chans"]
        # timm adapts a pretrained RGB stem by summing over channels; normalize with the mean statistics.
        spec["mean"] = [sum(spec["mean"]) / len(spec["mean"])] * n
        spec["std"] = [sum(spec["std"]) / len(spec["std"])] * n
        spec["channels"] = None
    wrapper = manifest.wrapper
    if isinstance(wrapper, TimmWrapper):
        wrapper = wrapper.model_copy(update={"kwargs": {**wrapper.kwargs, **overrides}})
    elif isinstance(wrapper, TransformersWrapper):
        config = {**wrapper.config, **transformers_config_overrides(overrides)}
        wrapper = wrapper.model_copy(update={"config": config})
    try:
        data = manifest.model_dump()
        data.update(input=spec, wrapper=wrapper.model_dump())
        updated = Manifest.model_validate(data)
    except ValueError as exc:
        raise UsageError(
            f"{manifest.name}: overrides {overrides} make the manifest invalid: {exc}"
        ) from None
    return updated.with_file(manifest.file)


#: Manifest field blamed for each dimension ``Adapter.dims`` reports.
_DIM_FIELDS = {
    "token_dim": "output.feature_dim",
    "embedding_dim": "output.embedding_dim",
    "prefix_tokens": "output.prefix_tokens",
    "patch_size": "output.patch_size",
    "projection_dim": "output.embedding_dim",
}


def check_dims(manifest: Manifest, adapter: Adapter) -> None:
    """Compare what the architecture says about itself with what the manifest declares."""
    actual = adapter.dims()
    out = manifest.output
    declared: dict[str, int | None] = {
        "token_dim": out.feature_dim
        if isinstance(out.feature_dim, int) and out.pooling != "pooler"
        else None,
        "embedding_dim": out.embedding_dim if out.pooling == "pooler" else None,
        "prefix_tokens": out.prefix_tokens if out.patch_size else None,
        "patch_size": out.patch_size,
        "projection_dim": out.embedding_dim if out.pooling == "projection" else None,
    }
    fields = dict(_DIM_FIELDS)
    if out.pooling in ("cls", "mean"):
        declared["token_dim"] = out.embedding_dim
        fields["token_dim"] = "output.embedding_dim"
    elif out.pooling == "cls+mean" and (width := actual.get("token_dim")):
        # Compare the concatenated width, so the message shows the number the manifest holds.
        actual = {**actual, "token_dim": 2 * width}
        declared["token_dim"] = out.embedding_dim
        fields["token_dim"] = "output.embedding_dim"
    wrong = {
        fields[key]: f"declared {want}, built {actual[key]}"
        for key, want in declared.items()
        if want is not None and actual.get(key) is not None and actual[key] != want
    }
    blocks = actual.get("blocks")
    if blocks is not None and out.feature_levels > blocks:
        wrong["output.feature_levels"] = f"declared {out.feature_levels}, built {blocks} blocks"
    if wrong:
        raise contract_mismatch(manifest, wrong)


def load_manifest(
    manifest: Manifest | str | Path,
    *,
    out_indices: Any = None,
    pretrained: bool = True,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    trust_remote_code: bool = False,
    meta: bool = False,
    **overrides: Any,
) -> ZooModel:
    """Build a model from its manifest.

    Args:
        manifest: A :class:`Manifest`, or the path of a manifest file.
        out_indices: ``None`` for embeddings ``[B, D]``; an int ``n`` for the last
            ``n`` feature maps; a sequence of block indices (negatives allowed).
        pretrained: Load the manifest's weights; ``False`` builds with random ones.
        device: Where to put the model.
        dtype: Floating dtype (default: the manifest's ``precision.default``).
        trust_remote_code: Allow code from the model's repository when the
            manifest declares it needs that.
        meta: Build on the meta device without weights (for contract checks).
        **overrides: Builder keyword arguments (``img_size``, ``dynamic_img_size``,
            ``in_chans``...). An argument the architecture does not take is an error.

    Returns:
        A :class:`ZooModel` in eval mode, carrying ``manifest``.
    """
    check_overrides(overrides, LOAD_KEYWORDS, "load_manifest")
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest, check_name=False)
    check_requirements(manifest)
    manifest = apply_overrides(manifest, overrides)
    blocks = resolve_out_indices(out_indices, manifest.output.feature_levels)
    target_dtype = parse_dtype(dtype) or torch_dtype(manifest.precision.default)
    target_device = resolve_device(device) if device is not None else None
    ctx = BuildContext(
        pretrained=pretrained and not meta,
        meta=meta,
        overrides=dict(overrides),
        dtype=None if meta else target_dtype,
        device=target_device,
        trust_remote_code=trust_remote_code,
        trusted=trusted_modules(manifest, trust_remote_code),
    )
    backbone, adapter = loader(manifest.wrapper.type)(manifest, ctx)
    check_dims(manifest, adapter)
    backbone.eval()
    if not meta:
        backbone.to(device=target_device, dtype=target_dtype)
    return ZooModel(backbone, adapter, manifest, out_indices, blocks)
