"""``pairs_with`` across the catalogue: names exist, are patch encoders, widths and scales agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner, ManifestFactory, ManifestWriter
from tests.manifest.test_tiles_manifest import MPP, slide_data


@pytest.fixture(autouse=True)
def _empty_bundled_catalogue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = tmp_path / "bundled" / "catalog"
    root.mkdir(parents=True)
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: root)


def _validate(
    tmp_path: Path,
    write_manifest: ManifestWriter,
    run_cli: CliRunner,
    patch: dict[str, Any],
    slide: dict[str, Any],
) -> tuple[int, str]:
    root = tmp_path / "cat"
    write_manifest(root, patch)
    write_manifest(root, slide)
    code, out, err = run_cli("validate", root)
    return code, out + err


def test_a_slide_encoder_paired_with_its_patch_encoder_validates(
    tmp_path: Path,
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    run_cli: CliRunner,
) -> None:
    patch = tiny_manifest_data()
    patch["input"]["mpp"] = MPP
    code, out = _validate(tmp_path, write_manifest, run_cli, patch, slide_data())
    assert code == 0, out


@pytest.mark.parametrize(
    ("patch_changes", "slide_changes", "says"),
    [
        ({}, {"pairs_with": ["testing/missing"]}, "no entry named 'testing/missing'"),
        (
            {"aliases": ["trident/tiny"]},
            {"pairs_with": ["trident/tiny"]},
            "'trident/tiny' is an alias of testing/tiny_vit: name the entry",
        ),
        (
            {
                "output": {
                    "embedding_dim": 768,
                    "pooling": "cls+mean",
                    "prefix_tokens": 1,
                    "patch_size": 16,
                    "feature_levels": 12,
                    "feature_dim": 384,
                }
            },
            {},
            "testing/tiny_vit returns 768-d embeddings (cls+mean pooling) but input.feature_dim "
            "is 384",
        ),
        (
            {
                "input": {
                    "size": [224, 224],
                    "mean": [0.5] * 3,
                    "std": [0.5] * 3,
                    "mpp": {**MPP, "value": 0.25},
                }
            },
            {},
            "testing/tiny_vit was trained at 0.25 mpp (its input.mpp) but this slide encoder takes "
            "tiles at 0.5 mpp",
        ),
    ],
)
def test_a_wrong_pairing_is_an_error_naming_what_was_expected(
    tmp_path: Path,
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    run_cli: CliRunner,
    patch_changes: dict[str, Any],
    slide_changes: dict[str, Any],
    says: str,
) -> None:
    patch = tiny_manifest_data(**patch_changes)
    code, out = _validate(tmp_path, write_manifest, run_cli, patch, slide_data(**slide_changes))
    assert code == 1
    assert "pairs_with" in out
    assert says in out.replace("\n", " "), out


@pytest.mark.parametrize(
    ("patch_basis", "slide_basis", "agrees"),
    [
        ("inferred", "stated", True),  # the slide encoder's authors say where they ran it
        ("inferred", "inferred", False),
        ("stated", "inferred", False),
        ("stated", "stated", False),
    ],
)
def test_a_stated_slide_encoder_scale_outranks_an_inferred_patch_encoder_scale(
    tmp_path: Path,
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    run_cli: CliRunner,
    patch_basis: str,
    slide_basis: str,
    agrees: bool,
) -> None:
    """MADELEINE's authors tile at 10x for CONCH v1, whose own entry infers 20x."""
    patch = tiny_manifest_data()
    patch["input"]["mpp"] = {**MPP, "value": 0.5, "basis": patch_basis}
    slide = slide_data()
    slide["input"]["mpp"] = {**MPP, "value": 1.0, "basis": slide_basis}
    code, out = _validate(tmp_path, write_manifest, run_cli, patch, slide)
    if agrees:
        assert code == 0, out
    else:
        assert code == 1
        assert "testing/tiny_vit was trained at 0.5 mpp" in out.replace("\n", " "), out


def test_a_slide_encoder_cannot_pair_with_another_slide_encoder(
    tmp_path: Path,
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    run_cli: CliRunner,
) -> None:
    root = tmp_path / "cat"
    write_manifest(root, tiny_manifest_data())
    write_manifest(root, slide_data())
    write_manifest(root, slide_data(name="testing/second", pairs_with=["testing/tiny_abmil"]))
    code, out, err = run_cli("validate", root)
    assert code == 1
    assert "testing/tiny_abmil is a slide encoder too" in (out + err).replace("\n", " ")


def test_validate_build_checks_a_slide_encoder_on_a_random_bag(
    tmp_path: Path,
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    run_cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "cat"
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    write_manifest(root, tiny_manifest_data())
    file = write_manifest(root, slide_data())
    code, out, err = run_cli("validate", "--build", file)
    assert code == 0, out + err
    assert "build ok" in err
    assert "testing/tiny_abmil (meta" in err


def test_list_and_show_tell_the_kind_and_the_pairing(
    tmp_path: Path,
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
    run_cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    root = tmp_path / "cat"
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    write_manifest(root, tiny_manifest_data())
    write_manifest(root, slide_data())
    code, out, _ = run_cli("list", "--kind", "tiles", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["name"], r["kind"], r["pairs_with"]) for r in rows] == [
        ("testing/tiny_abmil", "tiles", ["testing/tiny_vit"])
    ]
    code, out, _ = run_cli("list", "--kind", "image", "--json")
    assert [r["name"] for r in json.loads(out)] == ["testing/tiny_vit"]
    code, out, _ = run_cli("list", "testing/*")
    assert code == 0
    assert "tiles" in out
    code, out, _ = run_cli("show", "testing/tiny_abmil")
    assert code == 0
    assert "pairs_with" in out
    assert "testing/tiny_vit" in out
