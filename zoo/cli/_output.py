"""The one object that renders command results: tables and panels for people, JSON for scripts.

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
from rich.markup import escape
from rich.table import Table

from zoo.text import UNSAFE, visible

Column = tuple[str, str]  # (key in the row dict, header)


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


def _text(text: str) -> str:
    """Text for a rich renderable that parses markup: unsafe characters and markup escaped."""
    return escape(visible(text))


def _json_text(data: Any) -> str:
    """JSON with every unsafe character as a ``\\uXXXX`` escape: the same data, printable.

    ``json.dumps`` escapes C0 controls itself but writes DEL, C1 controls and bidi controls raw
    under ``ensure_ascii=False``; inside a JSON string they can only stand in string values.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class Output:
    """Renders results.

    Args:
        as_json: Print JSON to stdout instead of rich text.
    """

    def __init__(self, *, as_json: bool = False) -> None:
        self.as_json = as_json
        # Piped output (scripts, CI logs) is not cut to 80 columns.
        self.out = Console(
            soft_wrap=False, highlight=False, width=None if sys.stdout.isatty() else 200
        )
        self.err = Console(stderr=True, highlight=False)

    def json(self, data: Any) -> None:
        """Print data as JSON (stdout)."""
        sys.stdout.write(_json_text(data) + "\n")

    def table(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[Column],
        *,
        title: str | None = None,
        empty: str = "nothing to show",
    ) -> None:
        """Rows as a table (or as a JSON array of the row dicts)."""
        if self.as_json:
            self.json(list(rows))
            return
        if not rows:
            self.message(empty)
            return
        table = Table(
            title=_text(title) if title is not None else None,
            header_style="bold",
            show_edge=False,
            pad_edge=False,
        )
        for key, header in columns:
            table.add_column(
                _text(header),
                no_wrap=key != "license",
                overflow="ellipsis" if key != "license" else "fold",
            )
        for row in rows:
            # Cells are data, never rich markup (a licence or tag may hold `[...]`).
            table.add_row(*(escape(_cell(row.get(key))) for key, _ in columns))
        self.out.print(table)

    def record(
        self,
        data: Mapping[str, Any],
        sections: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        title: str,
    ) -> None:
        """One object: JSON as given, or titled key/value sections for people."""
        if self.as_json:
            self.json(dict(data))
            return
        from rich.panel import Panel

        self.out.print(f"[bold]{_text(title)}[/bold]")
        for heading, values in sections:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="cyan", no_wrap=True)
            grid.add_column(overflow="fold")
            for key, value in values.items():
                # Data, never rich markup: a description may hold `[...]`.
                grid.add_row(_text(str(key)), escape(_render(value)))
            self.out.print(Panel(grid, title=_text(heading), title_align="left", expand=True))

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
