"""All of timm as ``timm/<architecture>[.<tag>]`` entries, derived from timm's registry on demand.

Nothing is written to disk but a small index (names and counts per timm
version) so that ``zoo list`` can show timm's summary row without importing
timm. Manifests are derived by building the architecture on the meta device.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import constants
from zoo.errors import MissingExtraError, ModelNotFoundError

if TYPE_CHECKING:
    # Imported where used: `zoo list` reads timm's summary row here without pydantic.
    from zoo.manifest import Manifest

PREFIX = "timm/"

#: timm's license strings -> (SPDX id, commercial use allowed).
_LICENSES = {
    "apache-2.0": ("Apache-2.0", True),
    "mit": ("MIT", True),
    "bsd-3-clause": ("BSD-3-Clause", True),
    "cc-by-4.0": ("CC-BY-4.0", True),
    "cc-by-nc-4.0": ("CC-BY-NC-4.0", False),
}


def installed_version() -> str | None:
    """timm's version, read from its ``version.py`` (neither timm nor importlib.metadata is imported)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        return None
    with contextlib.suppress(OSError):
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
        if found := re.search(r"""__version__\s*=\s*['"]([^'"]+)['"]""", text):
            return found[1]
    return None


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise MissingExtraError("timm", "timm", "timm/* models") from None
    return timm


def _index_path() -> Any:
    return constants.zoo_home() / f"timm-index-{installed_version()}.json"


