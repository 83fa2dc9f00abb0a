"""zoo: a declarative, manifest-driven catalogue of vision foundation-model backbones.

    >>> import zoo
    >>> zoo.Catalog().names()[:2]                                    # doctest: +SKIP
    >>> model = zoo.load("universal/vit_small_patch16_224_random")   # doctest: +SKIP

Importing zoo never imports torch; loading a model does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from zoo.catalog import Catalog
from zoo.errors import (
    ManifestError,
    ModelNotFoundError,
    WeightsNotAvailableError,
    ZooError,
)
from zoo.manifest import Manifest

if TYPE_CHECKING:
    from torch import nn

    from zoo.backbone import Backbone


def load(name: str, **kwargs: Any) -> nn.Module:
    """Build a model of the default catalogue; shortcut for ``Catalog().load(name, ...)``."""
    return Catalog().load(name, **kwargs)


def load_manifest(manifest: Manifest | str | Path, **kwargs: Any) -> nn.Module:
    """Build a model from a manifest object or a manifest file that need not be in a catalogue."""
    from zoo.pipeline import load_manifest as _load

    return _load(manifest, **kwargs)


def transforms(name_or_manifest: str | Path | Manifest) -> Any:
    """The evaluation transform (resize, crop, to tensor, normalize) of a model."""
    from zoo.preprocess import transforms as _transforms

    return _transforms(name_or_manifest)


def __getattr__(name: str) -> Any:
    # Backbone subclasses torch.nn.Module: imported on first use so `import zoo` stays torch-free.
    if name == "Backbone":
        from zoo.backbone import Backbone

        return Backbone
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


__all__ = [
    "Backbone",
    "Catalog",
    "Manifest",
    "ManifestError",
    "ModelNotFoundError",
    "WeightsNotAvailableError",
    "ZooError",
    "__version__",
    "load",
    "load_manifest",
    "transforms",
]
