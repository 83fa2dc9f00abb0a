"""Find, parse and validate manifests; list, filter and look them up."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from zoo.catalogue._yaml import load_manifest_data, locate
from zoo.catalogue.listing import select
from zoo.catalogue.roots import default_roots, manifest_files
from zoo.errors import DuplicateNameError, ManifestError, ModelNotFoundError, Problem
from zoo.manifest import WRAPPER_TYPES, Manifest
from zoo.manifest._base import FieldError

if TYPE_CHECKING:
    from torch import nn


def _message(error: Any) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "field required"
    value = error.get("input")
    if (
        kind == "string_type"
        and error["loc"][-1:] == ("sha256",)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return f"{msg}: YAML read this sha256 as a number; put it in quotes"
    if kind == "extra_forbidden":
        return "unknown key (not part of the manifest format; check the spelling)"
    if kind == "union_tag_invalid":
        return f"unknown wrapper type {error['input'].get('type')!r}: expected one of {', '.join(WRAPPER_TYPES)}"
    if kind == "union_tag_not_found":
        return f"field required: type (one of {', '.join(WRAPPER_TYPES)})"
    return str(msg).removeprefix("Value error, ")


def _problems_from(exc: ValidationError, raw: bytes, file: str) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc = (*loc, *cause.loc)
        line, column = locate(raw, loc)
        path = ".".join(str(p) for p in loc)
        problems.append(Problem(file, path, _message(error), line, column, code=error["type"]))
    return problems


def parse_manifest(raw: bytes, file: str | Path, *, check_name: bool = True) -> Manifest:
    """Parse and validate one manifest's bytes.

    Args:
        raw: The file's content.
        file: Its path; with ``check_name`` the manifest's ``name`` must equal
            ``<folder>/<file stem>``.
        check_name: Enforce that the name matches the file path.

    Raises:
        ManifestError: With every problem, each naming file, field and line.
    """
    shown = str(file)
    data, problems = load_manifest_data(raw, shown)
    if problems:
        raise ManifestError(problems)
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_problems_from(exc, raw, shown)) from None
    path = Path(file)
    expected = f"{path.parent.name}/{path.stem}"
    if check_name and manifest.name != expected:
        line, column = locate(raw, ("name",))
        raise ManifestError(
            [
                Problem(
                    shown,
                    "name",
                    f"name {manifest.name!r} does not match the file path: expected {expected!r} "
                    f"(a manifest lives at <root>/<group>/<name>.yaml)",
                    line,
                    column,
                    code="name_mismatch",
                )
            ]
        )
    return manifest.with_file(path)


def read_bytes(path: Path) -> bytes:
    """A manifest file's bytes; an unreadable file is a :class:`ManifestError`."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ManifestError(
            [Problem(str(path), "", f"cannot read: {exc.strerror or exc}", code="io")]
        ) from None


def read_manifest(file: str | Path, *, check_name: bool = True) -> Manifest:
    """Read and validate a manifest file (see :func:`parse_manifest`)."""
    path = Path(file)
    return parse_manifest(read_bytes(path), path, check_name=check_name)


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
        if name in self._invalid:
            raise self._invalid[name]
        if name.startswith("timm/"):
            from zoo.catalogue import timm_registry

            return timm_registry.manifest_for(name)
        raise ModelNotFoundError(name, self.suggest(name))

    def __contains__(self, name: object) -> bool:
        index = self._index()
        return isinstance(name, str) and (name in index or name in self._aliases)

    def __iter__(self):
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._index())

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Names close to ``name`` (also matching on the part after the group)."""
        candidates = [*self._index(), *self._aliases]
        close = difflib.get_close_matches(name, candidates, n=limit, cutoff=0.6)
        if len(close) < limit:
            short = {c.split("/", 1)[-1]: c for c in candidates}
            tail = name.split("/", 1)[-1]
            for match in difflib.get_close_matches(tail, list(short), n=limit, cutoff=0.6):
                if short[match] not in close:
                    close.append(short[match])
        return close[:limit]

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

    # -- loading (imports torch) -------------------------------------------------------------

    def load(self, name: str, *, mirror: str | Path | None = None, **kwargs: Any) -> nn.Module:
        """Build a model by name; see :func:`zoo.load_manifest` for the arguments.

        ``mirror``: a folder made by ``zoo pull --to`` to read the weights from, with no
        network (default: ``ZOO_MIRROR``, if set).
        """
        from zoo.build.pipeline import load_manifest
        from zoo.weights.mirror import use_mirror

        with use_mirror(mirror):
            return load_manifest(self.get(name), **kwargs)
