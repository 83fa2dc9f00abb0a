"""Figures drawn at generation time as inline SVG: no chart library, no script, no network.

Coordinates are rounded to one decimal and every label is escaped, so the same
catalogue gives the same bytes and a manifest cannot inject markup.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from zoo.site._html import esc

#: Okabe-Ito, a palette that colour-blind readers can tell apart; groups beyond it cycle.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D1F", "#000000")


#: The licence filter's value for entries that state no licence (not a valid licence id).
NO_LICENCE = "(none)"


def group_colors(groups: Sequence[str]) -> dict[str, str]:
    """A stable colour per group (sorted names take the palette in order)."""
    return {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(sorted(set(groups)))}


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _jitter(name: str, spread: float) -> float:
    """A deterministic offset in ``[-spread, spread]`` so equal points do not hide each other."""
    byte = hashlib.sha256(name.encode()).digest()[0]
    return (byte / 255 - 0.5) * 2 * spread


def _params_label(millions: float) -> str:
    return f"{millions / 1000:.4g}B" if millions >= 1000 else f"{millions:.4g}M"


@dataclass(frozen=True)
class Point:
    """One entry on the scatter plot."""

    name: str
    group: str
    params_m: float
    dim: int
    href: str


def scatter(points: Sequence[Point], total: int, colors: dict[str, str]) -> str:
    """Embedding dim against parameter count (both log scale), one colour per group.

    Args:
        points: Entries that declare ``metrics.params``.
        total: Number of entries in the catalogue (for the caption).
        colors: Group colours (:func:`group_colors`).
    """
    caption = (
        f"{len(points)} of {total} entries declare a parameter count (metrics.params). "
        "Each point links to its page."
    )
    if not points:
        return f'<p class="figure-empty">{esc(caption)}</p>'
    width, height = 560, 330
    left, right, top, bottom = 58, 14, 34, 46
    lo_x = math.floor(math.log10(min(p.params_m for p in points)))
    hi_x = max(math.ceil(math.log10(max(p.params_m for p in points))), lo_x + 1)
    lo_y = math.floor(math.log2(min(p.dim for p in points)))
    hi_y = max(math.ceil(math.log2(max(p.dim for p in points))), lo_y + 1)

    def x_of(v: float) -> float:
        return left + (math.log10(v) - lo_x) / (hi_x - lo_x) * (width - left - right)

    def y_of(v: float) -> float:
        return height - bottom - (math.log2(v) - lo_y) / (hi_y - lo_y) * (height - top - bottom)

    parts = [
        f'<svg class="figure" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-labelledby="fig-scatter-title fig-scatter-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="fig-scatter-title">Embedding dim against parameter count</title>',
        f'<desc id="fig-scatter-desc">{esc(caption)}</desc>',
    ]
    base = height - bottom
    for e in range(lo_x, hi_x + 1):
        x = _n(x_of(10**e))
        parts.append(f'<line class="grid" x1="{x}" x2="{x}" y1="{top}" y2="{base}"/>')
        parts.append(
            f'<text class="tick" x="{x}" y="{base + 16}" text-anchor="middle">'
            f"{esc(_params_label(10**e))}</text>"
        )
    for e in range(lo_y, hi_y + 1):
        y = _n(y_of(2**e))
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y}" y2="{y}"/>')
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{y}" dy="0.32em" text-anchor="end">{2**e}</text>'
        )
    parts.append(
        f'<text class="axis" x="{_n((left + width - right) / 2)}" y="{height - 8}" '
        'text-anchor="middle">parameters (log scale)</text>'
    )
    parts.append(
        f'<text class="axis" transform="translate(14 {_n((top + base) / 2)}) rotate(-90)" '
        'text-anchor="middle">embedding dim (log scale)</text>'
    )
    for p in sorted(points, key=lambda p: (p.group, p.name)):
        cx, cy = (
            _n(x_of(p.params_m) + _jitter(p.name, 4)),
            _n(y_of(p.dim) + _jitter(p.name[::-1], 4)),
        )
        label = f"{p.name}: {_params_label(p.params_m)} parameters, {p.dim}-d embedding"
        parts.append(
            f'<a href="{esc(p.href)}" aria-label="{esc(label)}"><circle cx="{cx}" cy="{cy}" r="4.5" '
            f'fill="{colors[p.group]}"><title>{esc(label)}</title></circle></a>'
        )
    at = left
    for group in sorted({p.group for p in points}):
        parts.append(f'<circle cx="{at + 5}" cy="16" r="5" fill="{colors[group]}"/>')
        parts.append(f'<text class="legend" x="{at + 14}" y="16" dy="0.32em">{esc(group)}</text>')
        at += 28 + 7 * len(group)
    parts.append("</svg>")
    return "\n".join(parts) + f'\n<p class="figure-caption">{esc(caption)}</p>'


@dataclass(frozen=True)
class LicenceCell:
    """Entries of one licence with one commercial-use answer."""

    count: int
    gated: int


def licence_matrix(cells: dict[tuple[str, str], LicenceCell]) -> str:
    """Licence against commercial use: a count per cell, shaded by count, each cell a link
    that filters the index (``#license=...&commercial=...``).

    Args:
        cells: ``(licence id or "", "yes" | "no" | "unknown") -> counts``; ``""`` is no licence stated.
    """
    columns = [c for c in ("yes", "no", "unknown") if any(k[1] == c for k in cells)]
    heads = {"yes": "commercial use", "no": "non-commercial", "unknown": "not stated"}
    totals: dict[str, int] = {}
    for (lic, _), counted in cells.items():
        totals[lic] = totals.get(lic, 0) + counted.count
    rows = sorted(totals, key=lambda lic: (-totals[lic], lic == "", lic))
    most = max((c.count for c in cells.values()), default=1)
    label_w = max([8 * len(lic or "not stated") for lic in rows] + [60]) + 18
    cell_w, cell_h, top = 150, 38, 34
    width, height = label_w + cell_w * len(columns) + 4, top + cell_h * len(rows) + 4
    parts = [
        f'<svg class="figure matrix" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-labelledby="fig-licence-title fig-licence-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="fig-licence-title">Licences and commercial use</title>',
        '<desc id="fig-licence-desc">Number of entries per licence, split by whether the licence '
        "allows commercial use; each cell filters the table.</desc>",
    ]
    for j, col in enumerate(columns):
        x = label_w + j * cell_w + cell_w / 2
        parts.append(
            f'<text class="head" x="{_n(x)}" y="{top - 10}" text-anchor="middle">{heads[col]}</text>'
        )
    for i, lic in enumerate(rows):
        y = top + i * cell_h
        shown = lic or "not stated"
        parts.append(
            f'<text class="tick" x="{label_w - 8}" y="{_n(y + cell_h / 2)}" dy="0.32em" '
            f'text-anchor="end">{esc(shown)}</text>'
        )
        for j, col in enumerate(columns):
            cell = cells.get((lic, col))
            x = label_w + j * cell_w
            if cell is None:
                parts.append(
                    f'<rect class="cell-empty" x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" '
                    f'height="{cell_h - 2}" rx="3"/>'
                )
                continue
            share = 0.18 + 0.82 * cell.count / most
            text = f"{cell.count}" + (f" ({cell.gated} gated)" if cell.gated else "")
            label = f"{shown}, {heads[col]}: {cell.count} entries, {cell.gated} gated"
            href = f"#license={quote(lic or NO_LICENCE, safe='')}&commercial={col}"
            parts.append(
                f'<a href="{esc(href)}" aria-label="{esc(label)}"><rect class="cell cell-{col}" '
                f'x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" rx="3" '
                f'fill-opacity="{share:.2f}"><title>{esc(label)}</title></rect>'
                f'<text class="count{" dark" if share > 0.6 else ""}" x="{_n(x + cell_w / 2)}" '
                f'y="{_n(y + cell_h / 2)}" dy="0.32em" text-anchor="middle">{esc(text)}</text></a>'
            )
    parts.append("</svg>")
    return "\n".join(parts)
