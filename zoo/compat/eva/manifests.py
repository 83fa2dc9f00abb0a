"""The in-memory manifests eva's wrappers describe their models with: a checkpoint spec from
eva's ``checkpoint_path``, a ``pooling: none`` manifest around a wrapper block, and the public
``module.Name`` of a function eva was handed."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from zoo.errors import UsageError
from zoo.manifest import Manifest

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
_URL = re.compile(r"^https?://")


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_.\-]+", "_", text.lower()).strip("_.-") or "model"
    return slug[:150]


def checkpoint_spec(checkpoint_path: str | None) -> dict[str, Any] | None:
    """The ``checkpoint:`` block of eva's ``checkpoint_path``: a URL or a local file.

    A pickle whose top level holds a ``state_dict`` (a Lightning checkpoint) is read
    from that key, as eva does.
    """
    if not checkpoint_path:
        return None
    if _URL.match(checkpoint_path):
        return {"url": checkpoint_path}
    path = Path(checkpoint_path).expanduser().resolve()
    spec: dict[str, Any] = {"path": str(path)}
    if path.is_file() and path.suffix != ".safetensors":
        from zoo.loading.checkpoint import read_file

        data = read_file(path)
        if isinstance(data.get("state_dict"), Mapping):
            spec["key"] = "state_dict"
    return spec


def wrapper_manifest(
    label: str,
    wrapper: dict[str, Any],
    checkpoint: dict[str, Any] | None,
    *,
    channels: int = 3,
) -> Manifest:
    """An in-memory manifest for a model whose output contract is its own output.

    Raises:
        UsageError: The arguments do not make a valid manifest.
    """
    mean, std = IMAGENET if channels == 3 else ([0.5] * channels, [0.5] * channels)
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": f"compat/{_slug(label)}",
        "description": (
            f"eva-compatible wrapper around {label}: returns the module's own output "
            "(pooling none); embedding_dim is not declared (placeholder 1)."
        ),
        "wrapper": wrapper,
        "input": {"size": [224, 224], "mean": mean, "std": std, "dynamic_size": True},
        "output": {"embedding_dim": 1, "pooling": "none"},
    }
    if checkpoint is not None:
        data["checkpoint"] = checkpoint
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise UsageError(f"{label}: these arguments do not describe a model: {problems}") from None


#: eva's spellings of functions whose module.Name (the form a manifest takes) differs.
_PUBLIC_PATHS = {"timm.create_model": "timm.models.create_model"}


def public_path(path: Callable[..., Any] | str) -> str:
    if isinstance(path, str):
        return _PUBLIC_PATHS.get(path, path)
    module, qualname = getattr(path, "__module__", None), getattr(path, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        raise UsageError(
            f"ModelFromFunction needs an importable function (module.name); got {path!r}"
        )
    parts = module.split(".")
    for end in range(len(parts), 0, -1):  # timm.models._factory.create_model: timm.models's
        public = ".".join(parts[:end])
        if "._" not in f".{public}" and getattr(sys.modules.get(public), qualname, None) is path:
            return f"{public}.{qualname}"
    return f"{module}.{qualname}"
