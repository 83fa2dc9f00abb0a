"""`zoo site`: the generated files, their content, escaping, determinism and figures."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from tests.conftest import CliRunner
from tests.site.conftest import HOSTILE, REVISION, SHA
from zoo.catalog._yaml import field_lines
from zoo.catalog.reader import Catalog
from zoo.catalog.roots import bundled_root
from zoo.site import build_site, render_files
from zoo.site._facts import sections
from zoo.site._svg import Point, group_colors, licence_matrix, scatter

NAMES = (
    "vision/vit_small",
    "vision/vit_small_cls_mean",
    "pathology/histo_vit",
    "pathology/histo_vit_mean",
    "other/resnet_fn",
    "other/hostile",
)


class _Elements(HTMLParser):
    """Every element with its attributes, and the text of each <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None


def parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture
def site(site_env: Path, tmp_path: Path, run_cli: CliRunner) -> Path:
    out = tmp_path / "site"
    code, stdout, stderr = run_cli("site", "--out", out)
    assert code == 0, stderr
    assert stdout.strip() == str(out / "index.html")
    return out


def page_of(site: Path, name: str) -> str:
    group, stem = name.split("/")
    return (site / "models" / group / f"{stem}.html").read_text(encoding="utf-8")


def test_every_entry_has_a_page_and_its_manifest(site: Path, site_root: Path) -> None:
    bundled = sorted(p.relative_to(bundled_root()) for p in bundled_root().rglob("*.yaml"))
    expected = [str(p.with_suffix("")) for p in bundled] + list(NAMES)
    index = (site / "index.html").read_text(encoding="utf-8")
    for name in expected:
        group, stem = name.split("/")
        assert (site / "models" / group / f"{stem}.html").is_file()
        copy = site / "models" / group / f"{stem}.yaml"
        source = (
            site_root / group / f"{stem}.yaml" if name in NAMES else bundled_root() / f"{name}.yaml"
        )
        assert copy.read_bytes() == source.read_bytes()
        assert f'href="models/{group}/{stem}.html"' in index
    data = _index_data(index)
    assert [r["n"] for r in data["rows"]] == sorted(expected)
    assert f"{len(expected)} of {len(expected)} models" in index
    assert (site / "assets" / "site.css").is_file()
    ledger = json.loads((site / ".zoo-site.json").read_text())
    on_disk = sorted(
        str(p.relative_to(site))
        for p in site.rglob("*")
        if p.is_file() and p.name != ".zoo-site.json"
    )
    assert ledger["files"] == on_disk


def _index_data(index: str) -> dict:
    (data,) = [t for a, t in parse(index).scripts if a.get("type") == "application/json"]
    return json.loads(data)


