"""The root of the tree and the catalogue's errors: names, manifests, extras."""

from __future__ import annotations

from collections.abc import Sequence

from zoo.problems import Problem


class ZooError(Exception):
    """Base class of every error zoo raises on purpose."""


class ManifestError(ZooError, ValueError):
    """A manifest file is unreadable or invalid.

    Attributes:
        problems: Every problem found, each with file, field path and line.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        head = f"{len(lines)} problem(s) in manifest" if len(lines) > 1 else "invalid manifest"
        super().__init__(f"{head}:\n" + "\n".join(f"  {line}" for line in lines))


class DuplicateNameError(ZooError, ValueError):
    """Two manifests (or aliases) claim the same name."""

    def __init__(self, name: str, first: str, second: str) -> None:
        self.name, self.first, self.second = name, first, second
        super().__init__(
            f"model name {name!r} is defined twice: in {first} and in {second}. "
            "Rename one of them or remove it from ZOO_CATALOG_PATH."
        )


class ModelNotFoundError(ZooError, LookupError):
    """No model of that name in the catalogue."""

    def __init__(self, name: str, suggestions: Sequence[str] = (), *, hint: str = "") -> None:
        self.name = name
        self.suggestions = list(suggestions)
        msg = f"no model named {name!r} in the catalogue."
        if hint:
            msg += f" {hint}"
        elif self.suggestions:
            msg += " Did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        else:
            msg += " Run `zoo list` to see the available names."
        super().__init__(msg)


class TagNotFoundError(ModelNotFoundError):
    """timm has the architecture (``arch``) but not the tag (``tag``); ``tags``: those it has with
    weights (``suggestions`` names them), ``closest``: the one most like ``tag``, if any."""

    def __init__(
        self, name: str, arch: str, tag: str, tags: Sequence[str], closest: str | None, hint: str
    ) -> None:
        self.arch, self.tag, self.tags, self.closest = arch, tag, list(tags), closest
        super().__init__(name, [f"timm/{arch}.{t}" for t in self.tags], hint=hint)


class MissingExtraError(ZooError, ImportError):
    """An optional dependency needed for this operation is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package, self.extra = package, extra
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'zoo-backbones[{extra}]'"
        )


class MissingPackageError(ZooError, ImportError):
    """A package the manifest ``requires`` (beyond zoo's extras) is missing or too old.

    Attributes:
        model: The model's name.
        requirements: The unmet requirements, as the manifest writes them.
        found: What is installed instead (``name version``), one per requirement installed at all.
        command: The command that installs them.
    """

    def __init__(
        self, model: str, requirements: Sequence[str], found: Sequence[str], command: str
    ) -> None:
        self.model, self.requirements = model, list(requirements)
        self.found, self.command = list(found), command
        have = f" (installed: {', '.join(self.found)})" if self.found else ""
        super().__init__(
            f"{model} needs {', '.join(self.requirements)}{have}, beyond zoo's extras. "
            f"Install with: {command}"
        )
