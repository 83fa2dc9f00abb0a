"""The one parser of what users type to name a model.

Four forms, everywhere (CLI, Python, configs, environment variables):

- a catalogue name, ``<group>/<name>`` (``pathology/kaiko_vits16``), or one of its aliases;
- ``timm/<architecture>[.<tag>]``: any timm model, derived from timm's registry;
- the path of a manifest file (``my_models/vit.yaml``): anything ending in ``.yaml``/``.yml``,
  or an existing file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TIMM_PREFIX = "timm/"
MANIFEST_SUFFIXES = (".yaml", ".yml")
#: Name prefixes the parser gives a meaning of its own: a manifest name may not start with one.
RESERVED_PREFIXES = (TIMM_PREFIX,)


def reserved(name: str) -> str | None:
    """Why a manifest may not be called ``name`` (the parser would read it as something else)."""
    prefix = next((p for p in RESERVED_PREFIXES if name.startswith(p)), None)
    if prefix is not None:
        return f"the group {prefix.rstrip('/')!r} is reserved: {name!r} names a model of timm's registry"
    if name.endswith(MANIFEST_SUFFIXES):
        return f"{name!r} would be read as a manifest file: rename it"
    return None


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference.

    Attributes:
        text: What was typed.
        kind: ``catalogue`` (a name or alias), ``timm`` or ``file``.
        path: The manifest file (``file``).
        arch: timm's architecture (``timm``).
        tag: timm's pretrained tag, if given (``timm``).
    """

    text: str
    kind: Literal["catalogue", "timm", "file"]
    path: Path | None = None
    arch: str | None = None
    tag: str | None = None


def parse_ref(text: str | Path) -> ModelRef:
    """Tell a catalogue name, a timm name and a manifest file apart."""
    if isinstance(text, Path):
        return ModelRef(str(text), "file", path=text)
    raw = text.strip()
    if raw.endswith(MANIFEST_SUFFIXES) or (raw.count("/") != 1 and Path(raw).is_file()):
        return ModelRef(raw, "file", path=Path(raw).expanduser())
    if raw.startswith(TIMM_PREFIX):
        arch, _, tag = raw.removeprefix(TIMM_PREFIX).partition(".")
        return ModelRef(raw, "timm", arch=arch, tag=tag or None)
    return ModelRef(raw, "catalogue")