def test_json_summary(site_env: Path, tmp_path: Path, run_cli: CliRunner) -> None:
    code, stdout, _ = run_cli("site", "--out", tmp_path / "s", "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["index"] == str(tmp_path / "s" / "index.html")
    assert summary["models"] == len(Catalog())
    assert summary["written"] == summary["files"] == 2 * summary["models"] + 2
    assert summary["unchanged"] == 0
    assert summary["removed"] == summary["skipped"] == []


def test_index_rows_carry_the_filtered_facts(site: Path) -> None:
    rows = {r["n"]: r for r in _index_data((site / "index.html").read_text())["rows"]}
    histo = rows["pathology/histo_vit"]
    assert histo | {"s": ""} == {
        "n": "pathology/histo_vit",
        "k": "image",
        "g": "pathology",
        "w": "timm",
        "l": "CC-BY-NC-4.0",
        "c": False,
        "gt": True,
        "p": "cls",
        "d": 1024,
        "pm": 304.0,
        "i": "224\N{MULTIPLICATION SIGN}224",
        "ia": 224 * 224,
        "src": "hf",
        "rv": True,
        "sh": True,
        "s": "",
    }
    assert "example-org/histo" in histo["s"]
    assert rows["other/resnet_fn"]["l"] == ""
    assert rows["other/resnet_fn"]["c"] is None
    assert rows["other/resnet_fn"]["src"] == "none"
    assert rows["vision/vit_small"]["s"] == rows["vision/vit_small"]["s"].lower()
    assert "mmpre/vit-small-p16" in rows["vision/vit_small"]["s"]


def test_model_page_shows_facts_usage_names_and_same_weights(site: Path) -> None:
    page = page_of(site, "pathology/histo_vit")
    assert "<h1>pathology/histo_vit</h1>" in page
    # Usage, all three ways.
    assert "zoo.load(&quot;pathology/histo_vit&quot;)" in page
    assert "zoo load pathology/histo_vit" in page
    assert "class_path: zoo.Backbone" in page
    assert "name: pathology/histo_vit" in page
    assert "HF_TOKEN" in page  # gated: says how to get access
    # Facts with their sources: a line of the manifest, a format default, external links.
    assert f'href="https://huggingface.co/example-org/histo/tree/{REVISION}"' in page
    assert 'href="https://huggingface.co/example-org/histo"' in page
    assert SHA in page
    assert 'href="https://example.org/l"' in page
    assert "format default" in page  # checkpoint.strict is not in the file
    # Names in other tools, entries with the same weights.
    assert "Hugging Face Hub" in page
    assert 'href="../../models/pathology/histo_vit_mean.html"' in page
    small = page_of(site, "vision/vit_small")
    assert "<code>mmpre/vit-small-p16</code>" in small
    assert 'href="../../models/vision/vit_small_cls_mean.html"' in small
    assert "<p>Second paragraph with <code>code</code>.</p>" in small
    assert "No other entry declares these weights." in page_of(site, "other/resnet_fn")


def test_fact_sources_point_at_the_line_that_states_them(site: Path, site_root: Path) -> None:
    raw = (site_root / "pathology" / "histo_vit.yaml").read_bytes()
    lines = raw.decode().splitlines()
    page = page_of(site, "pathology/histo_vit")
    rows = re.findall(r"<code>([a-z_.0-9]+)</code>.*?</th><td>.*?</td><td>(.*?)</td></tr>", page)
    assert len(rows) > 20
    for dotted, source in rows:
        line = re.search(r'href="#L(\d+)"', source)
        if line is None:
            assert "format default" in source, dotted
            continue
        text = lines[int(line.group(1)) - 1]
        assert f"{dotted.rsplit('.', 1)[-1]}:" in text, (dotted, text)
        assert f'id="L{line.group(1)}"' in page


@pytest.mark.parametrize(
    "name",
    sorted(
        str(p.relative_to(bundled_root()).with_suffix("")) for p in bundled_root().rglob("*.yaml")
    ),
)
def test_facts_cover_every_stated_field(name: str) -> None:
    """Generic rendering loses nothing: every leaf the manifest file states is a fact."""
    manifest = Catalog([bundled_root()]).get(name)
    assert manifest.file is not None
    data = yaml.safe_load(manifest.file.read_bytes())
    facts = {f.path: f for s in sections(manifest) for f in s.facts}

    def leaves(value: object, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        if isinstance(value, dict) and path[-1:] not in (
            ("kwargs",),
            ("config",),
            ("rename",),
            ("arguments",),
        ):
            return [p for k, v in value.items() for p in leaves(v, (*path, str(k)))]
        return [path]

    stated = [p for p in leaves(data, ()) if p[0] not in ("name", "description")]
    for path in stated:
        assert path in facts, path
        assert facts[path].stated, path
        # Documented from the format (metrics are free-form names).
        assert facts[path].about or path[0] == "metrics", path
    lines = field_lines(manifest.file.read_bytes())
    assert all(p in lines for p in stated)


def test_hostile_manifest_is_escaped_everywhere(site: Path) -> None:
    page = page_of(site, "other/hostile")
    index = (site / "index.html").read_text(encoding="utf-8")
    for html in (page, index):
        assert "<script>window.__pwned" not in html
        assert "<img src=x" not in html
        assert 'href="javascript:' not in html
        # The only scripts are zoo's: one inline script (allowed by hash) and the data block.
        elements = parse(html)
        assert [t for t, _ in elements.tags].count("img") == 0
        assert not any(a.get("onerror") is not None for _, a in elements.tags)
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "<code>" + "&lt;script&gt;" in page  # the backtick span is escaped before it is code
    assert "example.org/&quot;&gt;&lt;script&gt;" in page  # an unsafe URL stays text
    assert "<td>javascript:alert(1)</td>" in page
    # In the index's data, `<` is a JSON escape: nothing can close the data block.
    assert "\\u003cscript\\u003ewindow.__pwned" in index
    row = next(r for r in _index_data(index)["rows"] if r["n"] == "other/hostile")
    assert HOSTILE.lower() in row["s"]


def test_scripts_are_zoo_s_own_and_allowed_by_the_content_security_policy(site: Path) -> None:
    for file in [site / "index.html", *sorted((site / "models").rglob("*.html"))]:
        elements = parse(file.read_text(encoding="utf-8"))
        meta = next(a for t, a in elements.tags if t == "meta" and a.get("http-equiv"))
        csp = meta["content"] or ""
        code = [text for attrs, text in elements.scripts if attrs.get("type") is None]
        assert len(code) == 1, file
        digest = base64.b64encode(hashlib.sha256(code[0].encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in csp
        assert "connect-src 'none'" in csp
        assert "font-src 'none'" in csp
        assert all("src" not in attrs for attrs, _ in elements.scripts)


def test_nothing_is_fetched_from_the_network(site: Path) -> None:
    """Self-contained: stylesheets and scripts are local; the only remote URLs are links."""
    for file in site.rglob("*"):
        if file.suffix not in (".html", ".css"):
            continue
        text = file.read_text(encoding="utf-8")
        assert "@import" not in text
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
        if file.suffix == ".html":
            for tag, attrs in parse(text).tags:
                for key in ("src", "href", "srcset", "data"):
                    value = attrs.get(key) or ""
                    if re.match(r"(https?:)?//", value):
                        assert tag == "a", (file, tag, value)


@pytest.mark.slow
def test_same_catalogue_same_bytes(site_env: Path, tmp_path: Path) -> None:
    first, _ = render_files(Catalog())
    second, _ = render_files(Catalog())
    assert first == second
    a, b = build_site(tmp_path / "a"), build_site(tmp_path / "b")
    assert a.files == b.files
    for rel in a.files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    again = build_site(tmp_path / "a")
    assert again.report.written == []
    assert again.report.unchanged == a.files


def test_invalid_manifests_are_left_out_and_reported(
    site_env: Path, tmp_path: Path, run_cli: CliRunner
) -> None:
    (site_env / "vision" / "broken.yaml").write_text("schema_version: 1\nname: vision/broken\n")
    code, stdout, stderr = run_cli("site", "--out", tmp_path / "s", "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert len(summary["skipped"]) >= 1
    assert all("broken.yaml" in p for p in summary["skipped"])
    assert not (tmp_path / "s" / "models" / "vision" / "broken.html").exists()
    assert "run `zoo validate`" in stderr


def test_figures() -> None:
    colors = group_colors(["b", "a", "a"])
    assert colors == {"a": "#0072B2", "b": "#D55E00"}
    svg = scatter(
        [
            Point("a/x", "a", 22.0, 384, "models/a/x.html"),
            Point("b/y", "b", 1000.0, 1536, "models/b/y.html"),
        ],
        5,
        colors,
    )
    assert svg.count("<circle") == 2 + 2  # two points, two legend swatches
    assert 'href="models/a/x.html"' in svg
    assert "2 of 5 entries report a parameter count" in svg
    assert "<svg" not in scatter([], 5, colors)
    from zoo.site._svg import LicenceCell

    matrix = licence_matrix(
        {
            ("MIT", "yes"): LicenceCell(3, 0),
            ("CC-BY-NC-4.0", "no"): LicenceCell(2, 1),
            ("", "unknown"): LicenceCell(1, 0),
        }
    )
    assert ">3</text>" in matrix
    assert ">2 (1 gated)</text>" in matrix
    assert 'href="#license=MIT&amp;commercial=yes"' in matrix
    assert 'href="#license=%28none%29&amp;commercial=unknown"' in matrix
    assert "not stated" in matrix


def test_index_shows_both_figures(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count("<svg") == 2
    assert "Licences and commercial use" in index
    assert (
        'href="models/pathology/histo_vit.html" aria-label="pathology/histo_vit: 304M parameters, 1024-d embedding"'
        in index
    )


def test_out_is_required(run_cli: CliRunner) -> None:
    code, _, stderr = run_cli("site")
    assert code == 2
    assert "Missing option '--out'" in stderr
