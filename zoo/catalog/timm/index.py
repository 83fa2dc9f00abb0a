"""timm's registry as one file under ``ZOO_HOME``, so timm names are known without importing timm.

Importing timm costs seconds (it imports torch); listing timm's names, checking a tag,
suggesting a close name, showing a derived manifest and locating a tag's weights should
not. The index holds, for the installed timm version, every architecture with its
pretrained tags and, per tag, the configuration fields zoo uses: where the weights are
(``hf_hub_id``/``hf_hub_filename`` or ``url``), the input (size, mean, std,
interpolation, crop), the license. It is written once per timm version,
``<ZOO_HOME>/index/timm-<version>.json``, atomically, by a child process (so that the
process asking never imports timm or torch), and a new timm version gets a new file.

What timm's registry cannot say without building a model, the output contract of an
architecture (embedding dim, prefix tokens, patch size, feature maps), is recorded in
the index the first time the architecture is built on the meta device
(:func:`record_dims`); building every one of timm's ~1,400 architectures up front takes
minutes.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import settings
from zoo.errors import MissingExtraError

#: Bump when what the index stores changes.
FORMAT = 1
PREFIX = "timm/"

#: The pretrained-config fields kept per tag (timm's names).
CFG_FIELDS = (
    "hf_hub_id",
    "hf_hub_filename",
    "url",
    "input_size",
    "mean",
    "std",
    "interpolation",
    "crop_pct",
    "crop_mode",
    "license",
    "origin_url",
)


def installed_version() -> str | None:
    """timm's version, read from its ``version.py`` (neither timm nor importlib.metadata is imported)."""
    try:
        spec = importlib.util.find_spec("timm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    with contextlib.suppress(OSError, StopIteration):
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
        if found := re.search(r"""__version__\s*=\s*['"]([^'"]+)['"]""", text):
            return found[1]
    return None


def index_path(version: str) -> Path:
    """The index file of a timm version."""
    return settings.zoo_home() / "index" / f"timm-{version}.json"


@dataclass
class TimmIndex:
    """The index of one timm version.

    Attributes:
        version: timm's version.
        archs: architecture -> ``{"tags": [...], "default": tag or None, "dims": {...} or None}``;
            ``tags`` lists every registered tag, ``default`` is the one an untagged name means.
        cfgs: ``<architecture>.<tag>`` -> the tag's pretrained-config fields (:data:`CFG_FIELDS`).
        path: The file it was read from or written to (``None``: not written).
    """

    version: str
    archs: dict[str, dict[str, Any]]
    cfgs: dict[str, dict[str, Any]]
    path: Path | None = None

    def has_weights(self, arch: str, tag: str) -> bool:
        """Whether ``<arch>.<tag>`` names downloadable weights."""
        cfg = self.cfgs.get(f"{arch}.{tag}") or {}
        return bool(cfg.get("hf_hub_id") or cfg.get("url"))

    def names(self, pattern: str | None = None) -> list[str]:
        """``timm/<arch>`` for every architecture and ``timm/<arch>.<tag>`` for every tag with
        weights (what ``timm.list_models()`` and ``timm.list_pretrained()`` name), sorted,
        matching an fnmatch pattern on the full name when given."""
        found = [PREFIX + a for a in self.archs]
        found += [
            f"{PREFIX}{a}.{t}"
            for a, e in self.archs.items()
            for t in e["tags"]
            if self.has_weights(a, t)
        ]
        return sorted(n for n in found if pattern is None or fnmatch.fnmatchcase(n, pattern))

    def tags(self, arch: str, *, weights_only: bool = False) -> list[str]:
        """The registered tags of an architecture (only those with weights: in the order
        ``timm.list_pretrained()`` gives them)."""
        entry = self.archs.get(arch)
        tags = list(entry["tags"]) if entry else []
        if weights_only:
            tags = sorted((t for t in tags if self.has_weights(arch, t)), key=_natural)
        return tags

    def resolve_tag(self, arch: str, tag: str | None) -> str | None:
        """The tag a name means: the one given, else the architecture's default (``None``: none)."""
        return tag if tag is not None else (self.archs.get(arch) or {}).get("default")

    def cfg(self, arch: str, tag: str | None) -> dict[str, Any] | None:
        """The pretrained-config fields of ``<arch>.<tag>`` (the default tag when ``tag`` is None)."""
        chosen = self.resolve_tag(arch, tag)
        return self.cfgs.get(f"{arch}.{chosen}") if chosen is not None else None

    def dims(self, arch: str) -> dict[str, Any] | None:
        """The output contract recorded for an architecture built with default arguments."""
        entry = self.archs.get(arch)
        return entry.get("dims") if entry else None

    def counts(self) -> tuple[int, int]:
        """(architectures, tags with weights)."""
        tagged = sum(self.has_weights(a, t) for a, e in self.archs.items() for t in e["tags"])
        return len(self.archs), tagged

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "timm": self.version, "archs": self.archs, "cfgs": self.cfgs}


