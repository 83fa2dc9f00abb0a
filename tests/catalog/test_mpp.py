"""``input.mpp``: the scale of a pathology tile encoder, its warning and known gap, and where it
is shown (``zoo list``, ``zoo show``, the README table), plus the catalogue's own entries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner, ManifestFactory, ManifestWriter
from zoo.catalog.reader import Catalog
from zoo.catalog.readme import catalog_table
from zoo.catalog.validation import KNOWN, WARNING, validate_files
from zoo.errors import ManifestError
from zoo.manifest import InputSpec, Manifest
from zoo.weights import sources as RULES

MPP = {"value": 0.5, "basis": "stated", "source": "The authors' card: 0.5 microns per pixel."}
REASON = "No public source gives the scale: the card and the paper were checked."


@pytest.fixture(autouse=True)
def _empty_bundled_catalogue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    root = tmp_path / "bundled" / "catalog"
    root.mkdir(parents=True)
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: root)
    return root


def _pathology(factory: ManifestFactory, mpp: Any = None, **top: Any) -> dict[str, Any]:
    data = factory("pathology/tile_vit", tags=["pathology", "vit"], **top)
    data["checkpoint"] = {"path": "weights.safetensors", "format": "safetensors"}
    data["paper"] = {"title": "A tile encoder", "url": "https://example.org/paper"}
    if mpp is not None:
        data["input"] = {**data["input"], "mpp": mpp}
    return data


def _problems(tmp_path: Path, write: ManifestWriter, data: dict[str, Any]) -> list[Any]:
    file = write(tmp_path / "cat", data)
    return [p for p in validate_files([file], weights=RULES).problems if "mpp" in p.path]


# -- the field refuses what a tiler could not use ----------------------------------------------


@pytest.mark.parametrize(
    ("mpp", "code"),
    [
        ({**MPP, "value": -0.5}, "greater_than"),
        ({**MPP, "value": 0}, "greater_than"),
        ({**MPP, "value": "0.5"}, "float_type"),
        ({**MPP, "value": True}, "float_type"),
        ({**MPP, "value": 1e300}, "less_than_equal"),
        ({**MPP, "value": 100.5}, "less_than_equal"),
        ({**MPP, "basis": "guessed"}, "literal_error"),
        ({**MPP, "source": "   "}, "string_too_short"),
        ({**MPP, "source": "x" * 2001}, "string_too_long"),
        ({**MPP, "magnification": 20}, "extra_forbidden"),
        ({"value": 0.5, "basis": "stated"}, "missing"),
        (0.5, "model_type"),
        ("0.5", "model_type"),
    ],
)
def test_hostile_mpp_is_refused(
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    tmp_path: Path,
    mpp: Any,
    code: str,
) -> None:
    file = write_manifest(tmp_path, _pathology(tiny_manifest_data, mpp))
    with pytest.raises(ManifestError) as caught:
        Catalog([tmp_path]).get("pathology/tile_vit")
    codes = {p.code for p in caught.value.problems}
    assert code in codes, caught.value.problems
    assert all(p.path.startswith("input.mpp") for p in caught.value.problems)
    assert file.exists()


def test_a_plain_number_in_range_is_kept(tiny_manifest_data: ManifestFactory) -> None:
    m = Manifest.model_validate(_pathology(tiny_manifest_data, {**MPP, "value": 1}))
    assert isinstance(m.input, InputSpec)
    assert m.input.mpp is not None
    assert (m.input.mpp.value, m.input.mpp.short) == (1.0, "1")
    inferred = {**MPP, "basis": "inferred", "value": 0.5714}
    m = Manifest.model_validate(_pathology(tiny_manifest_data, inferred))
    assert m.input.mpp is not None
    assert m.input.mpp.short == "~0.5714"


# -- the warning and its known gap -------------------------------------------------------------


def test_pathology_weights_without_mpp_warn(
    tiny_manifest_data: ManifestFactory, write_manifest: ManifestWriter, tmp_path: Path
) -> None:
    (p,) = _problems(tmp_path, write_manifest, _pathology(tiny_manifest_data))
    assert (p.path, p.code, p.severity) == ("input.mpp", "no_mpp", WARNING)
    assert "microns per pixel" in p.message


@pytest.mark.parametrize(
    "change",
    ["stated", "not_pathology", "no_weights"],
)
def test_no_warning_where_the_scale_is_stated_or_not_asked(
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    tmp_path: Path,
    change: str,
) -> None:
    data = _pathology(tiny_manifest_data, MPP if change == "stated" else None)
    if change == "not_pathology":
        data["tags"] = ["vit"]
    if change == "no_weights":
        del data["checkpoint"]
    assert _problems(tmp_path, write_manifest, data) == []


def test_a_declared_gap_is_known_and_passes_strict(
    tiny_manifest_data: ManifestFactory, write_manifest: ManifestWriter, tmp_path: Path
) -> None:
    data = _pathology(tiny_manifest_data, known_gaps={"input.mpp": REASON})
    file = write_manifest(tmp_path / "cat", data)
    report = validate_files([file], weights=RULES)
    (p,) = [p for p in report.problems if p.path == "input.mpp"]
    assert p.severity == KNOWN
    assert REASON in p.message
    assert report.ok(strict=True)


def test_a_gap_with_a_stated_mpp_is_stale(
    tiny_manifest_data: ManifestFactory, write_manifest: ManifestWriter, tmp_path: Path
) -> None:
    data = _pathology(tiny_manifest_data, MPP, known_gaps={"input.mpp": REASON})
    (p,) = _problems(tmp_path, write_manifest, data)
    assert (p.path, p.code) == ("known_gaps.input.mpp", "stale_gap")


@pytest.mark.parametrize("reason", ["", "too short", 5])
def test_a_gap_needs_a_reason(
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    tmp_path: Path,
    reason: Any,
) -> None:
    write_manifest(tmp_path, _pathology(tiny_manifest_data, known_gaps={"input.mpp": reason}))
    with pytest.raises(ManifestError) as caught:
        Catalog([tmp_path]).get("pathology/tile_vit")
    assert any(p.path.startswith("known_gaps") for p in caught.value.problems)


def test_validate_cli_strict(
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    tmp_path: Path,
    run_cli: CliRunner,
) -> None:
    file = write_manifest(tmp_path / "cat", _pathology(tiny_manifest_data))
    code, out, _ = run_cli("validate", "--strict", file)
    assert code == 1
    assert "input.mpp: no input.mpp" in out
    code, out, _ = run_cli("validate", "--strict", "--json", file)
    assert "no_mpp" in {p["code"] for p in json.loads(out)["problems"]}


# -- shown: zoo list, zoo show, the README table -----------------------------------------------


@pytest.fixture
def catalogue(
    _empty_bundled_catalogue: Path,
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
) -> Path:
    root = _empty_bundled_catalogue
    write_manifest(root, _pathology(tiny_manifest_data, {**MPP, "basis": "inferred"}))
    write_manifest(root, tiny_manifest_data("vision/plain"))
    return root


def test_list_json_has_mpp(catalogue: Path, run_cli: CliRunner) -> None:
    code, out, _ = run_cli("list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert (rows["pathology/tile_vit"]["mpp"], rows["pathology/tile_vit"]["mpp_basis"]) == (
        0.5,
        "inferred",
    )
    assert rows["vision/plain"]["mpp"] is None
    assert rows["vision/plain"]["mpp_basis"] is None
    # A second listing reads the stored index: the same rows.
    assert json.loads(run_cli("list", "--json")[1]) == json.loads(out)


def test_list_table_has_an_mpp_column(catalogue: Path, run_cli: CliRunner) -> None:
    code, out, _ = run_cli("list")
    assert code == 0
    header = next(line for line in out.splitlines() if line.lstrip().startswith("name"))
    assert "mpp" in header.split()
    row = next(line for line in out.splitlines() if line.startswith("pathology/tile_vit"))
    assert "0.5" in row.split()


def test_show_prints_value_basis_and_source(catalogue: Path, run_cli: CliRunner) -> None:
    code, out, _ = run_cli("show", "pathology/tile_vit")
    assert code == 0
    for shown in ("value: 0.5", "basis: inferred", MPP["source"]):
        assert shown in out
    code, out, _ = run_cli("show", "pathology/tile_vit", "--json")
    assert json.loads(out)["input"]["mpp"] == {**MPP, "basis": "inferred"}


def test_readme_table_has_an_mpp_column(catalogue: Path) -> None:
    table = catalog_table(Catalog([catalogue]))
    header, rule, *rows = table.splitlines()
    cells = [c.strip() for c in header.strip("|").split("|")]
    at = cells.index("mpp")
    by_name = {r.split("|")[1].strip(" `"): r.split("|")[at + 1].strip() for r in rows[:2]}
    assert by_name == {"pathology/tile_vit": "~0.5", "vision/plain": ""}
    assert len(rule.strip("|").split("|")) == len(cells)
    assert "*mpp*" in table


# -- the catalogue -----------------------------------------------------------------------------

CATALOG = Path(__file__).resolve().parents[2] / "catalog"
COMMIT = re.compile(r"\b[0-9a-f]{40}\b")


def test_every_pathology_tile_encoder_states_its_scale_or_the_gap() -> None:
    entries = [
        m
        for m in Catalog([CATALOG]).list()
        if "pathology" in m.tags and m.checkpoint is not None and isinstance(m.input, InputSpec)
    ]
    assert len(entries) >= 50
    for m in entries:
        assert isinstance(m.input, InputSpec)
        mpp = m.input.mpp
        if mpp is None:
            assert "input.mpp" in m.known_gaps, m.name
            continue
        assert "input.mpp" not in m.known_gaps, m.name
        assert 0.1 <= mpp.value <= 2, m.name
        # Every source names where it was read: a repository or card, at a commit.
        assert COMMIT.search(mpp.source), m.name
        assert re.search(r"github\.com|huggingface\.co", mpp.source), m.name
        if mpp.basis == "stated":
            assert "Stated by the authors" in mpp.source, m.name
