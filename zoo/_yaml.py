"""Safe YAML reading for manifests, with line numbers for error messages.

Only PyYAML's safe constructors are used (the C parser when present). On top of
that a manifest is refused when it is too large, not UTF-8, uses anchors/aliases
(no manifest needs them; they make alias bombs possible), repeats a key, or
nests deeper than any manifest needs.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import yaml

from zoo.errors import Problem

MAX_BYTES = 1 << 20  # 1 MiB: the largest real manifest is a few KiB
MAX_DEPTH = 32

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ManifestLoader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, refusing aliases and duplicate keys."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node in self.constructed_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "YAML anchors and aliases are not allowed in manifests", node.start_mark
            )
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Hashable, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        # Keys were constructed above; forget them so the alias check does not fire on them.
        for key_node in seen.values():
            self.constructed_objects.pop(key_node, None)
        return super().construct_mapping(node, deep=deep)


def _problem(file: str, message: str, mark: Any = None, code: str = "yaml") -> Problem:
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return Problem(file=file, path="", message=message, line=line, column=column, code=code)


def _depth(value: Any, limit: int) -> int:
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def load_manifest_data(raw: bytes, file: str) -> tuple[Any, list[Problem]]:
    """Parse a manifest's bytes into plain data.

    Returns:
        The data (or ``None``) and the problems found; problems mean the data is unusable.
    """
    if len(raw) > MAX_BYTES:
        return None, [
            _problem(file, f"file is {len(raw)} bytes; a manifest may have at most {MAX_BYTES}")
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [
            _problem(file, f"not UTF-8 text (byte {exc.start}: {exc.reason})", code="encoding")
        ]
    try:
        data = yaml.load(text, Loader=_ManifestLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        message = exc.problem or str(exc)
        if exc.context:
            message = f"{exc.context}: {message}"
        if "could not determine a constructor" in message:
            message = message.replace(
                "could not determine a constructor for the tag", "tag not allowed:"
            )
            message += " (manifests are plain YAML: no Python tags)"
        return None, [_problem(file, message, exc.problem_mark)]
    except yaml.YAMLError as exc:
        return None, [_problem(file, str(exc))]
    except RecursionError:
        return None, [_problem(file, f"nested too deeply (more than {MAX_DEPTH} levels)")]
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        return None, [_problem(file, f"nested too deeply (more than {MAX_DEPTH} levels)")]
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        return None, [
            _problem(file, f"a manifest is a YAML mapping, this file is {kind}", code="type")
        ]
    return data, []


def locate(raw: bytes, loc: Sequence[int | str]) -> tuple[int | None, int | None]:
    """Find the 1-based line and column of a field path in a manifest's text.

    Path elements that are not keys of the YAML (pydantic's union tags such as
    ``timm`` in ``wrapper.timm.architecture``) are skipped; a missing key points
    at its parent mapping.
    """
    try:
        node = yaml.compose(raw.decode("utf-8"), Loader=_Base)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return None, None
    if node is None:
        return None, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # A part that is no key is a union tag or a missing field: stay on the mapping.
            node = next((v for k, v in node.value if k.value == str(part)), node)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                node = node.value[part]
            else:
                break
    return node.start_mark.line + 1, node.start_mark.column + 1
