"""A manifest as a table of facts, generically: every field, its documentation, where it was said.

Nothing here lists the manifest's fields by hand. The walk goes over the pydantic models
(``model_fields`` in declaration order, the descriptions that also feed the JSON Schema,
``model_fields_set`` for what the file states) and the values of ``model_dump``, so a field
or wrapper type added to the format shows up on the site without a change here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from zoo.manifest import Manifest

#: Top-level fields shown in the page's heading instead of the facts table.
HEADING_FIELDS = frozenset({"name", "description"})
#: Small top-level models that read best among the identity facts, not as sections of their own.
IDENTITY_MODELS = frozenset({"license", "paper"})
IDENTITY = "identity"


@dataclass(frozen=True)
class Fact:
    """One field of a manifest.

    Attributes:
        path: Field path, e.g. ``("output", "embedding_dim")``.
        value: The value as ``model_dump(mode="json")`` gives it.
        about: The field's documentation (first paragraph), or ``""``.
        stated: The manifest's file sets it (``False``: the format's default).
    """

    path: tuple[str, ...]
    value: Any
    about: str
    stated: bool

    @property
    def dotted(self) -> str:
        """The path as ``output.embedding_dim``."""
        return ".".join(self.path)


@dataclass
class Section:
    """The facts under one top-level field (``identity`` gathers the top-level scalars)."""

    key: str
    about: str
    facts: list[Fact] = field(default_factory=list)


#: Documentation of metric names seen in manifests (``metrics`` is a free-form mapping).
METRIC_ABOUT = {
    "params": "Parameters of the built network, all of them (zoo validate --build counts them).",
    "gflops": "Giga floating-point operations per image at the default input size.",
    "imagenet_top1": "ImageNet-1k top-1 accuracy (%), as reported by the source.",
    "imagenet_top5": "ImageNet-1k top-5 accuracy (%), as reported by the source.",
}


#: What a known gap is, for its line on a model page.
GAP_ABOUT = "A validation warning this entry cannot fix, with the reason (zoo validate shows it)."


def _about(description: str | None) -> str:
    if not description:
        return ""
    return " ".join(description.split("\n\n", 1)[0].split())


def _empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _number_map(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values())
    )


def _entry_about(path: tuple[str, ...], data: Any) -> Callable[[str], str] | None:
    """For a mapping shown as one fact per entry, each entry's documentation; ``None`` otherwise.

    The figures (``metrics``) get a line and label each; other mappings whose values happen to
    be numbers (kwargs such as ``{img_size: 224}``) stay one fact. Each known gap is a line: the
    warning it answers is the label, the reason the value.
    """
    if path == ("metrics",) and _number_map(data):
        return lambda key: METRIC_ABOUT.get(key, "")
    if path == ("known_gaps",) and isinstance(data, dict) and data:
        return lambda key: GAP_ABOUT
    return None


def _walk(
    model: BaseModel, dump: dict[str, Any], path: tuple[str, ...], stated: bool, out: list[Fact]
) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        data: Any = dump.get(name)
        here = (*path, name)
        is_stated = stated and name in model.model_fields_set
        if isinstance(value, BaseModel) and isinstance(data, dict):
            _walk(value, data, here, is_stated, out)
        elif (about := _entry_about(here, data)) is not None:
            for key, entry in data.items():
                out.append(Fact((*here, key), entry, about(key), is_stated))
        elif is_stated or not _empty(data):
            out.append(Fact(here, data, _about(info.description), is_stated))


def sections(manifest: Manifest) -> list[Section]:
    """Every fact of a manifest, grouped by top-level field, in the format's field order.

    Defaults the file does not state are kept when they say something (``strict: true``)
    and left out when empty (``aliases: []``).
    """
    dump = manifest.model_dump(mode="json")
    facts: list[Fact] = []
    _walk(manifest, dump, (), True, facts)
    by_field: dict[str, list[Fact]] = {}
    for fact in facts:
        by_field.setdefault(fact.path[0], []).append(fact)
    identity = Section(IDENTITY, "Who made it, under which terms, and its names.")
    out = [identity]
    for name, info in type(manifest).model_fields.items():
        if name in HEADING_FIELDS or name not in by_field:
            continue
        value = getattr(manifest, name)
        per_entry = _entry_about((name,), dump[name]) is not None
        if (isinstance(value, BaseModel) and name not in IDENTITY_MODELS) or per_entry:
            out.append(Section(name, _about(info.description), by_field[name]))
        else:
            identity.facts.extend(by_field[name])
    return [s for s in out if s.facts]
