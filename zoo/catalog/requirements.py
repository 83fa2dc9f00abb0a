"""A manifest's ``requires``: which of the Python packages it needs are missing here.

Answered from the installed distributions' metadata (:mod:`importlib.metadata`), so
nothing is imported: ``zoo doctor`` and ``zoo validate --build`` ask without running a
package's code, and a load asks before any builder is imported.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from zoo.manifest import Manifest


@dataclass(frozen=True)
class Unmet:
    """A requirement the environment does not satisfy.

    Attributes:
        requirement: As the manifest writes it (``musk>=1.0``).
        name: The distribution name.
        installed: The version installed, or ``None`` when the package is absent.
    """

    requirement: str
    name: str
    installed: str | None

    def __str__(self) -> str:
        found = "not installed" if self.installed is None else f"{self.installed} installed"
        return f"{self.requirement} ({found})"


def installed_version(name: str) -> str | None:
    """The installed version of a distribution, from its metadata; ``None`` when absent."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _satisfied(req: Requirement, version: str) -> bool:
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def unmet(manifest: Manifest) -> list[Unmet]:
    """The manifest's ``requires`` that are missing or installed in a version outside the range."""
    found = []
    for text in manifest.requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:  # the manifest's pattern already refuses these
            found.append(Unmet(text, text, None))
            continue
        version = installed_version(req.name)
        if version is None or not _satisfied(req, version):
            found.append(Unmet(text, req.name, version))
    return found


def install_command(missing: list[Unmet]) -> str:
    """``pip install 'a>=1' 'b'``: what installs every unmet requirement."""
    return "pip install " + " ".join(f"'{u.requirement}'" for u in missing)


def modules_of(requirement: str) -> tuple[str, ...]:
    """The top-level modules a required distribution provides (what its import paths start with).

    From the installed distribution's ``top_level.txt``, else the first folder or module of
    each Python file it installed; a package that is not installed provides the module of its
    canonical name with dashes as underscores (``my-pkg`` -> ``my_pkg``).
    """
    name = Requirement(requirement).name
    fallback = (canonicalize_name(name).replace("-", "_"),)
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return fallback
    listed = dist.read_text("top_level.txt")
    if listed:
        return tuple(sorted({line.strip() for line in listed.splitlines() if line.strip()}))
    tops: set[str] = set()
    for file in dist.files or ():
        parts = PurePosixPath(str(file)).parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or ".." in parts:
            continue
        if len(parts) > 1 or parts[0].endswith(".py"):
            tops.add(parts[0].removesuffix(".py"))
    return tuple(sorted(t for t in tops if t.isidentifier() and t != "__pycache__")) or fallback
