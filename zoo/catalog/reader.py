"""The Catalog: the manifests under one or more roots, found by name, alias or pattern.

It reads; :meth:`Catalog.load` (the Python interface users were promised) hands the name to
the one load path, :func:`zoo.loading.api.load` (the one arrow up the house, named in
``tests/test_house.py``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.catalog.filters import select
from zoo.catalog.names import parse_ref
from zoo.catalog.parse import read_manifest
from zoo.catalog.roots import default_roots, manifest_files
from zoo.catalog.suggest import rank
from zoo.errors import DuplicateNameError, ManifestError, ModelNotFoundError
from zoo.manifest import Manifest
from zoo.problems import Problem

if TYPE_CHECKING:
    from zoo.loading.model import ZooModel


@dataclass
class Selection:
    """What a list of names and patterns selected: the manifests, and what matched nothing."""

    manifests: list[Manifest] = field(default_factory=list)
    unmatched: list[tuple[str, ModelNotFoundError | ManifestError]] = field(default_factory=list)


class Catalog:
    """The set of manifests under one or more catalogue roots.

    Args:
        paths: Catalogue roots. Default: the bundled catalogue plus every folder
            in ``ZOO_CATALOG_PATH``.

    Manifests are read on first use. Invalid files are kept aside in
    :attr:`problems` (``zoo validate`` reports them); looking one up by name
    raises its :class:`ManifestError`.
    """

    def __init__(self, paths: Sequence[str | Path] | None = None) -> None:
        self.roots = [Path(p) for p in paths] if paths is not None else default_roots()
        self._by_name: dict[str, Manifest] | None = None
        self._aliases: dict[str, str] = {}
        self._invalid: dict[str, ManifestError] = {}

    # -- discovery ---------------------------------------------------------------------------

    def _index(self) -> dict[str, Manifest]:
        if self._by_name is not None:
            return self._by_name
        by_name: dict[str, Manifest] = {}
        claimed: dict[str, str] = {}  # name or alias -> file that claims it
        for file in manifest_files(self.roots):
            try:
                manifest = read_manifest(file)
            except ManifestError as exc:
                self._invalid[f"{file.parent.name}/{file.stem}"] = exc
                continue
            for claim in (manifest.name, *manifest.aliases):
                if claim in claimed:
                    raise DuplicateNameError(claim, claimed[claim], str(file))
                claimed[claim] = str(file)
            by_name[manifest.name] = manifest
            self._aliases.update((alias, manifest.name) for alias in manifest.aliases)
        self._by_name = by_name
        return by_name

    @property
    def problems(self) -> list[Problem]:
        """Problems of the manifest files that failed to validate."""
        self._index()
        return [p for exc in self._invalid.values() for p in exc.problems]

    # -- queries -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every model name, sorted."""
        return sorted(self._index())

    def get(self, name: str) -> Manifest:
        """The manifest of a model, by name or alias.

        ``timm/<architecture>[.<tag>]`` names not defined by a file are derived
        from timm's registry (this imports timm).

        Raises:
            ModelNotFoundError: With close matches ("did you mean ...").
            ManifestError: The model's file exists but is invalid.
        """
        index = self._index()
        if name in index:
            return index[name]
        if name in self._aliases:
            return index[self._aliases[name]]
        if name.startswith("timm/"):  # reserved: no file may claim it (a file that does is invalid)
            from zoo.catalog.timm import registry as timm_registry

            return timm_registry.manifest_for(name)
        if name in self._invalid:
            raise self._invalid[name]
        raise ModelNotFoundError(name, self.suggest(name))

    def __contains__(self, name: object) -> bool:
        index = self._index()
        return isinstance(name, str) and (name in index or name in self._aliases)

    def __iter__(self) -> Iterator[Manifest]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._index())

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Names and aliases close to ``name``, closest first (:func:`zoo.catalog.suggest.rank`:
        also matching on the part after the group)."""
        return rank(name, [*self._index(), *self._aliases], limit=limit)

    def list(
        self,
        pattern: str | None = None,
        *,
        group: str | None = None,
        wrapper: str | None = None,
        tag: str | None = None,
        commercial: bool | None = None,
    ) -> list[Manifest]:
        """Manifests matching every filter given, sorted by name.

        Args:
            pattern: fnmatch pattern on the name (or an alias), e.g. ``pathology/kaiko_*``.
            group: Only this group.
            wrapper: Only this wrapper type.
            tag: Only manifests carrying this tag.
            commercial: ``True``: only commercially usable; ``False``: only non-commercial.
        """
        index = self._index()
        rows = [index[name].summary() for name in self.names()]
        chosen = select(rows, pattern, group=group, wrapper=wrapper, tag=tag, commercial=commercial)
        return [index[row["name"]] for row in chosen]

    def load(self, name: str | Path | Manifest, **kwargs: Any) -> ZooModel:
        """Build a model of this catalogue: :func:`zoo.load` with ``catalog=self`` (see it for
        the arguments and errors)."""
        from zoo.loading.api import load

        return load(name, catalog=self, **kwargs)

    def resolve(self, text: str | Path) -> Manifest:
        """The manifest a user means: a catalogue name or alias, ``timm/<arch>[.<tag>]``, or the
        path of a manifest file (read without requiring its name to match its path).

        Raises:
            ModelNotFoundError: No such name (with suggestions).
            ManifestError: The file (or the named entry's file) is invalid or unreadable.
        """
        ref = parse_ref(text)
        if ref.kind == "file":
            assert ref.path is not None
            return read_manifest(ref.path, check_name=False)
        return self.get(ref.text)

    def select(self, names: Sequence[str]) -> Selection:
        """Manifests by name, alias or fnmatch pattern (``pathology/*``, ``timm/eva02*``), each
        once, in the order asked; names and patterns that match nothing are listed, not raised."""
        chosen: dict[str, Manifest] = {}
        selection = Selection()
        for name in names:
            try:
                for m in self._matching(name):
                    chosen.setdefault(m.name, m)
            except (ModelNotFoundError, ManifestError) as exc:
                selection.unmatched.append((name, exc))
        selection.manifests = list(chosen.values())
        return selection

    def _matching(self, name: str) -> builtins.list[Manifest]:
        if not any(c in name for c in "*?["):
            return [self.get(name)]
        found = self.list(name)
        if name.startswith("timm/"):
            from zoo.catalog.timm import registry as timm_registry

            known = {m.name for m in found}
            found += [self.get(n) for n in timm_registry.names(name) if n not in known]
        if not found:
            raise ModelNotFoundError(name, self.suggest(name))
        return found
