"""``zoo doctor``: can these models load here, now? A preflight that never touches the network.

For each model: the wrapper type and whether its extra is installed, where the
weights are (mirrored, cached, local, missing), whether they are gated and a
token is present. Nothing is imported to find out (``importlib.util.find_spec``
only), so the doctor never imports torch, and nothing is hashed or downloaded.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from zoo import constants
from zoo.errors import WeightsNotAvailableError
from zoo.manifest import HfLocation, Manifest
from zoo.weights import hub, mirror

#: wrapper type -> (extra to install, top-level modules it needs)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "timm": ("timm", ("torch", "safetensors", "timm")),
    "transformers": ("transformers", ("torch", "safetensors", "transformers")),
    "onnx": ("onnx", ("torch", "onnxruntime")),
    "torchhub": ("torch", ("torch", "safetensors")),
    "function": ("torch", ("torch", "safetensors")),
}

#: Weights states that a load can use without network (``missing`` and ``unknown`` need it).
AVAILABLE = ("mirrored", "cached", "local", "none")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def hf_token_present() -> bool:
    """Whether huggingface_hub finds a token (``HF_TOKEN`` or its token file); the token is not read out."""
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover - a base dependency
        return False
    return get_token() is not None


def weights_state(manifest: Manifest, active: mirror.Mirror | None) -> tuple[str, str | None]:
    """Where a manifest's weights are: ``(state, path)``; state is one of
    ``mirrored``, ``cached``, ``local``, ``none`` (random init), ``missing``, ``unknown``."""
    ckpt = manifest.checkpoint
    if ckpt is None:
        return "none", None
    if active is not None:
        entry = None
        if ckpt.url is not None:
            entry = active.find_url(ckpt.url)
        elif ckpt.hf is not None and ckpt.hf.filename:
            entry = active.find_hf_file(ckpt.hf)
        elif ckpt.hf is not None:
            folder = active.find_folder("hf", ckpt.hf.repo, ckpt.hf.revision)
            if folder is not None:
                return "mirrored", str(folder[0])
        elif ckpt.path is not None:
            entry = active.find_local(ckpt.path, manifest.name)
        else:
            entry = next((e for e in active.entries if e.name == manifest.name), None)
        if entry is not None:
            return "mirrored", str(active.path_of(entry))
    if ckpt.url is not None:
        dest = hub.url_cache_path(ckpt.url)
        return ("cached", str(dest)) if dest.is_file() else ("missing", None)
    if ckpt.hf is not None:
        found = hub.hf_cached(ckpt.hf)
        return ("cached", str(found)) if found is not None else ("missing", None)
    if ckpt.timm is not None:
        # Most timm weights live in the Hub repo timm/<architecture>.<tag>; asking timm would import torch.
        arch = getattr(manifest.wrapper, "architecture", "")
        found = hub.hf_cached(HfLocation(repo=f"timm/{arch}.{ckpt.timm}"))
        return ("cached", str(found)) if found is not None else ("unknown", None)
    try:
        return "local", str(hub.local_path(manifest, ckpt.path or ""))
    except WeightsNotAvailableError:
        return "missing", None


def diagnose(manifests: Sequence[Manifest]) -> dict[str, Any]:
    """The preflight report: global settings and one row per model."""
    active = mirror.active()
    token = hf_token_present()
    online = not offline_now()
    rows = []
    for m in manifests:
        extra, modules = EXTRAS.get(m.wrapper.type, ("torch", ("torch",)))
        missing_modules = [mod for mod in modules if not _installed(mod)]
        state, where = weights_state(m, active)
        here = state in AVAILABLE
        blocked = m.gated and not here and not token
        problems = []
        if missing_modules:
            problems.append(f"pip install 'zoo[{extra}]' ({', '.join(missing_modules)} missing)")
        if blocked:
            problems.append("gated: request access on the Hub, then set HF_TOKEN")
        if not here and not online:
            problems.append(f"`zoo pull {m.name}` where there is network, or set ZOO_MIRROR")
        rows.append(
            {
                "name": m.name,
                "wrapper": m.wrapper.type,
                "extra": extra,
                "extra_installed": not missing_modules,
                "missing_modules": missing_modules,
                "weights": state,
                "weights_path": where,
                "gated": m.gated,
                "token": token if m.gated else None,
                "ready": not missing_modules and (here or (online and not blocked)),
                "fix": "; ".join(problems) or None,
            }
        )
    return {
        "offline": offline_now(),
        "mirror": str(active.root) if active is not None else None,
        "hf_token": token,
        "hf_cache": str(constants.hf_hub_cache()),
        "zoo_cache": str(constants.cache_dir()),
        "models": rows,
    }


def offline_now() -> bool:
    """Whether loads run without network (offline variables, or a mirror in use)."""
    return hub.offline()
