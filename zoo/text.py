"""Characters a manifest's text may not hold, and how to show them when something does.

A leaf like errors.py and constants.py (stdlib only): the manifest models and the YAML reader
refuse these characters, and the CLI's output makes them visible, without importing each other
(``zoo list`` never imports pydantic). The same goes for the names a manifest, a lock or a
server gives for files and revisions: :func:`unsafe_name` says when one would leave its folder.

A manifest's strings end up on terminals (``zoo show``, tables, error messages) and in
code review. Control characters can drive a terminal (ESC starts CSI/OSC sequences that
recolour, retitle or rewrite the screen; C1 ``U+009B`` is a one-byte CSI), and bidi
controls make text display in another order than it is stored ("Trojan Source",
CVE-2021-42574). Newline and tab are ordinary text and allowed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

#: C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidi controls:
#: LRM/RLM (U+200E/F), ALM (U+061C), embeddings and overrides (U+202A-U+202E), isolates
#: (U+2066-U+2069).
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

_NAMES = {
    0x1B: "ESC, which starts terminal escape sequences",
    0x7F: "DEL",
    0x9B: "CSI, a one-byte terminal escape sequence",
    0x9D: "OSC, a one-byte terminal escape sequence",
}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def describe(char: str) -> str:
    """``U+001B (ESC, which starts ...)`` or ``U+202E (RIGHT-TO-LEFT OVERRIDE, a bidi control)``."""
    code = ord(char)
    if code in _NAMES:
        what = _NAMES[code]
    elif code < 0x100:
        what = "a control character"
    else:
        what = f"{unicodedata.name(char, 'unnamed')}, a bidi control"
    return f"U+{code:04X} ({what})"


def unsafe_character(text: str) -> tuple[int, str] | None:
    """The index and description of the first character of ``text`` a manifest may not hold."""
    found = UNSAFE.search(text)
    if found is None:
        return None
    return found.start(), describe(found.group())


def visible(text: str) -> str:
    """``text`` with every unsafe character written as an escape (``\\x1b``, ``\\u202e``).

    Safe text is returned unchanged, so this is cheap to apply to everything printed.
    """
    return UNSAFE.sub(lambda m: _escape(m.group()), text)


def refusal(text: str, subject: str = "the text") -> str | None:
    """The message for a string holding an unsafe character, or ``None`` if it is clean."""
    found = unsafe_character(text)
    if found is None:
        return None
    index, what = found
    near = visible(text[max(0, index - 16) : index + 16])
    return (
        f'{subject} holds {what} at character {index + 1}, near "{near}": remove it (manifest text may '
        "not hold control characters, terminal escape sequences or bidi controls)"
    )


def first_refusal(
    value: Any, loc: tuple[str | int, ...] = ()
) -> tuple[tuple[str | int, ...], str] | None:
    """The path and message of the first unsafe string in nested data (keys included)."""
    if isinstance(value, str):
        message = refusal(value)
        return None if message is None else (loc, message)
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = first_refusal(key, loc) if isinstance(key, str) else None
            found = found or first_refusal(item, (*loc, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = first_refusal(item, (*loc, i))
            if found is not None:
                return found
    return None


def unsafe_name(name: str) -> str | None:
    """Why a file name written relative to a folder (a Hub filename, a mirror's path) could
    leave that folder, or ``None`` when it stays inside: absolute, a drive, a backslash, a
    control character, an empty, `.` or `..` segment."""
    if "\\" in name:
        return "holds a backslash (use `/` between folders)"
    if any(ord(c) < 0x20 for c in name):
        return "holds a control character"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "is absolute: give it relative to the repository's root"
    parts = name.split("/")
    if "" in parts:
        return "has an empty segment (`//`, or `/` at the end)"
    if ".." in parts or "." in parts:
        return "has a `..` or `.` segment: it must name a file inside its folder"
    return None


def unsafe_revision(revision: str) -> str | None:
    """Why a revision could name a path (a separator, `..`, a leading `.`), or ``None``."""
    if re.fullmatch(r"[0-9a-f]{40}", revision):
        return None
    if any(c in revision for c in "/\\") or any(ord(c) < 0x20 for c in revision):
        return "must be a commit sha or a branch or tag name without `/` or `\\`"
    if ".." in revision or revision.startswith("."):
        return "must be a commit sha or a branch or tag name without `..` or a leading `.`"
    return None
