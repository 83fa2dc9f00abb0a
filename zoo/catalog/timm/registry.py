"""All of timm as ``timm/<architecture>[.<tag>]`` entries, derived from timm's registry.

Names, tags and pretrained configurations come from the index of the installed timm
(:mod:`zoo.catalog.timm.index`), so listing, showing, checking a tag and suggesting a
close name import neither timm nor torch. A derived manifest's output contract is read
off the architecture built on the meta device, once per architecture (then kept in the
index), or every time when the caller changes the architecture with keyword arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.catalog.suggest import rank
from zoo.catalog.timm import index as timm_index
from zoo.catalog.timm.index import PREFIX, TimmIndex, installed_version
from zoo.errors import ModelNotFoundError, TagNotFoundError

if TYPE_CHECKING:
    # Imported where used: `zoo list` and `zoo show` of timm names run without pydantic.
    from zoo.manifest import Manifest

#: timm's license strings -> (SPDX id, commercial use allowed).
_LICENSES = {
    "apache-2.0": ("Apache-2.0", True),
    "mit": ("MIT", True),
    "bsd-3-clause": ("BSD-3-Clause", True),
    "cc-by-4.0": ("CC-BY-4.0", True),
    "cc-by-nc-4.0": ("CC-BY-NC-4.0", False),
}

_INTERPOLATIONS = ("bicubic", "bilinear", "nearest")
_CROP_MODES = ("center", "squash", "border")
_IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

__all__ = [
    "PREFIX",
    "cached_counts",
    "check",
    "installed_version",
    "manifest_data",
    "manifest_dump",
    "manifest_for",
    "names",
    "pretrained_location",
    "summary",
]


def cached_counts() -> tuple[int, int] | None:
    """(architectures, pretrained tags) from the index of the installed timm version, if written."""
    index = timm_index.read()
    return index.counts() if index is not None else None


def names(pattern: str | None = None) -> list[str]:
    """timm names matching an fnmatch pattern on the full ``timm/...`` name (all when None)."""
    return timm_index.load().names(pattern)


def split(name: str) -> tuple[str, str | None]:
    """``timm/<arch>[.<tag>]`` -> ``(arch, tag or None)``."""
    arch, _, tag = name.removeprefix(PREFIX).partition(".")
    return arch, tag or None


def check(name: str) -> tuple[TimmIndex, str, str | None]:
    """The index, the architecture and the tag (the default one when none is given) of a timm name.

    Raises:
        ModelNotFoundError: timm has no such architecture; the closest names are suggested.
        TagNotFoundError: The architecture has no such tag; its tags are listed, the closest named.
    """
    index = timm_index.load()
    arch, tag = split(name)
    if arch not in index.archs:
        close = rank(PREFIX + arch, [PREFIX + a for a in index.archs], limit=3)
        if tag is not None:
            close = [f"{c}.{tag}" if tag in index.tags(split(c)[0]) else c for c in close]
        raise ModelNotFoundError(name, close)
    tags = index.tags(arch, weights_only=True)
    if tag is not None and tag not in tags:
        # timm itself would raise RuntimeError("Invalid pretrained tag"); list what there is.
        closest = next(iter(rank(tag, tags, limit=1)), None)
        raise TagNotFoundError(name, arch, tag, tags, closest, _tag_hint(arch, tag, tags, closest))
    return index, arch, index.resolve_tag(arch, tag)


def _tag_hint(arch: str, tag: str, tags: list[str], closest: str | None) -> str:
    random = f"{PREFIX}{arch} builds it with random weights"
    if not tags:
        return f"timm's {arch} has no pretrained weights at all ({random})."
    hint = (
        f"timm's {arch} has no pretrained tag {tag!r}; its tags are: {', '.join(tags)} "
        f"(write {PREFIX}{arch}.<tag>; {random})."
    )
    return hint + (f" Did you mean '{PREFIX}{arch}.{closest}'?" if closest else "")


def summary(name: str) -> dict[str, Any]:
    """The ``zoo list`` row of a timm name, from the index alone (no build)."""
    index, arch, tag = check(name)
    cfg = index.cfg(arch, tag) or {}
    lic = _LICENSES.get(str(cfg.get("license") or "").lower())
    weights = "hf" if cfg.get("hf_hub_id") else ("url" if cfg.get("url") else "none")
    size = list(cfg["input_size"][1:]) if cfg.get("input_size") else None
    dims = index.dims(arch) or {}
    return {
        "name": name,
        "group": "timm",
        "wrapper": "timm",
        "source": "timm" if weights != "none" else "none",
        "embedding_dim": dims.get("embedding_dim"),
        "input_size": size,
        "mpp": None,
        "mpp_basis": None,
        "license": lic[0] if lic else (cfg.get("license") or None),
        "commercial": lic[1] if lic else None,
        "gated": False,
        "tags": ["timm"],
        "aliases": [],
        "pooling": "pooler",
        "prefix_tokens": dims.get("prefix_tokens"),
        "patch_size": dims.get("patch_size"),
        "same_weights_as": None,
        "kind": "image",
        "pairs_with": [],
    }


def _build_dims(arch: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The output contract of ``arch`` built on the meta device (imports torch and timm)."""
    import torch

    try:
        import timm
    except ImportError:
        from zoo.errors import MissingExtraError

        raise MissingExtraError("timm", "timm", "timm/* models") from None
    from zoo.errors import ArgumentError

    try:
        with torch.device("meta"):
            model = timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
    except TypeError as exc:
        raise ArgumentError(f"timm/{arch}: {arch} rejects its keyword arguments: {exc}") from None
    found: Any = model  # a timm model: its attributes are timm's, not nn.Module's
    info = list(getattr(found, "feature_info", None) or [])
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    return {
        "embedding_dim": int(getattr(found, "head_hidden_size", None) or found.num_features),
        "prefix_tokens": int(getattr(model, "num_prefix_tokens", 0) or 0),
        "patch_size": int(patch[0]) if isinstance(patch, (tuple, list)) else patch,
        "feature_levels": len(info),
        "feature_dim": [int(f["num_chs"]) for f in info],
    }


