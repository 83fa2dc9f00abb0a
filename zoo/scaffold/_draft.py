"""The draft of a manifest and how it is written: schema header, keys in order, comments."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo.catalog import roots

SCHEMA_FILE = "manifest.schema.json"

#: Top-level keys in the order a manifest is written.
ORDER = (
    "schema_version", "name", "aliases", "description", "tags", "license", "paper", "gated",
    "wrapper", "checkpoint", "input", "output", "precision", "metrics", "same_weights_as",
)  # fmt: skip


@dataclass
class Draft:
    """A manifest to write: its data and the comments that go with it."""

    data: dict[str, Any]
    """Manifest fields, top level in any order (written in :data:`ORDER`)."""
    before: dict[str, list[str]] = field(default_factory=dict)
    """Comment lines written above a top-level key (which may be absent from ``data``)."""
    trailing: dict[str, str] = field(default_factory=dict)
    """``block.key`` -> a comment at the end of that nested line."""


def installed_schema() -> Path:
    """The JSON Schema file of this zoo (the checkout's ``schemas/``, or the copy in the wheel)."""
    return roots.bundled_root().parent / "schemas" / SCHEMA_FILE


def schema_reference(target: Path) -> str:
    """What ``# yaml-language-server: $schema=`` should say in a manifest written at ``target``.

    A relative path to the nearest ``schemas/manifest.schema.json`` above the file
    (the zoo checkout, or a private catalogue that keeps its own copy); otherwise
    the installed schema as a ``file://`` URL.
    """
    folder = target.resolve().parent
    for ancestor in (folder, *folder.parents):
        candidate = ancestor / "schemas" / SCHEMA_FILE
        if candidate.is_file():
            return Path(os.path.relpath(candidate, folder)).as_posix()
    return installed_schema().resolve().as_uri()


# -- rendering -----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block mappings, flow lists (`size: [224, 224]`), keys in the given order."""


def _flow_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(list, _flow_list)


def render(draft: Draft, target: Path) -> str:
    """The manifest text: schema header, then each top-level key with its comments."""
    lines = [f"# yaml-language-server: $schema={schema_reference(target)}"]
    for key in ORDER:
        lines.extend(f"# {c}" for c in draft.before.get(key, []))
        if key not in draft.data:
            continue
        block = yaml.dump(
            {key: draft.data[key]},
            Dumper=_Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=100,
        ).splitlines()
        for i, line in enumerate(block):
            match = re.match(r"^  ([A-Za-z_][A-Za-z0-9_]*):", line)
            note = draft.trailing.get(f"{key}.{match[1]}") if match else None
            if note:
                block[i] = f"{line}  # {note}"
        lines.extend(block)
    return "\n".join(lines) + "\n"


def common_todos(draft: Draft) -> None:
    draft.before["description"] = [
        "TODO description: what the model is, what it was trained on, which embedding it returns"
    ]
    draft.before["paper"] = [
        "TODO paper: {title: <title>, url: <arXiv / DOI / model card>}",
    ]
