"""`zoo new`: draft a manifest from timm's registry or a transformers ``save_pretrained`` folder.

Everything that can be read off the source is filled in; what only a person
knows (description, paper, license when unknown, ...) is left as a ``# TODO``
comment, which ``zoo validate`` reports as a warning until it is gone.
"""

from __future__ import annotations

import re
from pathlib import Path

from zoo.catalog.parse import parse_manifest
from zoo.errors import ManifestExistsError, UsageError
from zoo.manifest import Manifest
from zoo.manifest._base import MODEL_NAME_PATTERN
from zoo.scaffold._draft import Draft, installed_schema, render, schema_reference

_SOURCES = "timm:<architecture>[.<tag>] (e.g. timm:vit_small_patch16_224.dino) or hf:<folder or config.json>"


def parse_source(spec: str) -> tuple[str, str]:
    """Split ``timm:...`` / ``hf:...`` into ``(kind, value)``.

    Raises:
        UsageError: Anything else, with the forms that work.
    """
    kind, sep, value = spec.partition(":")
    if not sep or kind not in ("timm", "hf") or not value.strip():
        raise UsageError(f"cannot scaffold from {spec!r}: give {_SOURCES}")
    if kind == "timm" and not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)?", value):
        raise UsageError(
            f"{value!r} is not a timm name: write timm:<architecture>[.<tag>], "
            "e.g. timm:vit_small_patch16_224.dino (see `zoo list 'timm/vit_small*'`)"
        )
    return kind, value.strip()


# -- writing -------------------------------------------------------------------------------------


def target_path(name: str, root: Path) -> Path:
    """``<root>/<group>/<name>.yaml`` for a valid model name.

    Raises:
        UsageError: ``name`` is not ``<group>/<name>``.
    """
    if not re.fullmatch(MODEL_NAME_PATTERN.strip("^$"), name):
        raise UsageError(
            f"{name!r} is not a model name: write <group>/<name> in lowercase letters, digits, "
            "_, - and . (e.g. pathology/my_vit)"
        )
    group, stem = name.split("/")
    return root / group / f"{stem}.yaml"


def _same_weights(manifest: Manifest, root: Path, target: Path) -> Manifest | None:
    from zoo.catalog.roots import default_roots
    from zoo.catalog.validation import catalogue_manifests
    from zoo.weights.sources import identity

    key = identity(manifest)
    if key is None:
        return None
    others = catalogue_manifests([root, *default_roots()], exclude=[target])
    return next((m for m in others if identity(m) == key), None)


def write_draft(source: str, name: str, root: Path, *, force: bool = False) -> Path:
    """Write a draft manifest for ``source`` at ``<root>/<name>.yaml`` and return its path.

    Raises:
        UsageError: A bad source or name.
        ManifestExistsError: The file exists and ``force`` is false.
        MissingExtraError: timm or transformers is needed and missing.
    """
    kind, value = parse_source(source)
    target = target_path(name, root)
    if target.exists() and not force:
        raise ManifestExistsError(str(target))
    if kind == "timm":
        from zoo.scaffold._timm import timm_draft

        draft = timm_draft(value, name)
    else:
        from zoo.scaffold._hf import hf_draft

        draft = hf_draft(Path(value), name, target)
    text = render(draft, target)
    manifest = parse_manifest(text.encode("utf-8"), target)  # must parse: else a bug in zoo
    twin = _same_weights(manifest, root, target)
    if twin is not None:
        draft.data["same_weights_as"] = twin.name
        draft.before["same_weights_as"] = [
            f"TODO same_weights_as: {twin.name} already declares these weights; "
            "if that entry is what you need, use it and delete this file"
        ]
        text = render(draft, target)
        parse_manifest(text.encode("utf-8"), target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target


__all__ = [
    "Draft",
    "installed_schema",
    "parse_source",
    "render",
    "schema_reference",
    "target_path",
    "write_draft",
]
