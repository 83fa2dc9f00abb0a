"""The README's catalogue table: columns, legend, and which toolkits also list each entry.

Which toolkits list an entry is checked against the alias tables copied from TRIDENT, LazySlide
and eva (tests/data/aliases/*.json, each citing its source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zoo.catalog.reader import Catalog
from zoo.catalog.readme import HEADER, LEGEND, catalog_table
from zoo.catalog.toolkits import EVA_NAMES, TOOLKITS

TABLES = Path(__file__).resolve().parents[1] / "data" / "aliases"


def _rows(table: str) -> dict[str, list[str]]:
    """``name -> cells`` of a generated table."""
    rows = {}
    for line in table.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == len(HEADER):  # the main table (slide encoders have their own)
                rows[cells[0].strip("`")] = cells
    return rows


def _also_in(table: str) -> dict[str, str]:
    return {name: cells[HEADER.index("also in")] for name, cells in _rows(table).items()}


def test_eva_names_are_the_names_evas_registry_lists() -> None:
    table = json.loads((TABLES / "eva.json").read_text(encoding="utf-8"))
    assert set(table["names"]) == EVA_NAMES
    assert len(EVA_NAMES) == 32


def test_also_in_follows_namespaced_aliases_and_eva_names(
    tmp_path: Path, tiny_manifest_data: Any, write_manifest: Any
) -> None:
    entries = {
        "pathology/mahmood_uni": ["trident/uni_v1", "lazyslide/uni"],  # an eva name, aliased
        "radiology/seg": ["segresnet_encoder"],  # eva's one name without a group, as an alias
        "pathology/lazy_only": ["lazyslide/x", "tridentish/y"],
        "testing/plain": [],
    }
    for name, aliases in entries.items():
        write_manifest(tmp_path, tiny_manifest_data(name=name, aliases=aliases))
    got = _also_in(catalog_table(Catalog([tmp_path])))
    assert got == {
        "pathology/mahmood_uni": "T L e",
        "radiology/seg": "e",
        "pathology/lazy_only": "L",
        "testing/plain": "",
    }


def test_the_table_has_short_headers_and_a_legend_for_them() -> None:
    table = catalog_table()
    head, rule = table.splitlines()[:2]
    assert head == "| " + " | ".join(HEADER) + " |"
    assert rule.count("|") == len(HEADER) + 1
    assert all(len(h) <= 8 for h in HEADER)
    assert table.endswith("\n\n" + LEGEND)
    for word in ("wrapper", "weights", "dim", "pooling", "comm.", "gated", "also in"):
        assert f"*{word}*" in LEGEND
    for kit in TOOLKITS:
        assert f"{kit.mark} = {kit.name}" in LEGEND


@pytest.mark.parametrize("tool", ["trident", "lazyslide", "eva"])
def test_the_catalogue_table_agrees_with_the_toolkits_tables(tool: str) -> None:
    table = json.loads((TABLES / f"{tool}.json").read_text(encoding="utf-8"))
    listed = {row["entry"] for row in table["names"].values() if row["entry"]}
    mark = {"trident": "T", "lazyslide": "L", "eva": "e"}[tool]
    also = _also_in(catalog_table())
    assert {name for name, cell in also.items() if mark in cell.split()} == listed
    assert also["pathology/genbio_pathfm"] == "T L"


def test_slide_encoders_have_their_own_table() -> None:
    table = catalog_table()
    assert "| slide encoder | dim | takes features of | tiles |" in table
    row = next(line for line in table.splitlines() if line.startswith("| `pathology/chief_slide`"))
    assert "`pathology/chief_ctranspath`" in row
    assert "256 px at 1 mpp" in row
    assert "pathology/chief_slide" not in _also_in(table)  # not in the patch encoders' table
