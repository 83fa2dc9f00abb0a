"""Where catalogues live and which files in them are manifests (no pydantic, no YAML)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from zoo import settings
from zoo.errors import PathEscapeError
from zoo.text import unsafe_name

MANIFEST_SUFFIX = ".yaml"


def bundled_root() -> Path:
    """The catalogue shipped with zoo (inside the wheel, or the checkout's ``catalog/``)."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_data" / "catalog"
    return installed if installed.is_dir() else package.parent / "catalog"


def default_roots() -> list[Path]:
    """The bundled catalogue plus every folder in ``ZOO_CATALOG_PATH``."""
    return [bundled_root(), *settings.catalog_paths()]


def manifest_files(roots: Iterable[Path]) -> list[Path]:
    """Every ``*.yaml`` below the given roots (files are taken as they are), sorted per root."""
    files: list[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(sorted(p for p in root.rglob(f"*{MANIFEST_SUFFIX}") if p.is_file()))
    return files


def manifest_relative(manifest_file: Path, path: str | Path) -> tuple[Path, bool]:
    """Resolve a path written relative to a manifest's folder.

    Returns the resolved path (links followed) and whether it stays inside the
    catalogue root, ``<root>`` of ``<root>/<group>/<name>.yaml``.
    """
    base = manifest_file.resolve().parent
    resolved = (base / path).resolve()
    return resolved, resolved.is_relative_to(base.parent)


def inside(root: Path, name: str, *, what: str) -> Path:
    """``root / name``, checked to stay inside ``root`` before anything reads or writes it.

    Every path zoo builds from a manifest, a ``zoo.lock``, a server's header or a Hub listing
    goes through here: ``name`` is refused as written (absolute, `..`, backslash, empty
    segment: :func:`zoo.text.unsafe_name`) and once links are followed (it must resolve
    below ``root``). The path is returned as built (links not followed), for the caller.

    Raises:
        PathEscapeError: ``name`` would leave ``root``; the message names ``what`` it is.
    """
    why = unsafe_name(name)
    path = root / name
    if why is None:
        real, base = path.resolve(), root.resolve()
        if real == base or not real.is_relative_to(base):
            why = f"leads to {real}"
    if why is not None:
        raise PathEscapeError(f"{what} {name!r} {why}, outside {root}: refusing to use it")
    return path