def _natural(text: str) -> list[Any]:
    """timm's sort key of names (numbers by value): ``in1k`` before ``in12k``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower())]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def collect() -> TimmIndex:
    """Read timm's registry (imports timm)."""
    try:
        import timm
    except ImportError:
        raise MissingExtraError("timm", "timm", "timm/* names") from None
    from timm.models import get_arch_pretrained_cfgs, get_pretrained_cfg

    archs: dict[str, dict[str, Any]] = {}
    cfgs: dict[str, dict[str, Any]] = {}
    for arch in timm.list_models():
        tags: list[str] = []
        for full, cfg in get_arch_pretrained_cfgs(arch).items():
            _, _, tag = full.partition(".")
            tags.append(tag)
            fields = {k: _plain(getattr(cfg, k, None)) for k in CFG_FIELDS}
            cfgs[f"{arch}.{tag}"] = {k: v for k, v in fields.items() if v is not None}
        default = get_pretrained_cfg(arch)
        default_tag = getattr(default, "tag", None) if default is not None else None
        archs[arch] = {"tags": tags, "default": default_tag or None, "dims": None}
    return TimmIndex(str(timm.__version__), archs, cfgs)


def _from_dict(data: Any, path: Path | None = None) -> TimmIndex | None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    archs, cfgs, version = data.get("archs"), data.get("cfgs"), data.get("timm")
    if not isinstance(archs, dict) or not isinstance(cfgs, dict) or not isinstance(version, str):
        return None
    return TimmIndex(version, archs, cfgs, path)


#: Indexes already read in this process, by file, with the modification time they were read at.
_READ: dict[Path, tuple[int, TimmIndex]] = {}


def read(version: str | None = None) -> TimmIndex | None:
    """The index of the installed timm version (or of ``version``), if it is written and readable."""
    version = version or installed_version()
    if version is None:
        return None
    path = index_path(version)
    try:
        stamp = path.stat().st_mtime_ns
        if (cached := _READ.get(path)) is not None and cached[0] == stamp:
            return cached[1]
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    index = _from_dict(data, path)
    if index is None or index.version != version:
        return None
    _READ[path] = (stamp, index)
    return index


def write(index: TimmIndex) -> bool:
    """Write atomically (a reader sees the old file or the new one); False when it cannot be written."""
    path = index_path(index.version)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(index.to_dict(), separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    index.path = path
    return True


def _collect_in_child() -> TimmIndex | None:
    """Collect in a child process, so that this one imports neither timm nor torch."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "zoo.catalog.timm.index"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    try:
        return _from_dict(json.loads(proc.stdout))
    except ValueError:
        return None


def load() -> TimmIndex:
    """The index of the installed timm version, built (and written) first when there is none.

    Raises:
        MissingExtraError: timm is not installed.
    """
    version = installed_version()
    if version is None:
        raise MissingExtraError("timm", "timm", "timm/* names")
    found = read(version)
    if found is not None:
        return found
    # A process that has imported timm already reads the registry itself (it costs nothing more).
    index = None if "timm" in sys.modules else _collect_in_child()
    if index is None or index.version != version:
        index = collect()
    write(index)
    return index


def record_dims(arch: str, dims: dict[str, Any]) -> None:
    """Remember the output contract of an architecture built with default arguments.

    Best effort: a ``ZOO_HOME`` that cannot be written, or another process writing at the
    same time, costs one more meta build later, never a failure.
    """
    index = read()
    if index is None or arch not in index.archs or index.archs[arch].get("dims") == dims:
        return
    index.archs[arch]["dims"] = dims
    write(index)


def main() -> int:
    """``python -m zoo.catalog.timm.index``: print the index of the installed timm as JSON."""
    sys.stdout.write(json.dumps(collect().to_dict(), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
