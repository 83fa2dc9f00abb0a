"""The index page: every entry in one table, with search, filters and sortable columns.

The rows are plain HTML (the page reads without JavaScript); the script filters by
toggling ``hidden`` on rows whose state changes and sorts by moving rows, reading one
precomputed record per row (``index_row``) from a JSON block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from zoo.site._html import asset, esc, json_block, page
from zoo.site._svg import NO_LICENCE

#: (row key, header, sort key, numeric)
COLUMNS = (
    ("n", "Name", "n", False),
    ("w", "Wrapper", "w", False),
    ("d", "Dim", "d", True),
    ("pm", "Params", "pm", True),
    ("i", "Input", "ia", True),
    ("p", "Pooling", "p", False),
    ("l", "Licence", "l", False),
    ("c", "Commercial", "c", False),
    ("gt", "Gated", "gt", False),
    ("src", "Weights", "src", False),
)

#: Rows shown at once before "Show all": laying out a table costs the browser about half a
#: millisecond per visible row, so a keystroke that reveals 1,000 rows would stall the page.
SHOWN = 150

POOLING_SHORT = {
    "cls": "class token",
    "mean": "mean of patch tokens",
    "cls+mean": "class token + patch mean",
    "pooler": "the model's own pooled output",
    "projection": "projected image embedding",
    "none": "the model's own output",
}


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    if value is None:
        return '<span class="muted">?</span>'
    return f'<span class="flag flag-{"yes" if value else "no"}">{yes if value else no}</span>'


def count_text(matched: int, shown: int, total: int) -> str:
    """The line above the table (``index.js`` writes the same words)."""
    if matched == shown:
        return f"{shown} of {total} models"
    return f"{matched} of {total} models match; showing the first {shown}"


def _row(row: dict[str, Any], href: str, hidden: bool) -> str:
    params = f"{row['pm']:g}M" if row["pm"] is not None else '<span class="muted">—</span>'
    pins = []
    if row["rv"]:
        pins.append('<span class="pin" title="pinned Hugging Face revision">rev</span>')
    if row["sh"]:
        pins.append('<span class="pin" title="sha256 declared">sha256</span>')
    group, _, stem = row["n"].partition("/")
    gated = (
        '<span class="flag flag-no">gated</span>' if row["gt"] else '<span class="muted">no</span>'
    )
    licence = esc(row["l"]) if row["l"] else '<span class="muted">not stated</span>'
    return (
        f'<tr{" hidden" if hidden else ""}><th scope="row"><a href="{esc(href)}"><span class="grp">{esc(group)}/</span>'
        f"{esc(stem)}</a></th><td>{esc(row['w'])}</td>"
        f'<td class="num">{esc(row["d"])}</td><td class="num">{params}</td>'
        f'<td class="num">{esc(row["i"])}</td><td>{esc(row["p"])}</td><td>{licence}</td>'
        f"<td>{_yes_no(row['c'])}</td><td>{gated}</td>"
        f"<td>{esc(row['src'])} {' '.join(pins)}</td></tr>"
    )


def _options(values: Sequence[str], shown: dict[str, str] | None = None) -> str:
    counts = Counter(values)
    opts = ['<option value="">any</option>']
    for value in sorted(counts):
        label = (shown or {}).get(value, value)
        opts.append(f'<option value="{esc(value)}">{esc(label)} ({counts[value]})</option>')
    return "".join(opts)


#: What each input kind means, for the filter's options.
KIND_SHORT = {
    "image": "image encoders",
    "volume": "3-D volume encoders",
    "tiles": "slide encoders (take a patch encoder's tile features)",
}


def _select(name: str, label: str, options: str) -> str:
    return (
        f'<div class="field"><label for="f-{name}">{esc(label)}</label>'
        f'<select id="f-{name}" name="{name}">{options}</select></div>'
    )


def _controls(rows: Sequence[dict[str, Any]]) -> str:
    licences = [r["l"] or NO_LICENCE for r in rows]
    inputs = sorted({r["i"]: r["ia"] for r in rows}.items(), key=lambda kv: (kv[1], kv[0]))
    input_counts = Counter(r["i"] for r in rows)
    input_options = '<option value="">any</option>' + "".join(
        f'<option value="{esc(i)}">{esc(i)} ({input_counts[i]})</option>' for i, _ in inputs
    )
    dims = [r["d"] for r in rows] or [0]
    tri = (
        '<option value="">any</option><option value="yes">yes</option>'
        '<option value="no">no</option>'
    )
    return (
        '<form id="filters" class="filters" role="search" aria-label="Search and filter the models">'
        '<div class="search-row"><label for="q">Search</label>'
        '<input id="q" name="q" type="search" autocomplete="off" spellcheck="false" '
        'placeholder="name, tag, licence, description…  (press / to jump here)" '
        'aria-describedby="count">'
        '<button type="reset" id="reset">Reset</button></div>'
        '<div class="filter-grid">'
        + _select("group", "Group", _options([r["g"] for r in rows]))
        + _select("kind", "Kind", _options([r["k"] for r in rows], KIND_SHORT))
        + _select("wrapper", "Wrapper", _options([r["w"] for r in rows]))
        + _select("license", "Licence", _options(licences, {NO_LICENCE: "not stated"}))
        + _select(
            "commercial",
            "Commercial use",
            tri + '<option value="unknown">not stated</option>',
        )
        + _select("gated", "Gated", tri)
        + _select("pooling", "Pooling", _options([r["p"] for r in rows], POOLING_SHORT))
        + _select("input", "Input size", input_options)
        + _select("source", "Weights from", _options([r["src"] for r in rows]))
        + '<fieldset class="field range"><legend>Embedding dim</legend>'
        f'<label for="f-dmin" class="visually-hidden">Embedding dim at least</label>'
        f'<input id="f-dmin" name="dmin" type="number" inputmode="numeric" min="0" step="1" '
        f'placeholder="{min(dims)}">'
        '<span aria-hidden="true">&ndash;</span>'
        f'<label for="f-dmax" class="visually-hidden">Embedding dim at most</label>'
        f'<input id="f-dmax" name="dmax" type="number" inputmode="numeric" min="0" step="1" '
        f'placeholder="{max(dims)}"></fieldset>'
        '<fieldset class="field checks"><legend>Weights pinned</legend>'
        '<label><input id="f-rv" name="rv" type="checkbox" value="1"> revision</label>'
        '<label><input id="f-sh" name="sh" type="checkbox" value="1"> sha256</label>'
        "</fieldset>"
        "</div></form>"
    )


def _table(rows: Sequence[dict[str, Any]], hrefs: Sequence[str]) -> str:
    heads = []
    for key, header, sort_key, numeric in COLUMNS:
        sort = ' aria-sort="ascending"' if key == "n" else ""
        klass = ' class="num"' if numeric else ""
        heads.append(
            f'<th scope="col"{klass}{sort} data-key="{sort_key}">'
            f'<button type="button" data-key="{sort_key}">{header}'
            '<span class="sort-mark" aria-hidden="true"></span></button></th>'
        )
    body = "\n".join(
        _row(row, href, i >= SHOWN) for i, (row, href) in enumerate(zip(rows, hrefs, strict=True))
    )
    return (
        '<div class="table-wrap" role="region" aria-labelledby="models-heading" tabindex="0">'
        '<table id="models"><caption class="visually-hidden">Models; column headers sort the '
        "table</caption>"
        f"<thead><tr>{''.join(heads)}</tr></thead>\n"
        f'<tbody id="rows">\n{body}\n</tbody></table></div>'
    )


def render_index(
    rows: Sequence[dict[str, Any]], hrefs: Sequence[str], figures: Sequence[tuple[str, str]]
) -> str:
    """The whole index page.

    Args:
        rows: One :func:`zoo.site._entries.index_row` per entry, in name order.
        hrefs: Each entry's page, relative to the site root.
        figures: ``(heading, svg html)`` pairs shown above the table.
    """
    groups = sorted({r["g"] for r in rows})
    figure_html = "".join(
        f'<figure class="card"><figcaption><h2 class="fig-title">{esc(title)}</h2></figcaption>'
        f"{svg}</figure>"
        for title, svg in figures
    )
    body = (
        '<h1>Vision backbones</h1>\n<p class="lede">'
        f"{len(rows)} models in {len(groups)} group{'s' if len(groups) != 1 else ''} "
        f"({esc(', '.join(groups))}). Each row is one YAML manifest: what the weights are, "
        "who may use them, and exactly which embedding <code>zoo.load</code> returns. "
        "Every timm model is also available as <code>timm/&lt;architecture&gt;</code>.</p>\n"
        f'<section class="figures" aria-label="Overview">{figure_html}</section>\n'
        '<section id="models-section" class="models" aria-labelledby="models-heading" '
        'tabindex="-1">'
        '<h2 id="models-heading">Models</h2>'
        f"{_controls(rows)}"
        f'<p id="count" class="count" role="status" aria-live="polite">'
        f"{count_text(len(rows), min(len(rows), SHOWN), len(rows))}</p>"
        f"{_table(rows, hrefs)}"
        f'<p class="more"><button type="button" id="more"{"" if len(rows) > SHOWN else " hidden"}>'
        f"Show all {len(rows)}</button></p>"
        '<p id="empty" class="empty" hidden>No model matches these filters.</p>'
        # Without JavaScript every row shows (the first SHOWN are only a rendering budget).
        "<noscript><style>#rows tr[hidden] { display: table-row; } #more { display: none; }"
        "</style></noscript>"
        "</section>\n"
        f"{json_block('zoo-data', {'rows': list(rows), 'noLicence': NO_LICENCE, 'shown': SHOWN})}"
    )
    return page(
        title="zoo: vision backbone catalogue",
        body=body,
        root="",
        script=asset("index.js"),
        skip=("models-section", "Skip to the model search"),
    )
