"""Import objects named by dotted path in a manifest, under the trusted-module allow-list."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from zoo import settings
from zoo.errors import LoadError, TrustError
from zoo.manifest import OBJECT_KEY


def is_trusted(dotted: str, also: Sequence[str] = ()) -> bool:
    """Whether a dotted path lies under an allowed module prefix (the allow-list, plus ``also``)."""
    prefixes = (*settings.trusted_modules(), *also)
    return any(dotted == p or dotted.startswith(p + ".") for p in prefixes)


def import_object(dotted: str, *, purpose: str, also: Sequence[str] = ()) -> Any:
    """Import ``package.module.attr`` (attribute chains allowed) if it is trusted.

    Args:
        dotted: The dotted path.
        purpose: Where the path comes from, for messages (``name: wrapper.path``).
        also: Module prefixes trusted for this load only (the modules of a manifest's
            ``requires`` once the caller passed ``trust_remote_code``).

    Raises:
        TrustError: Outside the allow-list; the message says how to allow it.
        LoadError: The module or attribute does not exist.
    """
    if not is_trusted(dotted, also):
        allowed = ", ".join(settings.trusted_modules())
        top = dotted.split(".")[0]
        raise TrustError(
            f"{purpose} names {dotted!r}, outside the trusted modules ({allowed}). "
            f"If you trust it, allow it with ZOO_TRUSTED_MODULES={top}, or pass "
            "trust_remote_code=True (CLI: --trust-remote-code) when the manifest requires "
            "the package it comes from",
            flag="ZOO_TRUSTED_MODULES",
        )
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise LoadError(f"{purpose}: importing {module_name} failed: {exc}") from None
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            raise LoadError(
                f"{purpose}: {module_name} has no attribute {'.'.join(parts[split:])!r}"
            ) from None
        return obj
    raise LoadError(f"{purpose}: cannot import {dotted!r}")


def resolve_objects(value: Any, *, purpose: str, also: Sequence[str] = ()) -> Any:
    """Replace every ``{$object: dotted.path}`` inside a kwargs value by the imported object
    (``also``: as for :func:`import_object`)."""
    if isinstance(value, dict):
        if set(value) == {OBJECT_KEY}:
            return import_object(value[OBJECT_KEY], purpose=purpose, also=also)
        return {k: resolve_objects(v, purpose=purpose, also=also) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_objects(v, purpose=purpose, also=also) for v in value]
    return value
