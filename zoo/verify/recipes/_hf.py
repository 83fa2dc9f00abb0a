"""Shared pieces of the transformers recipes: a processor's output as one ``[C, H, W]`` tensor,
and the released layout of a transformers repository (a folder written by ``save_pretrained``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def processed(processor: Callable[[], Any]) -> Callable[[Any], Any]:
    """``preprocess``: ``processor()(images=image, return_tensors="pt").pixel_values[0]``."""

    def preprocess(image: Any) -> Any:
        return processor()(images=image.convert("RGB"), return_tensors="pt").pixel_values[0]

    return preprocess


def save_folder(net: Any, path: Path) -> None:
    """The repository's layout: config.json and model.safetensors (``save_pretrained``)."""
    net.save_pretrained(path, safe_serialization=True)


def load_folder(cls: Callable[[], Any]) -> Callable[[Any, Path], None]:
    """Load a repository folder with the authors' class (``cls().from_pretrained``), strictly."""

    def load(net: Any, path: Path) -> None:
        loaded = cls().from_pretrained(path)
        net.load_state_dict(loaded.state_dict(), strict=True)

    return load
