"""Which entries have a reference recipe (torch-free: ``zoo verify --list``)."""

from __future__ import annotations

from typing import Any

from zoo.catalog.reader import Catalog
from zoo.verify.recipe import gaps, recipes


def coverage(catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """One row per entry with weights: ``covered`` (its recipe's source and kind), ``gap`` (the
    reason) or ``missing``."""
    catalog = catalog or Catalog()
    found, declared = recipes(), gaps()
    rows = []
    for manifest in sorted(catalog, key=lambda m: m.name):
        if manifest.checkpoint is None:
            continue
        name = manifest.name
        if name in found:
            recipe = found[name]
            rows.append(
                {
                    "name": name,
                    "status": "covered",
                    "how": recipe.how,
                    "source": recipe.source,
                    "reason": recipe.note or None,
                }
            )
        elif name in declared:
            rows.append(
                {
                    "name": name,
                    "status": "gap",
                    "how": None,
                    "source": None,
                    "reason": declared[name].reason,
                }
            )
        else:
            rows.append(
                {"name": name, "status": "missing", "how": None, "source": None, "reason": None}
            )
    return rows


def changed_entries(base: str | None, catalog: Catalog | None = None) -> list[str]:
    """Entries with a recipe whose manifest or recipe module changed since ``base`` (git), for
    CI on a pull request.

    Raises:
        GitError: Not a git repository, or an unknown ref.
    """
    import sys
    from pathlib import Path

    from zoo.catalog import _git

    catalog = catalog or Catalog()
    changes = {p.resolve() for p in _git.changes_since(base, Path.cwd()).changed}
    found = []
    for name, recipe in sorted(recipes().items()):
        if name not in catalog:  # a catalogue without the bundled entries
            continue
        module = sys.modules.get(getattr(recipe.build, "__module__", ""))
        files = {catalog.get(name).file, getattr(module, "__file__", None)}
        if any(f is not None and Path(f).resolve() in changes for f in files):
            found.append(name)
    return found
