"""The catalogue that also builds: ``zoo.Catalog().load(name)`` and ``zoo.load(name)``.

:class:`zoo.catalog.reader.Catalog` finds manifests; this subclass adds loading, which
needs the weights layer and the builders above it. Importing this module imports no torch;
loading does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.catalog import reader as catalog
from zoo.weights.transport.mirror import use_mirror

if TYPE_CHECKING:
    from zoo.loading.model import ZooModel


class Catalog(catalog.Catalog):
    """The manifests under one or more catalogue roots, and the models they build.

    Args:
        paths: Catalogue roots. Default: the bundled catalogue plus every folder in
            ``ZOO_CATALOG_PATH``.
    """

    def load(
        self, name: str | Path, *, mirror: str | Path | None = None, **kwargs: Any
    ) -> ZooModel:
        """Build a model by name, alias, ``timm/<arch>[.<tag>]`` or manifest file; see
        :func:`zoo.load_manifest` for the arguments.

        ``mirror``: a folder made by ``zoo pull --to`` to read the weights from, with no
        network (default: ``ZOO_MIRROR``, if set).
        """
        from zoo.loading.kwargs import LOAD_KEYWORDS, check_overrides
        from zoo.loading.pipeline import load_manifest

        check_overrides(kwargs, (*LOAD_KEYWORDS, "mirror"), "Catalog.load")
        with use_mirror(mirror):
            return load_manifest(self.resolve(name), **kwargs)


def load(name: str | Path, **kwargs: Any) -> ZooModel:
    """Build a model of the default catalogue (or from a manifest file)."""
    return Catalog().load(name, **kwargs)
