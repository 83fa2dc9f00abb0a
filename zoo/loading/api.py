"""The one public load path: :func:`load` (``zoo.load``).

Every way of getting a model goes through here: ``zoo.load``, ``zoo.load_manifest``,
``zoo.Catalog().load``, :class:`zoo.Backbone`, ``zoo load`` and ``zoo embed`` on the command
line, and eva's drop-ins in :mod:`zoo.compat.eva`. It checks the keywords once, resolves what
the caller named to a manifest, and hands it to the one build step
(:func:`zoo.loading.pipeline.build_model`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo.catalog.parse import read_manifest
from zoo.catalog.reader import Catalog
from zoo.loading.kwargs import check_overrides
from zoo.loading.pipeline import build_model
from zoo.manifest import Manifest
from zoo.weights.transport.mirror import use_mirror

if TYPE_CHECKING:
    from zoo.loading.model import ZooModel

#: The keywords of :func:`load`; any other keyword is a builder override.
LOAD_KEYWORDS = (
    "pretrained",
    "out_indices",
    "device",
    "dtype",
    "trust_remote_code",
    "mirror",
    "meta",
    "catalog",
)


def load(
    model: str | Path | Manifest,
    *,
    pretrained: bool = True,
    out_indices: int | tuple[int, ...] | list[int] | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    trust_remote_code: bool = False,
    mirror: str | Path | None = None,
    meta: bool = False,
    catalog: Catalog | None = None,
    **overrides: Any,
) -> ZooModel:
    """Build a model of the catalogue, in eval mode, with the output contract of DESIGN.md §3.

    Args:
        model: A catalogue name or alias (``pathology/mahmood_uni``), ``timm/<arch>[.<tag>]``,
            the path of a manifest file (its name need not match its path), or a
            :class:`~zoo.manifest.Manifest`.
        pretrained: Load the manifest's weights (verified against their declared sha256);
            ``False`` builds with random ones. A manifest without a checkpoint always builds
            randomly initialised.
        out_indices: ``None``: ``model(x)`` returns the embedding ``[B, D]``. An int ``n``: the
            last ``n`` feature maps. A sequence: those blocks (negatives count from the end).
        device: Where to put the model (``"cuda"``, ``"cpu"``, a ``torch.device``).
        dtype: Floating dtype (``"bf16"``, ``torch.float16``...; default: the manifest's
            ``precision.default``).
        trust_remote_code: Allow code from the model's repository (a ``hubconf.py``, a
            transformers repository's modules, a ``requires`` package's objects) when the
            manifest declares that it needs it. Nothing runs without both.
        mirror: A folder made by ``zoo pull --to`` to read the weights from, with the network
            off (default: ``ZOO_MIRROR``, if set).
        meta: Build on the ``meta`` device without weights (shapes only; for checks).
        catalog: The catalogue that resolves names (default: the bundled one plus
            ``ZOO_CATALOG_PATH``).
        **overrides: Builder keyword arguments (``img_size``, ``dynamic_img_size``,
            ``in_chans``, or a MONAI network's constructor arguments); the manifest's input and
            output contract follow them. A misspelt keyword of this call is an error with the
            keyword meant.

    Returns:
        A :class:`~zoo.loading.model.ZooModel` (a ``torch.nn.Module``) carrying ``manifest``.

    Raises:
        ArgumentError: A misspelt keyword (also a ``TypeError``).
        ModelNotFoundError: No such name (with suggestions; also a ``LookupError``).
        ManifestError: The manifest file is invalid (also a ``ValueError``).
        MissingExtraError, MissingPackageError: What it builds with is not installed (the
            message is the install command; also an ``ImportError``).
        TrustError: It runs repository code and ``trust_remote_code`` was not given, or names
            an object outside the allow-list.
        WeightsNotAvailableError, DownloadError, IntegrityError: The weights are not here and
            cannot be fetched, the host failed, or a file is not what its sha256 says.
        CheckpointMismatchError: The checkpoint does not fit the architecture (strict loading
            names the keys).
        ContractError: The built model disagrees with its manifest.
        UsageError: Overrides the wrapper type cannot take, or a bad ``out_indices``.
    """
    check_overrides(overrides, LOAD_KEYWORDS, "zoo.load")
    with use_mirror(mirror):
        manifest = resolve(model, catalog)
        return build_model(
            manifest,
            out_indices=out_indices,
            pretrained=pretrained,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            meta=meta,
            overrides=overrides,
        )


def resolve(model: str | Path | Manifest, catalog: Catalog | None = None) -> Manifest:
    """The manifest the caller means (a :class:`Manifest` as it is; a ``Path`` is a file)."""
    if isinstance(model, Manifest):
        return model
    if isinstance(model, Path):
        return read_manifest(model, check_name=False)
    return (catalog or Catalog()).resolve(model)
