"""A static, self-contained website of the catalogue (``zoo site --out DIR``).

One index page (every entry; search, filters, sortable columns, figures) and one page
per model, generated from the manifests. No server, no CDN, no network fonts or
scripts: the folder works from ``file://`` and from any static host (GitHub Pages).
The same catalogue gives the same bytes, so a published site diffs cleanly.

    >>> from zoo.site import build_site
    >>> build_site("public/")                       # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from zoo.catalog._yaml import field_lines
from zoo.catalog.parse import read_bytes
from zoo.catalog.reader import Catalog
from zoo.manifest import Manifest
from zoo.problems import Problem
from zoo.site import _svg
from zoo.site._entries import WeightsGroups, index_row, page_path, params_m, yaml_path
from zoo.site._html import asset
from zoo.site._index import render_index
from zoo.site._page import PageInput, render_page
from zoo.site._write import LEDGER, WriteReport, write_site

__all__ = ["LEDGER", "SiteResult", "build_site", "render_files"]


@dataclass
class SiteResult:
    """What ``build_site`` made.

    Attributes:
        out: The site folder.
        models: Names of the entries on the site, sorted.
        files: Every file of the site (relative paths, sorted).
        report: Which files were written, left unchanged or removed.
        problems: Invalid manifests that were left out (``zoo validate`` explains them).
    """

    out: Path
    models: list[str]
    files: list[str]
    report: WriteReport
    problems: list[Problem] = field(default_factory=list)

    @property
    def index(self) -> Path:
        """The index page."""
        return self.out / "index.html"


def _figures(manifests: list[Manifest]) -> list[tuple[str, str]]:
    colors = _svg.group_colors([m.group for m in manifests])
    points = [
        _svg.Point(m.name, m.group, pm, m.output.embedding_dim, page_path(m.name))
        for m in manifests
        if (pm := params_m(m)) is not None and pm > 0
    ]
    cells: Counter[tuple[str, str]] = Counter()
    gated: Counter[tuple[str, str]] = Counter()
    for m in manifests:
        lic = m.license
        key = (lic.id, "yes" if lic.commercial else "no") if lic else ("", "unknown")
        cells[key] += 1
        gated[key] += m.gated
    matrix = {k: _svg.LicenceCell(n, gated[k]) for k, n in cells.items()}
    return [
        ("Licences and commercial use", _svg.licence_matrix(matrix)),
        ("Embedding width against size", _svg.scatter(points, len(manifests), colors)),
    ]


def render_files(catalog: Catalog) -> tuple[dict[str, bytes], list[Manifest]]:
    """Every file of the site (relative path -> bytes) and the manifests on it.

    Manifests are read by ``catalog`` (invalid ones are in ``catalog.problems`` and left out).
    """
    manifests = catalog.list()
    groups = WeightsGroups.of(manifests)
    by_name = {m.name: m for m in manifests}
    known = frozenset(by_name)
    files: dict[str, bytes] = {
        "assets/site.css": asset("site.css").encode("utf-8"),
    }
    rows, hrefs = [], []
    for m in manifests:
        raw = read_bytes(m.file) if m.file is not None else b""
        rows.append(index_row(m))
        hrefs.append(page_path(m.name))
        item = PageInput(
            manifest=m,
            raw=raw,
            lines=field_lines(raw),
            same_weights=[by_name[n] for n in groups.others(m.name)],
            known=known,
        )
        files[page_path(m.name)] = render_page(item).encode("utf-8")
        files[yaml_path(m.name)] = raw
    files["index.html"] = render_index(rows, hrefs, _figures(manifests)).encode("utf-8")
    return files, manifests


def build_site(out: str | Path, catalog: Catalog | None = None) -> SiteResult:
    """Generate the site into ``out``.

    Args:
        out: The site folder: new, empty, or one an earlier ``build_site`` wrote (its
            ledger says which files are zoo's; no other file is replaced or deleted).
        catalog: Default: the bundled catalogue plus ``ZOO_CATALOG_PATH``.

    Raises:
        SiteOutputError: ``out`` holds files that zoo did not write where the site goes.
        DuplicateNameError: Two manifests claim the same name or alias.
    """
    catalog = catalog if catalog is not None else Catalog()
    files, manifests = render_files(catalog)
    folder = Path(out)
    report = write_site(folder, files)
    return SiteResult(
        out=folder,
        models=[m.name for m in manifests],
        files=sorted(files),
        report=report,
        problems=catalog.problems,
    )
