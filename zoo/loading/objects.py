"""Import objects named by dotted path in a manifest: classes and functions defined in allowed modules."""

from __future__ import annotations

import functools
import importlib
import inspect
import types
from collections.abc import Sequence
from typing import Any

from zoo import settings
from zoo.errors import LoadError, TrustError
from zoo.manifest import OBJECT_KEY
from zoo.manifest._refs import DENIED_MODULES, OBJECT_MODULES, reference_problem, under


def allowed_modules(also: Sequence[str] = ()) -> tuple[str, ...]:
    """Where a named object may be defined: the allow-list, ``ZOO_TRUSTED_MODULES``, and ``also``."""
    return (*OBJECT_MODULES, *settings.trusted_modules(), *also)


def _refused(purpose: str, dotted: str, why: str) -> TrustError:
    return TrustError(f"{purpose} names {dotted!r}: {why}", flag="wrapper")


def import_object(dotted: str, *, purpose: str, also: Sequence[str] = ()) -> Any:
    """Import ``module.Name`` if it names a class or function defined under an allowed module.

    Exactly one attribute is read after the module (no chains through other modules); the
    object must not be a module, and the module where it is defined (``__module__``, through
    ``functools.partial``) must be allowed too, so a re-export of ``os.system`` is refused.

    Args:
        dotted: The dotted path.
        purpose: Where the path comes from, for messages (``name: wrapper.path``).
        also: Module prefixes trusted for this load only (the modules of a manifest's
            ``requires`` once the caller passed ``trust_remote_code``).

    Raises:
        TrustError: Outside the allow-list (the message says how to allow it), denied, a
            module, or defined elsewhere.
        LoadError: The module or attribute does not exist.
    """
    problem = reference_problem(dotted)
    if problem is not None:
        raise _refused(purpose, dotted, problem)
    allowed = allowed_modules(also)
    module_name, _, name = dotted.rpartition(".")
    if not under(module_name, allowed):
        top = dotted.split(".")[0]
        raise TrustError(
            f"{purpose} names {dotted!r}, outside the allowed modules "
            f"({', '.join(OBJECT_MODULES)}). If you trust it, allow it with "
            f"ZOO_TRUSTED_MODULES={top}, or pass trust_remote_code=True (CLI: "
            "--trust-remote-code) when the manifest requires the package it comes from",
            flag="ZOO_TRUSTED_MODULES",
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise LoadError(f"{purpose}: cannot import {module_name}: {exc}") from None
    if getattr(module, "__name__", None) != module_name:
        raise _refused(purpose, dotted, f"{module_name} is an alias of another module")
    try:
        obj = getattr(module, name)
    except AttributeError:
        raise LoadError(f"{purpose}: {module_name} has no attribute {name!r}") from None
    target = obj
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, types.ModuleType):
        raise _refused(purpose, dotted, "it is a module, not a class or function")
    if not (inspect.isclass(target) or inspect.isroutine(target)):
        raise _refused(purpose, dotted, "it is not a class or function")
    defined = getattr(target, "__module__", None)
    if (
        not isinstance(defined, str)
        or not under(defined, allowed)
        or under(defined, DENIED_MODULES)
    ):
        raise _refused(purpose, dotted, f"it is defined in {defined}, outside the allowed modules")
    return obj


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
