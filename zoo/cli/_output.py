"""The one object that renders command results: tables and records for people, JSON for scripts.

Data goes to stdout, messages to stderr. Commands hand plain data to it and never print.
Nothing is written raw: control characters and bidi controls in any text (a manifest that
bypassed validation, a name the user typed) are shown as escapes (``\x1b``, ``\u202e``),
so no output can drive the terminal or reorder what it shows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from zoo import settings
from zoo.cli import _layout
from zoo.text import UNSAFE, visible

Column = tuple[str, str]  # (key in the row dict, header)


def human_count(n: int) -> str:
    """A count as people read it: ``21.7M``, ``1.1B``, ``950K``, ``12``."""
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return (
            "x".join(str(v) for v in value)
            if all(isinstance(v, int) for v in value)
            else ", ".join(visible(str(v)) for v in value)
        )
    return visible(str(value))


def _json_text(data: Any) -> str:
    """JSON with every unsafe character as a ``\\uXXXX`` escape: the same data, printable.

    ``json.dumps`` escapes C0 controls itself but writes DEL, C1 controls and bidi controls raw
    under ``ensure_ascii=False``; inside a JSON string they can only stand in string values.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _width() -> int | None:
    """The width to lay out for: ``COLUMNS`` when set, else the terminal's; piped output is
    not cut to 80 columns (200)."""
    return settings.columns() or (None if sys.stdout.isatty() else 200)


class Output:
    """Renders results.

    Tables and records are laid out by :mod:`zoo.cli._layout` for the terminal's width
    (``COLUMNS`` wins): model names are never cut. With ``NO_COLOR`` set nothing but text is
    written (no colour, no bold: no escape codes at all).

    Args:
        as_json: Print JSON to stdout instead of text.
    """

    def __init__(self, *, as_json: bool = False) -> None:
        self.as_json = as_json
        plain = settings.no_color()
        self.out = Console(
            soft_wrap=False,
            highlight=False,
            width=_width(),
            color_system=None if plain else "auto",
        )
        self.err = Console(stderr=True, highlight=False, color_system=None if plain else "auto")

    @property
    def width(self) -> int:
        """The width output is laid out for."""
        return self.out.width

    def json(self, data: Any) -> None:
        """Print data as JSON (stdout)."""
        sys.stdout.write(_json_text(data) + "\n")

    def _line(self, text: str, *, bold: bool = False) -> None:
        # Text, never markup (a licence, a tag or a name may hold `[...]`); unsafe characters
        # made visible (already visible text stays as it is).
        self.out.print(Text(visible(text), style="bold" if bold else ""), soft_wrap=True)

    def table(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[Column],
        *,
        title: str | None = None,
        empty: str = "nothing to show",
        optional: Sequence[str] = (),
        prose: Sequence[str] = (),
    ) -> None:
        """Rows as a table (or as a JSON array of the row dicts).

        Args:
            rows: One dict per row.
            columns: ``(key, header)`` pairs; the first is the name, which is never cut.
            title: A line above the table.
            empty: The message when there are no rows.
            optional: Keys of columns that may be left out when the terminal is narrow, the
                least useful first (a note on stderr says which were).
            prose: Keys of columns whose text may wrap at spaces.
        """
        if self.as_json:
            self.json(list(rows))
            return
        if not rows:
            self.message(empty)
            return
        keys = [key for key, _ in columns]
        laid = _layout.table(
            [[_cell(row.get(key)) for key in keys] for row in rows],
            [visible(header) for _, header in columns],
            self.width,
            optional=[keys.index(k) for k in optional if k in keys],
            prose=[keys.index(k) for k in prose if k in keys],
        )
        if title is not None:
            self._line(title, bold=True)
        if laid.header is not None:
            self._line(laid.header, bold=True)
        for line in laid.lines:
            # In a stacked layout the names are the lines that do not start with a space.
            self._line(line, bold=laid.stacked and not line.startswith(" "))
        if laid.dropped:
            self.message(
                f"({', '.join(laid.dropped)} left out at {self.width} columns; "
                "a wider terminal or --json shows them)"
            )

    def record(
        self,
        data: Mapping[str, Any],
        sections: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        title: str,
    ) -> None:
        """One object: JSON as given, or a title and ``key  value`` sections for people."""
        if self.as_json:
            self.json(dict(data))
            return
        self._line(title, bold=True)
        rendered = [
            (visible(heading), {visible(str(k)): _render(v) for k, v in values.items()})
            for heading, values in sections
        ]
        for text, heading in _layout.record(rendered, self.width):
            self._line(text, bold=heading)

    def lines(self, lines: Sequence[str]) -> None:
        """Plain lines to stdout."""
        for line in lines:
            self.out.print(visible(line), markup=False, highlight=False, soft_wrap=True)

    def write(self, text: str) -> None:
        """Text data to stdout as it is (a generated file, a table), unsafe characters made visible."""
        sys.stdout.write(visible(text))

    def message(self, text: str, *, style: str | None = None) -> None:
        """A message for people (stderr)."""
        self.err.print(visible(text), style=style, markup=False, highlight=False, soft_wrap=True)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(level: str, message: str, properties: Mapping[str, Any]) -> str:
    """One GitHub Actions workflow command (``::error file=...,line=...::message``), on one line.

    Properties whose value is ``None`` are left out. Escaping follows the runner's
    rules: ``%``, CR and LF everywhere, and ``:`` and ``,`` inside property values.
    """
    props = ",".join(
        f"{key}={_escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    head = f"::{level} {props}" if props else f"::{level}"
    return visible(f"{head}::{_escape_data(message)}")


def _render(value: Any) -> str:
    if isinstance(value, Mapping):
        return "\n".join(f"{visible(str(k))}: {_render(v)}" for k, v in value.items()) or "{}"
    return _cell(value)
