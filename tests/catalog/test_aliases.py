"""The names users already know: TRIDENT's, LazySlide's and eva's encoder names resolve to the
entry that returns what that tool returns, checked against tables copied from their sources
(tests/data/aliases/*.json, each citing repository, commit and file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import zoo
from zoo.catalog.toolkits import eva_entry

TABLES = Path(__file__).resolve().parents[1] / "data" / "aliases"
NAMESPACED = ("trident", "lazyslide", "stamp")


def _table(tool: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TABLES / f"{tool}.json").read_text(encoding="utf-8"))
    return data


def _rows(tool: str) -> list[tuple[str, dict[str, Any]]]:
    table = _table(tool)
    return sorted({**table["names"], **table.get("slide_encoders", {})}.items())


@pytest.fixture(scope="module")
def catalog() -> zoo.Catalog:
    return zoo.Catalog()


def _typed(tool: str, name: str) -> str:
    return eva_entry(name) if tool == "eva" else f"{tool}/{name}"


@pytest.mark.parametrize("tool", [*NAMESPACED, "eva"])
def test_every_table_cites_its_source(tool: str) -> None:
    source = _table(tool)["source"]
    assert len(source["commit"]) == 40
    assert source["repository"]
    assert source["names"]


@pytest.mark.parametrize(
    ("tool", "name", "row"),
    [(tool, name, row) for tool in (*NAMESPACED, "eva") for name, row in _rows(tool)],
)
def test_a_known_name_resolves_to_the_entry_returning_the_same_embedding(
    catalog: zoo.Catalog, tool: str, name: str, row: dict[str, Any]
) -> None:
    typed = _typed(tool, name)
    if row["entry"] is None:
        assert row.get("why"), f"{typed}: a name left out says why"
        awaiting = row.get("awaiting")
        if awaiting is not None and awaiting.startswith("pathology/"):
            assert awaiting not in catalog, (
                f"{awaiting} is in the catalogue now: add {typed!r} to its aliases and set the "
                f"row's entry in tests/data/aliases/{tool}.json"
            )
        assert typed not in catalog
        return
    m = catalog.get(typed)
    assert m.name == row["entry"]
    if row.get("dim") is not None:
        assert m.output.embedding_dim == row["dim"], f"{typed} returns {row['dim']}-d in {tool}"


@pytest.mark.parametrize("tool", NAMESPACED)
def test_every_namespaced_alias_comes_from_its_table(catalog: zoo.Catalog, tool: str) -> None:
    listed = {f"{tool}/{name}" for name, row in _rows(tool) if row["entry"]}
    claimed = {a for m in catalog for a in m.aliases if a.startswith(f"{tool}/")}
    assert claimed == listed


def test_aliases_resolve_everywhere_names_do(run_cli: Any) -> None:
    code, out, err = run_cli("show", "trident/uni_v1", "--json")
    assert code == 0, err
    assert json.loads(out)["name"] == "pathology/mahmood_uni"
    code, _, err = run_cli("show", "trident/uni_v9")
    assert code == 1
    assert "trident/uni_v1" in err  # did you mean ...
