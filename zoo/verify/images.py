"""The images ``zoo verify`` compares on: the bundled tissue tiles, or a folder of the user's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, require

#: The bundled images (see ``images/SOURCES.md`` for where each comes from and its licence).
BUNDLED = Path(__file__).with_name("images")
EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})


@dataclass(frozen=True)
class Image:
    """One image file."""

    name: str
    path: Path

    def pil(self) -> Any:
        """The image, RGB."""
        pil = require("PIL.Image", package="pillow", extra="timm", purpose="zoo verify")
        with pil.open(self.path) as im:
            return im.convert("RGB")


def bundled_images(folder: Path = BUNDLED) -> list[Image]:
    """The image files of a folder (not recursive), sorted by name.

    Raises:
        UsageError: Not a folder, or no image in it.
    """
    if not folder.is_dir():
        raise UsageError(f"--images {folder}: not a folder")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not found:
        raise UsageError(
            f"--images {folder}: no image in it (looked for {', '.join(sorted(EXTENSIONS))})"
        )
    return [Image(p.name, p) for p in found]
