"""Laying out tables and records as plain lines for a given terminal width.

Rules, at any width: a model name (the first column) is never cut or wrapped inside; a name
too long for its column gets a line of its own and its row continues on the next line.
Columns a command marks optional are left out, lowest value first, when the name would
otherwise get less than :data:`MIN_NAME` columns; prose columns (a licence, a fix) wrap at
spaces. When even that does not fit, each row is stacked: the name on its own line, then
``header: value`` pairs. Pure functions of text and width, so every layout is testable.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Columns a name keeps before rows are stacked instead (longer names take a line of their own).
MIN_NAME = 24
#: Narrowest a prose column is wrapped to.
MIN_PROSE = 14
GAP = 2


@dataclass(frozen=True)
class Table:
    """A laid-out table: the header line, the body lines, and what was left out."""

    header: str | None
    lines: list[str]
    dropped: list[str]
    stacked: bool


def _width(cells: Sequence[str], header: str) -> int:
    return max([len(header), *(len(c) for c in cells)])


def _numeric(cells: Sequence[str]) -> bool:
    return bool(cells) and all(c.replace(",", "").isdigit() or c == "-" for c in cells)


def _wrap(text: str, width: int) -> list[str]:
    """Wrap at spaces; a word longer than the width stays whole on its own line."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def _fit(
    columns: list[int], natural: list[int], floor: dict[int, int], width: int
) -> dict[int, int] | None:
    """Widths of the kept columns, or None when the name would get less than it needs.

    The name gets what it needs first (up to its longest); prose columns (those with a
    ``floor``: the narrowest they wrap to) get what is left.
    """
    prose = set(floor)
    others = [c for c in columns if c != 0]
    widths = {c: floor[c] if c in prose else natural[c] for c in others}
    name_space = width - sum(widths.values()) - GAP * len(others)
    if name_space < min(natural[0], MIN_NAME):
        return None
    widths[0] = min(natural[0], name_space)
    spare = name_space - widths[0]
    for c in others:
        if c in prose and spare > 0:
            extra = min(natural[c] - widths[c], spare)
            widths[c] += extra
            spare -= extra
    return widths


def _floor(cells: Sequence[str], natural: int, width: int) -> int:
    """The narrowest a prose column wraps to: never under its longest word, and otherwise
    up to a third of the line when most of its cells are that long (so that a fix or a
    licence reads as text, not as a column of single words)."""
    longest_word = max((len(w) for c in cells for w in c.split()), default=0)
    lengths = sorted(len(c) for c in cells)
    typical = lengths[(len(lengths) * 9) // 10 - (1 if len(lengths) % 10 == 0 else 0)]
    return min(natural, max(longest_word, MIN_PROSE, min(typical, width // 3)))


def _crowded(names: Sequence[str], width: int) -> bool:
    """More than a quarter of the names would need a line of their own."""
    return sum(len(n) > width for n in names) * 4 > len(names)


def table(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    width: int,
    *,
    optional: Sequence[int] = (),
    prose: Sequence[int] = (),
) -> Table:
    """Lay out ``rows`` (cells as text; the first column is the name) in ``width`` columns.

    Args:
        rows: The cells of each row.
        headers: One header per column.
        width: The terminal's width.
        optional: Columns that may be left out, the first given first.
        prose: Columns whose text may wrap at spaces.
    """
    n = len(headers)
    natural = [_width([r[i] for r in rows], headers[i]) for i in range(n)]
    kept = list(range(n))
    dropped: list[str] = []
    names = [r[0] for r in rows]
    floor = {c: _floor([r[c] for r in rows], natural[c], width) for c in prose}
    widths = _fit(kept, natural, floor, width)
    for column in optional:
        if widths is not None and not _crowded(names, widths[0]):
            break
        kept.remove(column)
        dropped.append(headers[column])
        widths = _fit(kept, natural, floor, width)
    if widths is None:
        return Table(None, _stack(rows, headers, width), [], True)
    right = {c for c in kept if c != 0 and _numeric([r[c] for r in rows])}

    def line(cells: dict[int, str]) -> str:
        parts = []
        for c in kept:
            text = cells.get(c, "")
            parts.append(text.rjust(widths[c]) if c in right else text.ljust(widths[c]))
        return (" " * GAP).join(parts).rstrip()

    lines = []
    for row in rows:
        wrapped = {c: _wrap(row[c], widths[c]) if c in prose else [row[c]] for c in kept if c}
        first = {c: cell[0] for c, cell in wrapped.items()}
        if len(row[0]) > widths[0]:
            lines.append(row[0])  # the whole name on its own line; the row follows
        else:
            first[0] = row[0]
        lines.append(line(first))
        for k in range(1, max(len(cell) for cell in wrapped.values()) if wrapped else 1):
            lines.append(line({c: cell[k] for c, cell in wrapped.items() if k < len(cell)}))
    header = line({c: headers[c] for c in kept})
    return Table(header, lines, dropped, False)


def _stack(rows: Sequence[Sequence[str]], headers: Sequence[str], width: int) -> list[str]:
    lines = []
    for row in rows:
        lines.append(row[0])
        pairs = [f"{headers[c]}: {row[c]}" for c in range(1, len(headers))]
        lines.extend(_pairs(pairs, width, "  "))
    return lines


def _pairs(pairs: Sequence[str], width: int, indent: str) -> list[str]:
    """``key: value`` pairs filled into lines, two spaces apart; a pair is never split unless
    it alone is wider than the line (then it wraps at its spaces)."""
    lines: list[str] = []
    current = ""
    for pair in pairs:
        candidate = f"{current}  {pair}" if current else pair
        if len(indent) + len(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = pair
    if current:
        lines.append(current)
    out = []
    for text in lines:
        if len(indent) + len(text) <= width:
            out.append(indent + text)
        else:
            out.extend(
                textwrap.wrap(
                    text,
                    max(width, len(indent) + 8),
                    initial_indent=indent,
                    subsequent_indent=indent + "  ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
    return out


def record(sections: Sequence[tuple[str, Mapping[str, str]]], width: int) -> list[tuple[str, bool]]:
    """Titled sections of ``key  value`` lines; values wrap at spaces with a hanging indent, and
    a single word (a name, a path) too long for the value column starts on the next line, whole.

    Returns:
        ``(line, is_heading)`` pairs.
    """
    out: list[tuple[str, bool]] = []
    for heading, values in sections:
        out.append((heading, True))
        key_width = max((len(k) for k in values), default=0)
        indent = 2 + key_width + 2
        room = max(width - indent, 16)
        for key, value in values.items():
            head = f"  {key.ljust(key_width)}  "
            first = True
            for text in value.split("\n"):
                for chunk in _wrap(text, room):
                    if len(chunk) > room:  # one long word: whole, on a line of its own
                        if first:
                            out.append((head.rstrip(), False))
                        pad = max(min(indent, width - len(chunk)), 4)
                        out.append((" " * pad + chunk, False))
                    else:
                        out.append(((head if first else " " * indent) + chunk, False))
                    first = False
    return out
