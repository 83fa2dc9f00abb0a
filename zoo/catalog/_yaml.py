"""Safe YAML reading for manifests, with line numbers for error messages.

Only PyYAML's safe constructors are used (the C parser when present). On top of
that a manifest is refused when it is too large, not UTF-8, uses anchors/aliases
(no manifest needs them; they make alias bombs possible), repeats a key, or
nests deeper than any manifest needs. Depth and anchors are checked on the
parser's event stream *before* anything is composed: libyaml's composer is
recursive in C and a file of a few thousand ``[`` would overflow its stack.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import yaml

from zoo.problems import Problem
from zoo.text import UNSAFE, describe, refusal

MAX_BYTES = 256 << 10  # 256 KiB: the largest real manifest is about 5 KiB
MAX_DEPTH = 32

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: libyaml reports reader errors as byte offsets into the UTF-8 text; PyYAML's reader as characters.
_C_OFFSETS = _Base is not yaml.SafeLoader

NO_ANCHORS = "YAML anchors and aliases are not allowed in manifests"
#: Explicit tags a manifest may use; anything else (``!!binary``, ``!!set``, ``!custom``) is refused.
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
}
_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


class _ManifestLoader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, refusing duplicate keys and values Python cannot hold.

    Anchors, aliases, tags and depth are refused before it runs, by :func:`_scan`.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            # A 5000-digit integer or a 30 February timestamp: PyYAML lets Python's error through.
            what = node.tag.rsplit(":", 1)[-1]
            message = f"cannot read this {what}: {exc}"
            if "digits" in str(exc) and isinstance(node, yaml.ScalarNode):
                message = (
                    f"integer of {len(node.value)} digits is too large (quote it if it is text)"
                )
            raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None
        return value

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
        return super().construct_mapping(node, deep=deep)


def _problem(
    file: str,
    message: str,
    mark: Any = None,
    code: str = "yaml",
    at: tuple[int, int] | None = None,
) -> Problem:
    if mark is not None:
        at = (mark.line + 1, mark.column + 1)
    line, column = at if at is not None else (None, None)
    return Problem(file=file, path="", message=message, line=line, column=column, code=code)


def _line_column(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    offset = max(0, min(offset, len(raw)))
    start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[start:offset].decode("utf-8", errors="replace"))
    return raw.count(b"\n", 0, offset) + 1, column + 1


def _encoding_problem(raw: bytes, file: str, exc: UnicodeDecodeError) -> Problem:
    message = f"not UTF-8 text (byte {exc.start}: {exc.reason})"
    bom = next((name for prefix, name in _BOMS.items() if raw.startswith(prefix)), None)
    if bom is not None:
        message += f"; the file starts with a {bom} byte-order mark: save it as UTF-8"
    else:
        message += "; save the file as UTF-8"
    return _problem(file, message, code="encoding", at=_line_column(raw, exc.start))


def _reader_problem(raw: bytes, text: str, file: str, exc: yaml.reader.ReaderError) -> Problem:
    char = exc.character
    code = ord(char) if isinstance(char, str) else int(char)
    offset = exc.position if _C_OFFSETS else len(text[: exc.position].encode("utf-8"))
    message = f"unacceptable character U+{code:04X}: {exc.reason}"
    if code == 0 and raw.count(b"\x00") * 4 >= len(raw):
        message += "; the file looks like UTF-16 or UTF-32: save it as UTF-8"
    return _problem(file, message, at=_line_column(raw, offset))


def _yaml_problem(text: str, file: str, exc: yaml.MarkedYAMLError) -> Problem:
    message = exc.problem or str(exc).splitlines()[0]
    if exc.context:
        message = f"{exc.context}: {message}"
    mark = exc.problem_mark or exc.context_mark
    if mark is not None and "cannot start any token" in message:
        lines = text.splitlines()
        if mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t":
            message += " (a tab: YAML indents with spaces)"
    if "tag:yaml.org,2002:merge" in message:
        message = "merge keys (<<) are not allowed in manifests: write the keys out"
    elif "could not determine a constructor" in message:
        message = message.replace(
            "could not determine a constructor for the tag", "tag not allowed:"
        )
        message += " (manifests are plain YAML: no Python tags)"
    return _problem(file, " ".join(message.split()), mark)


def _unsafe_in_file(text: str, file: str) -> Problem | None:
    """The first control or bidi character written as such anywhere in the file (comments too:
    a bidi control there changes how the file reads in review), at its own line and column."""
    for number, line in enumerate(text.split("\n"), start=1):
        for found in UNSAFE.finditer(line):
            if found.group() != "\r":  # a CRLF line ending
                return _problem(
                    file,
                    f"the file holds {describe(found.group())}: remove it (manifests may not hold "
                    "control characters, terminal escape sequences or bidi controls)",
                    code="text",
                    at=(number, found.start() + 1),
                )
    return None


def _scan(text: str, file: str) -> Problem | None:
    """Refuse anchors, aliases, deep nesting and unsafe text on the event stream, before composing.

    Characters the YAML reader refuses itself (most C0 controls) come out as its own error first.
    Unsafe characters reach a value only through the file's text or a double-quoted escape
    (``"\\e[31m"``, ``"\\u202e"``); the first are reported where they stand, the second at their
    value.
    """
    depth = 0
    escaped: Problem | None = None
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            return _problem(file, NO_ANCHORS, event.start_mark)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in _PLAIN_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            return _problem(
                file,
                f"tag not allowed: {shown!r} (manifests are plain YAML: no Python tags)",
                event.start_mark,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            level = depth
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            continue
        elif isinstance(event, yaml.ScalarEvent):
            level = depth + 1  # the scalar at the bottom counts as a level
            message = refusal(event.value, "this value") if escaped is None else None
            if message is not None:
                escaped = _problem(file, message, event.start_mark, code="text")
        else:
            continue
        if level > MAX_DEPTH:
            return _problem(
                file, f"nested too deeply (more than {MAX_DEPTH} levels)", event.start_mark
            )
    return _unsafe_in_file(text, file) or escaped


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
        return None, [_encoding_problem(raw, file, exc)]
    try:
        found = _scan(text, file)
        if found is not None:
            return None, [found]
        data = yaml.load(text, Loader=_ManifestLoader)  # a SafeLoader subclass
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(raw, text, file, exc)]
    except yaml.MarkedYAMLError as exc:
        return None, [_yaml_problem(text, file, exc)]
    except yaml.YAMLError as exc:
        return None, [_problem(file, " ".join(str(exc).split()))]
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
        text = raw.decode("utf-8")
        if _scan(text, "") is not None:
            return None, None
        node = yaml.compose(text, Loader=_Base)
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


def field_lines(raw: bytes) -> dict[tuple[str, ...], int]:
    """The 1-based line of every mapping key in a manifest, by its field path.

    One parse for all fields (``locate`` parses per call): ``{("output", "pooling"): 42, ...}``.
    Keys inside sequences are not indexed. A file that does not parse gives ``{}``.
    """
    try:
        text = raw.decode("utf-8")
        if _scan(text, "") is not None:
            return {}
        root = yaml.compose(text, Loader=_Base)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return {}
    lines: dict[tuple[str, ...], int] = {}
    stack: list[tuple[tuple[str, ...], yaml.Node]] = [((), root)] if root is not None else []
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                lines.setdefault(child, key.start_mark.line + 1)
                stack.append((child, value))
    return lines
