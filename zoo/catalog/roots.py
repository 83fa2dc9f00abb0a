"""Where catalogues live and which files in them are manifests (no pydantic, no YAML)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from zoo import settings

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
