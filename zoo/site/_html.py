"""HTML building blocks: escaping, safe links, JSON data blocks and the page shell.

There is no template engine: pages are built from small functions, and every value
that comes from a manifest goes through :func:`esc` (text and attributes) or
:func:`json_block` (data for the page's script). Manifests are contributor input.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from functools import cache
from importlib import resources
from typing import Any

from zoo import __version__

#: Only these schemes become links; anything else (``javascript:``, ``data:``) stays text.
_SAFE_URL = re.compile(r"^https?://[^\s\"'<>\\]+$", re.IGNORECASE)
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def esc(value: object) -> str:
    """Text or attribute value, HTML-escaped (quotes included)."""
    return html.escape(str(value), quote=True)


def safe_url(url: object) -> str | None:
    """The URL if it is plain http(s), else ``None``."""
    return url if isinstance(url, str) and _SAFE_URL.match(url) else None


def link(text: object, url: object, *, cls: str | None = None) -> str:
    """An external link, or the escaped text alone when the URL is not plain http(s)."""
    href = safe_url(url)
    if href is None:
        return esc(text)
    klass = f' class="{esc(cls)}"' if cls else ""
    return f'<a{klass} href="{esc(href)}" rel="noopener noreferrer">{esc(text)}</a>'


def code(value: object) -> str:
    """Inline code."""
    return f"<code>{esc(value)}</code>"


def json_block(element_id: str, data: Any) -> str:
    """Data for the page's script in a ``<script type="application/json">`` (never executed).

    ``<``, ``>`` and ``&`` are written as JSON escapes, so no string in the data can
    close the element (``</script>``) whatever a manifest says.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in _JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


@cache
def asset(name: str) -> str:
    """A file shipped in ``zoo/site/assets`` (CSS, JavaScript)."""
    return resources.files("zoo.site").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def page(
    *,
    title: str,
    body: str,
    root: str,
    script: str | None = None,
    nav: str = "",
    skip: tuple[str, str] = ("main", "Skip to content"),
) -> str:
    """A whole HTML document.

    Args:
        title: The document title (escaped here).
        body: The main content (HTML).
        root: Relative path from this page to the site root (``""`` or ``"../../"``).
        script: JavaScript to inline at the end of the body; the Content Security Policy
            allows exactly this script (by hash) and nothing else to run.
        nav: Header links (HTML).
        skip: The skip link's target id and text (the first thing a keyboard reaches).
    """
    scripts = f"script-src '{_script_hash(script)}'" if script else "script-src 'none'"
    # Styles stay unrestricted: a CSP 'self' does not match file:// pages in every browser.
    csp = (
        f"{scripts}; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "connect-src 'none'; frame-src 'none'; font-src 'none'; img-src data:"
    )
    tail = f"<script>{script}</script>\n" if script else ""
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">\n'
        '<meta name="generator" content="zoo site">\n'
        f"<title>{esc(title)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{root}assets/site.css">\n'
        "</head>\n<body>\n"
        f'<a class="skip-link" href="#{esc(skip[0])}">{esc(skip[1])}</a>\n'
        '<header class="site-header"><div class="wrap">'
        f'<span class="brand">zoo <span class="brand-sub">backbone catalogue</span></span>{nav}'
        "</div></header>\n"
        f'<main id="main" class="wrap" tabindex="-1">\n{body}\n</main>\n'
        '<footer class="site-footer"><div class="wrap">'
        f"Generated from the manifests by <code>zoo site</code> (zoo {esc(__version__)}). "
        "Every fact on these pages is a field of a manifest; the manifest is the source."
        "</div></footer>\n"
        f"{tail}</body>\n</html>\n"
    )
