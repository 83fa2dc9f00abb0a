"""One page per model: description, key facts, usage, other names, same weights, every field
with where it comes from, and the manifest itself with line anchors."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from zoo.manifest import Manifest, TilesInputSpec
from zoo.site import _usage
from zoo.site._entries import (
    hf_tree_url,
    other_names,
    page_path,
    params_m,
    revision,
    sha256,
    size_text,
    yaml_path,
)
from zoo.site._facts import Fact, Section, sections
from zoo.site._html import asset, code, esc, link, page, safe_url
from zoo.site._index import POOLING_SHORT

NO_DESCRIPTION = '<p class="muted">No description.</p>'
_BACKTICKS = re.compile(r"`([^`]+)`")


def prose(text: str) -> str:
    """Escaped text whose `backtick` spans become code (escaping first keeps them inert)."""
    return _BACKTICKS.sub(r"<code>\1</code>", esc(text))


@dataclass(frozen=True)
class PageInput:
    """What a model page needs besides the manifest."""

    manifest: Manifest
    raw: bytes
    lines: dict[tuple[str, ...], int]
    same_weights: Sequence[Manifest]
    known: frozenset[str]


def _model_link(name: str, root: str, known: frozenset[str]) -> str:
    if name in known:
        return f'<a href="{esc(root + page_path(name))}">{esc(name)}</a>'
    return code(name)


def _value(fact: Fact, m: Manifest, root: str, known: frozenset[str]) -> str:
    """A fact's value as HTML, with links and explanations where they add something."""
    value, path = fact.value, fact.path
    if path == ("same_weights_as",) and isinstance(value, str):
        return _model_link(value, root, known)
    if path == ("pairs_with",) and isinstance(value, list):
        return ", ".join(_model_link(str(v), root, known) for v in value)
    if path == ("aliases",) and isinstance(value, list):
        return ", ".join(code(v) for v in value)
    if path == ("output", "pooling") and isinstance(value, str):
        about = POOLING_SHORT.get(value)
        return code(value) + (f' <span class="muted">({esc(about)})</span>' if about else "")
    if path == ("checkpoint", "hf", "repo") and isinstance(value, str):
        return link(value, hf_tree_url(value))
    hf = m.checkpoint.hf if m.checkpoint is not None else None
    if path == ("checkpoint", "hf", "revision") and isinstance(value, str) and hf is not None:
        href = esc(hf_tree_url(hf.repo, value))
        return (
            f'<a href="{href}" rel="noopener noreferrer"><code class="hash">{esc(value)}</code></a>'
        )
    if path == ("input", "size") and isinstance(value, list):
        return esc(size_text(value))
    return render_value(value)


def render_value(value: Any) -> str:
    """Any JSON value, generically: yes/no, lists, ``key: value`` lines for mappings, links."""
    if value is None:
        return '<span class="muted">none</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return esc(f"{value:g}" if isinstance(value, float) else value)
    if isinstance(value, str):
        if safe_url(value):
            return link(value, value)
        if re.fullmatch(r"[0-9a-f]{40,64}", value):
            return f'<code class="hash">{esc(value)}</code>'
        return esc(value)
    if isinstance(value, list):
        if not value:
            return '<span class="muted">[]</span>'
        if all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
            return ", ".join(code(v) if isinstance(v, str) else render_value(v) for v in value)
        return (
            '<ol class="plain">' + "".join(f"<li>{render_value(v)}</li>" for v in value) + "</ol>"
        )
    if isinstance(value, dict):
        if not value:
            return '<span class="muted">{}</span>'
        items = "".join(
            f"<div><dt>{esc(k)}</dt><dd>{render_value(v)}</dd></div>" for k, v in value.items()
        )
        return f'<dl class="kv">{items}</dl>'
    return esc(value)


def _source(fact: Fact, lines: dict[tuple[str, ...], int]) -> str:
    if not fact.stated:
        return '<span class="muted">format default</span>'
    line = lines.get(fact.path) or lines.get(fact.path[:-1])
    return f'<a href="#L{line}">line {line}</a>' if line else "manifest"


def _facts_table(
    secs: Sequence[Section], render: Callable[[Fact], str], lines: dict[tuple[str, ...], int]
) -> str:
    parts = [
        '<div class="table-wrap facts-wrap"><table class="facts"><caption class="visually-hidden">'
        'Every field of the manifest</caption><thead><tr><th scope="col">Field</th>'
        '<th scope="col">Value</th><th scope="col">Source</th></tr></thead>'
    ]
    for sec in secs:
        parts.append(
            f'<tbody><tr class="section"><th colspan="3" scope="colgroup" id="facts-{esc(sec.key)}">'
            f'{esc(sec.key)} <span class="muted">{prose(sec.about)}</span></th></tr>'
        )
        for fact in sec.facts:
            about = f'<div class="about">{prose(fact.about)}</div>' if fact.about else ""
            parts.append(
                f'<tr><th scope="row"><code>{esc(fact.dotted)}</code>{about}</th>'
                f"<td>{render(fact)}</td><td>{_source(fact, lines)}</td></tr>"
            )
        parts.append("</tbody>")
    parts.append("</table></div>")
    return "".join(parts)


def _small(text: str) -> str:
    return f'<span class="small muted">{esc(text)}</span>' if text else ""


