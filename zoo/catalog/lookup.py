"""One model's manifest as plain data, for ``zoo show``: timm names without pydantic or timm.

A ``timm/<architecture>[.<tag>]`` name that no manifest file defines is answered from the
timm index (:mod:`zoo.catalog.timm.index`), after checking the listing index
(:mod:`zoo.catalog.listing`) that no catalogue entry or alias claims it; everything else
is read and validated from its file.
"""

from __future__ import annotations

from typing import Any

from zoo.catalog import listing
from zoo.catalog.names import parse_ref
from zoo.catalog.timm import registry as timm_registry


def _claimed(name: str) -> bool:
    rows, _ = listing.summaries()
    return any(name == row["name"] or name in row["aliases"] for row in rows)


def describe(name: str) -> tuple[dict[str, Any], str | None]:
    """The manifest of a catalogue name, alias or timm name as ``model_dump(mode="json")`` gives
    it, and the file it was read from (``None``: derived from timm's registry).

    Raises:
        ModelNotFoundError: No such name (with suggestions).
        ManifestError: The entry's file is invalid.
    """
    ref = parse_ref(name)
    if ref.kind == "timm" and not _claimed(ref.text):
        return timm_registry.manifest_dump(ref.text), None
    from zoo.catalog.reader import Catalog

    manifest = Catalog().get(name)
    return manifest.model_dump(mode="json"), str(manifest.file)
