"""The load pipeline: manifest -> wrapper loader -> weights -> :class:`ZooModel`."""

from __future__ import annotations

from typing import Any

import torch

from zoo.catalog import requirements
from zoo.errors import MissingPackageError
from zoo.loading.devices import resolve_device
from zoo.loading.dtypes import torch_dtype
from zoo.loading.indices import resolve_out_indices
from zoo.loading.model import ZooModel
from zoo.loading.wrappers import WRAPPERS, Adapter, BuildContext
from zoo.loading.wrappers._base import contract_mismatch
from zoo.manifest import Manifest, TilesInputSpec


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


def build_model(
    manifest: Manifest,
    *,
    out_indices: Any = None,
    pretrained: bool = True,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    trust_remote_code: bool = False,
    meta: bool = False,
    overrides: dict[str, Any] | None = None,
) -> ZooModel:
    """Build a model from a manifest: the one build step under :func:`zoo.load` (which checks
    the keywords and resolves names, paths and mirrors first).

    The caller's ``overrides`` are written into a copy of the manifest by the wrapper type
    (:meth:`~zoo.loading.wrappers.WrapperType.overrides`); the wrapper type then builds from
    that manifest alone, in the mode decided here once: ``meta``, ``pretrained`` (a manifest
    with a checkpoint, asked for) or ``random``.
    """
    check_requirements(manifest)
    wrapper_type = WRAPPERS[manifest.wrapper.type]
    manifest = wrapper_type.overrides(manifest, dict(overrides or {}))
    blocks = resolve_out_indices(out_indices, manifest.output.feature_levels)
    target_dtype = parse_dtype(dtype) or torch_dtype(manifest.precision.default)
    target_device = resolve_device(device) if device is not None else None
    ctx = BuildContext(
        mode="meta"
        if meta
        else "pretrained"
        if pretrained and manifest.checkpoint is not None
        else "random",
        dtype=None if meta else target_dtype,
        device=target_device,
        trust_remote_code=trust_remote_code,
        trusted=trusted_modules(manifest, trust_remote_code),
    )
    backbone, adapter = wrapper_type.build(manifest, ctx)
    check_dims(manifest, adapter)
    backbone.eval()
    if not meta:
        backbone.to(device=target_device, dtype=target_dtype)
    if isinstance(manifest.input, TilesInputSpec):  # a slide encoder: zoo.loading.tiles
        from zoo.loading.tiles import TilesModel

        return TilesModel(backbone, adapter, manifest, out_indices, blocks)
    return ZooModel(backbone, adapter, manifest, out_indices, blocks)
