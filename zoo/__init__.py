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

from zoo.errors import (
    ManifestError,
    ModelNotFoundError,
    WeightsNotAvailableError,
    ZooError,
)

if TYPE_CHECKING:
    from torch import nn

    from zoo.catalog.reader import Catalog
    from zoo.embed.reader import read_embeddings
    from zoo.loading.api import load
    from zoo.loading.backbone import Backbone
    from zoo.manifest import Manifest

#: Exported names imported on first use: Backbone, load and read_embeddings import torch; Catalog
#: and Manifest import pydantic, which a `zoo list` answered from the listing index never needs.
_LAZY = {
    "Backbone": "zoo.loading.backbone",
    "Catalog": "zoo.catalog.reader",
    "load": "zoo.loading.api",
    "Manifest": "zoo.manifest",
    "read_embeddings": "zoo.embed.reader",
}


def load_manifest(manifest: Manifest | str | Path, **kwargs: Any) -> nn.Module:
    """Build a model from a manifest object or a manifest file that need not be in a catalogue:
    :func:`zoo.load` with a path (see it for the arguments and errors)."""
    from zoo.loading.api import load
    from zoo.manifest import Manifest

    return load(manifest if isinstance(manifest, Manifest) else Path(manifest), **kwargs)


def transforms(name_or_manifest: str | Path | Manifest) -> Any:
    """The evaluation transform (resize, crop, to tensor, normalize) of a model."""
    from zoo.loading.preprocess import transforms as _transforms

    return _transforms(name_or_manifest)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
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
    "read_embeddings",
    "transforms",
]