def _input(m: Manifest) -> str:
    spec = m.input
    if isinstance(spec, TilesInputSpec):
        coords = "reads tile coordinates" if spec.coords == "required" else "ignores coordinates"
        return esc(
            f"{spec.feature_dim}-d tile features, {spec.tile_size} px tiles at {spec.mpp.value:g} mpp"
        ) + _small(coords)
    return esc(size_text(spec.size)) + _small("other sizes allowed" if spec.dynamic_size else "")


def _glance(m: Manifest, root: str = "", known: frozenset[str] = frozenset()) -> str:
    lic = m.license
    items: list[tuple[str, str]] = [
        ("Embedding", f"{m.output.embedding_dim}-d"),
        ("Pooling", f"{esc(m.output.pooling)}{_small(POOLING_SHORT.get(m.output.pooling, ''))}"),
        ("Input", _input(m)),
    ]
    if m.pairs_with:
        links = ", ".join(_model_link(n, root, known) for n in m.pairs_with)
        items.append(("Takes features of", links))
    if m.output.patch_size:
        items.append(("Patch size", esc(m.output.patch_size)))
    pm = params_m(m)
    if pm is not None:
        items.append(("Parameters", f"{pm:g} M"))
    if lic is None:
        items.append(("Licence", '<span class="muted">not stated</span>'))
    else:
        use = "commercial use" if lic.commercial else "non-commercial"
        flag = f'<span class="flag flag-{"yes" if lic.commercial else "no"}">{use}</span>'
        items.append(("Licence", f"{link(lic.id, lic.url)} {flag}"))
    items.append(("Gated", "yes: needs an access token" if m.gated else "no"))
    weights = esc(m.source)
    if revision(m):
        weights += " · revision pinned"
    if sha256(m):
        weights += " · sha256"
    items.append(("Weights", weights if m.checkpoint else "none (random initialization)"))
    cells = "".join(f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in items)
    return f'<dl class="glance">{cells}</dl>'


def _names(m: Manifest) -> str:
    names = other_names(m)
    if not names:
        return '<p class="muted">No other names declared.</p>'
    items = []
    for tool, name, url in names:
        shown = link(name, url) if url else code(name)
        note = " (<code>zoo load</code> accepts it too)" if tool == "alias" else ""
        items.append(f'<li><span class="tool">{esc(tool)}</span> {shown}{note}</li>')
    return f'<ul class="names">{"".join(items)}</ul>'


def _same(others: Sequence[Manifest], root: str, known: frozenset[str]) -> str:
    if not others:
        return '<p class="muted">No other entry declares these weights.</p>'
    items = "".join(
        f'<li>{_model_link(o.name, root, known)} <span class="muted">{esc(o.output.pooling)} pooling, '
        f"{o.output.embedding_dim}-d</span></li>"
        for o in others
    )
    return f'<ul class="names">{items}</ul>'


def _manifest_source(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = "".join(
        f'<span class="line" id="L{i}"><a class="ln" href="#L{i}" aria-hidden="true" tabindex="-1">{i}</a>{esc(line)}\n</span>'
        for i, line in enumerate(lines, 1)
    )
    return (
        f'<pre class="yaml" tabindex="0" aria-label="The manifest file"><code>{body}</code></pre>'
    )


def render_page(item: PageInput) -> str:
    """The whole page of one model."""
    m, root = item.manifest, "../../"
    secs = sections(m)
    description = "".join(f"<p>{prose(p)}</p>" for p in m.description.split("\n\n") if p.strip())
    tags = "".join(f'<li class="tag">{esc(t)}</li>' for t in m.tags)
    yaml_name = yaml_path(m.name).rsplit("/", 1)[-1]
    body = (
        f'<nav class="crumbs" aria-label="Breadcrumb"><a href="{root}index.html">All models</a> / '
        f"{esc(m.group)}</nav>"
        f"<h1>{esc(m.name)}</h1>"
        f'<ul class="tags" aria-label="Tags">{tags}</ul>'
        f'<div class="description">{description or NO_DESCRIPTION}</div>'
        f"{_glance(m, root, item.known)}"
        '<section aria-labelledby="use"><h2 id="use">Use it</h2>'
        f"{_usage.snippets(m)}</section>"
        '<div class="two-col">'
        '<section aria-labelledby="names"><h2 id="names">Names in other tools</h2>'
        f"{_names(m)}</section>"
        '<section aria-labelledby="same"><h2 id="same">Entries with the same weights</h2>'
        f"{_same(item.same_weights, root, item.known)}</section></div>"
        '<section aria-labelledby="facts"><h2 id="facts">Facts</h2>'
        '<p class="muted">Every field of the manifest, with its documentation from the manifest '
        "format; the source is the line of the manifest that states it.</p>"
        f"{_facts_table(secs, lambda f: _value(f, m, root, item.known), item.lines)}</section>"
        '<section aria-labelledby="manifest"><h2 id="manifest">The manifest</h2>'
        f'<p><a href="{esc(yaml_name)}" download>Download {esc(yaml_name)}</a></p>'
        f"{_manifest_source(item.raw)}</section>"
    )
    nav = f'<nav class="top-nav" aria-label="Site"><a href="{root}index.html">All models</a></nav>'
    return page(title=f"{m.name} · zoo", body=body, root=root, script=asset("page.js"), nav=nav)