def cached_counts() -> tuple[int, int] | None:
    """(architectures, pretrained tags) from the index of the installed timm version, if written."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(_index_path().read_text())
        return int(data["architectures"]), int(data["pretrained"])
    return None


def all_names() -> list[str]:
    """Every timm architecture and every ``architecture.tag`` with weights, prefixed ``timm/``."""
    timm = _timm()
    archs, tagged = timm.list_models(), timm.list_pretrained()
    with contextlib.suppress(OSError):
        path = _index_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"architectures": len(archs), "pretrained": len(tagged)}))
    return sorted(PREFIX + n for n in {*archs, *tagged})


def names(pattern: str | None = None) -> list[str]:
    """timm names matching an fnmatch pattern on the full ``timm/...`` name."""
    found = all_names()
    return [n for n in found if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def _split(name: str) -> tuple[str, str | None]:
    arch, _, tag = name.removeprefix(PREFIX).partition(".")
    return arch, tag or None


def _cfg(name: str) -> Any:
    timm = _timm()
    arch, tag = _split(name)
    if not timm.is_model(arch):
        close = [PREFIX + n for n in timm.list_models(f"*{arch[:6]}*")[:3]]
        raise ModelNotFoundError(name, close)
    if tag is None:
        return timm.models.get_pretrained_cfg(arch, allow_unregistered=True)
    known = [n.partition(".")[2] for n in timm.list_pretrained(f"{arch}.*")]
    if tag not in known:  # timm itself would raise RuntimeError("Invalid pretrained tag")
        raise _unknown_tag(name, arch, tag, known)
    return timm.models.get_pretrained_cfg(f"{arch}.{tag}")


def _unknown_tag(name: str, arch: str, tag: str, known: list[str]) -> ModelNotFoundError:
    """The error for ``timm/<arch>.<tag>`` when timm has no such tag: every tag it has."""
    random = f"{PREFIX}{arch} builds it with random weights"
    if not known:
        hint = f"timm's {arch} has no pretrained weights at all ({random})."
    else:
        hint = (
            f"timm's {arch} has no pretrained tag {tag!r}; its tags are: {', '.join(known)} "
            f"(write {PREFIX}{arch}.<tag>; {random})."
        )
    return ModelNotFoundError(name, [f"{PREFIX}{arch}.{t}" for t in known], hint=hint)


def summary(name: str) -> dict[str, Any]:
    """The ``zoo list`` row of a timm name, from its pretrained config alone (no build)."""
    cfg = _cfg(name)
    lic = _LICENSES.get(str(getattr(cfg, "license", "") or "").lower())
    weights = (
        "hf"
        if cfg is not None and cfg.hf_hub_id
        else ("url" if cfg is not None and cfg.url else "none")
    )
    size = list(cfg.input_size[1:]) if cfg is not None else None
    return {
        "name": name,
        "group": "timm",
        "wrapper": "timm",
        "source": "timm" if weights != "none" else "none",
        "embedding_dim": None,
        "input_size": size,
        "license": lic[0] if lic else (getattr(cfg, "license", None) or None),
        "commercial": lic[1] if lic else None,
        "gated": False,
        "tags": ["timm"],
        "aliases": [],
    }


def manifest_for(name: str) -> Manifest:
    """Derive a manifest for ``timm/<architecture>[.<tag>]``: timm's input config and license,
    the output contract read off the architecture built on the meta device, pooling ``pooler``
    (exactly timm's ``num_classes=0`` embedding)."""
    import torch

    timm = _timm()
    cfg = _cfg(name)
    arch, _ = _split(name)
    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False, num_classes=0)
    info = list(getattr(model, "feature_info", None) or [])
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    patch_size = patch[0] if isinstance(patch, (tuple, list)) else patch
    has_weights = cfg is not None and bool(cfg.hf_hub_id or cfg.url)
    lic = _LICENSES.get(str(getattr(cfg, "license", "") or "").lower())
    tag = getattr(cfg, "tag", None) if has_weights else None
    input_size = cfg.input_size if cfg is not None else (3, 224, 224)
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "description": (
            f"timm's {arch}{'.' + tag if tag else ''}, derived from timm {timm.__version__}'s registry "
            "(num_classes=0: the embedding is timm's own pre-logits output)."
        ),
        "tags": ["timm"],
        "wrapper": {"type": "timm", "architecture": arch},
        "input": {
            "size": list(input_size[1:]),
            "mean": list(cfg.mean) if cfg is not None else [0.485, 0.456, 0.406],
            "std": list(cfg.std) if cfg is not None else [0.229, 0.224, 0.225],
            "interpolation": cfg.interpolation
            if cfg is not None and cfg.interpolation in ("bicubic", "bilinear", "nearest")
            else "bicubic",
            "crop_pct": cfg.crop_pct if cfg is not None else 1.0,
            "crop_mode": cfg.crop_mode
            if cfg is not None and cfg.crop_mode in ("center", "squash", "border")
            else "center",
        },
        "output": {
            "embedding_dim": int(getattr(model, "head_hidden_size", None) or model.num_features),
            "pooling": "pooler",
            "prefix_tokens": int(getattr(model, "num_prefix_tokens", 0) or 0),
            "patch_size": patch_size,
            "feature_levels": len(info),
            "feature_dim": [int(f["num_chs"]) for f in info],
        },
    }
    if lic is not None:
        data["license"] = {"id": lic[0], "commercial": lic[1]}
    elif cfg is not None and cfg.license:
        data["license"] = {
            "id": "other",
            "commercial": False,
            "url": getattr(cfg, "origin_url", None),
        }
    if has_weights:
        data["checkpoint"] = {"timm": tag}
    from zoo.manifest import Manifest

    return Manifest.model_validate(data)


def pretrained_location(arch: str, tag: str) -> tuple[str, str, str | None]:
    """Where timm keeps the weights of ``<arch>.<tag>``: ``("hf", repo, filename or None)`` or
    ``("url", url, None)`` (imports timm).

    Raises:
        ModelNotFoundError: timm has no such architecture, or no such tag for it (the message
            lists the tags it has).
    """
    cfg = _cfg(f"{PREFIX}{arch}.{tag}")
    if cfg is not None and cfg.hf_hub_id:
        return "hf", str(cfg.hf_hub_id).split("@")[0], getattr(cfg, "hf_hub_filename", None)
    if cfg is not None and cfg.url:
        return "url", str(cfg.url), None
    raise ModelNotFoundError(f"{PREFIX}{arch}.{tag}", [])


def timm_imported() -> bool:
    """Whether timm is already imported (asking its registry then costs nothing)."""
    import sys

    return "timm" in sys.modules