def manifest_data(name: str, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of ``timm/<architecture>[.<tag>]`` as the plain data a manifest file would
    hold: timm's input config and license, pooling ``pooler`` (exactly timm's ``num_classes=0``
    embedding) and the output contract of the architecture (built with ``kwargs``, which change
    it, e.g. ``depth``; recorded in the index when there are none).

    Raises:
        ModelNotFoundError: No such architecture or tag (with suggestions).
    """
    index, arch, tag = check(name)
    cfg = index.cfg(arch, tag)
    dims = None if kwargs else index.dims(arch)
    if dims is None:
        dims = _build_dims(arch, dict(kwargs or {}))
        if not kwargs:
            timm_index.record_dims(arch, dims)
    has_weights = tag is not None and index.has_weights(arch, tag)
    lic = _LICENSES.get(str((cfg or {}).get("license") or "").lower())
    cfg = cfg or {}
    size = cfg.get("input_size") or [3, 224, 224]
    shown = f"{arch}.{tag}" if has_weights else arch
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "description": (
            f"timm's {shown}, derived from timm {index.version}'s registry "
            "(num_classes=0: the embedding is timm's own pre-logits output)."
        ),
        "tags": ["timm"],
        "wrapper": {"type": "timm", "architecture": arch},
        "input": {
            "size": list(size[1:]),
            "mean": list(cfg.get("mean") or _IMAGENET[0]),
            "std": list(cfg.get("std") or _IMAGENET[1]),
            "interpolation": cfg.get("interpolation")
            if cfg.get("interpolation") in _INTERPOLATIONS
            else "bicubic",
            "crop_pct": cfg.get("crop_pct", 1.0) if cfg else 1.0,
            "crop_mode": cfg.get("crop_mode") if cfg.get("crop_mode") in _CROP_MODES else "center",
        },
        "output": {"pooling": "pooler", **dims},
    }
    if lic is not None:
        data["license"] = {"id": lic[0], "commercial": lic[1]}
    elif cfg.get("license"):
        data["license"] = {"id": "other", "commercial": False, "url": cfg.get("origin_url")}
    if has_weights:
        data["checkpoint"] = {"timm": tag}
    return data


def manifest_for(name: str, kwargs: dict[str, Any] | None = None) -> Manifest:
    """:func:`manifest_data` as a validated :class:`~zoo.manifest.Manifest`."""
    from zoo.manifest import Manifest

    return Manifest.model_validate(manifest_data(name, kwargs))


def manifest_dump(name: str) -> dict[str, Any]:
    """What ``manifest_for(name).model_dump(mode="json")`` gives, without pydantic: every field,
    defaults included, for ``zoo show`` (a test keeps the two equal)."""
    data = manifest_data(name)
    lic = data.get("license")
    ckpt = data.get("checkpoint")
    inp = data["input"]
    return {
        "schema_version": 1,
        "name": data["name"],
        "aliases": [],
        "description": data["description"],
        "tags": list(data["tags"]),
        "license": {"url": None, **lic} if lic else None,
        "paper": None,
        "gated": False,
        "wrapper": {**data["wrapper"], "kwargs": {}},
        "requires": [],
        "checkpoint": {
            "path": None,
            "url": None,
            "hf": None,
            "timm": ckpt["timm"],
            "sha256": None,
            "md5": None,
            "format": "auto",
            "key": None,
            "remap": {"strip_prefix": [], "rename": {}, "drop": [], "keep": []},
            "strict": True,
        }
        if ckpt
        else None,
        "input": {
            "size": inp["size"],
            "mean": [float(v) for v in inp["mean"]],
            "std": [float(v) for v in inp["std"]],
            "channels": None,
            "interpolation": inp["interpolation"],
            "crop_pct": float(inp["crop_pct"]),
            "crop_mode": inp["crop_mode"],
            "pad_fill": "mean",
            "crop_offset": "round",
            "resize_on": "image",
            "dynamic_size": False,
            "mpp": None,
        },
        "output": {
            "embedding_dim": data["output"]["embedding_dim"],
            "pooling": "pooler",
            "prefix_tokens": data["output"]["prefix_tokens"],
            "patch_size": data["output"]["patch_size"],
            "feature_levels": data["output"]["feature_levels"],
            "feature_dim": data["output"]["feature_dim"],
            "grid": None,
        },
        "precision": {"default": "float32", "safe": ["float32"]},
        "metrics": {},
        "pairs_with": [],
        "same_weights_as": None,
        "known_gaps": {},
    }


def pretrained_location(arch: str, tag: str) -> tuple[str, str, str | None]:
    """Where timm keeps the weights of ``<arch>.<tag>``: ``("hf", repo, filename or None)`` or
    ``("url", url, None)``, from the index (timm is not imported when the index exists).

    Raises:
        ModelNotFoundError: timm has no such architecture, or no such tag for it (the message
            lists the tags it has), or the tag has no weights.
    """
    index, arch, chosen = check(f"{PREFIX}{arch}.{tag}")
    cfg = index.cfg(arch, chosen) or {}
    if cfg.get("hf_hub_id"):
        return "hf", str(cfg["hf_hub_id"]).split("@")[0], cfg.get("hf_hub_filename")
    if cfg.get("url"):
        return "url", str(cfg["url"]), None
    raise ModelNotFoundError(f"{PREFIX}{arch}.{tag}", [])
