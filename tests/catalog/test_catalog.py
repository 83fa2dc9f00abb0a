"""Catalogue discovery, lookup, suggestions and filters."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, VALID_DIR, ManifestFactory, ManifestWriter
from zoo import settings
from zoo.catalog.reader import Catalog
from zoo.catalog.roots import bundled_root, default_roots, manifest_files
from zoo.errors import DuplicateNameError, ManifestError, ModelNotFoundError, ZooError


@pytest.fixture
def mixed_root(
    tmp_path: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory
) -> Path:
    """A catalogue with four models that differ in group, wrapper, tags and license."""
    root = tmp_path / "mixed"
    write_manifest(root, tiny_manifest_data("vision/vit_small", aliases=["mmpre/vit-small-p16"]))
    free = tiny_manifest_data("vision/vit_small_in21k", tags=["vit", "in21k"])
    free["license"] = {"id": "MIT", "commercial": True}
    write_manifest(root, free)
    closed = tiny_manifest_data("pathology/histo_vit", tags=["pathology", "vit"])
    closed["license"] = {"id": "CC-BY-NC-4.0", "commercial": False}
    write_manifest(root, closed)
    unlicensed = tiny_manifest_data(
        "pathology/histo_cnn",
        tags=["pathology", "cnn"],
        wrapper={"type": "function", "path": "torchvision.models.resnet18"},
    )
    del unlicensed["license"]
    unlicensed["output"] = {"embedding_dim": 512, "pooling": "pooler"}
    write_manifest(root, unlicensed)
    return root


# -- discovery -------------------------------------------------------------------------------


def test_bundled_root_is_the_checkouts_catalog() -> None:
    assert bundled_root() == REPO_ROOT / "catalog"
    assert bundled_root().is_dir()


def test_default_catalog_reads_the_bundled_root() -> None:
    files = manifest_files([bundled_root()])
    assert files, "the bundled catalogue has no manifest"
    catalog = Catalog()
    assert catalog.roots == [bundled_root()]
    expected = {f"{f.parent.name}/{f.stem}" for f in files}
    assert set(catalog.names()) == expected
    assert catalog.problems == []
    for m in catalog.list():
        assert m.file is not None
        assert bundled_root() in m.file.parents


def test_catalog_path_env_adds_roots(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    write_manifest(one, tiny_manifest_data("extra/first"))
    write_manifest(two, tiny_manifest_data("extra/second"))
    # Empty segments (leading, doubled, trailing separators) are ignored.
    monkeypatch.setenv("ZOO_CATALOG_PATH", os.pathsep.join(["", str(one), "", str(two), ""]))
    assert settings.catalog_paths() == [one, two]
    assert default_roots() == [bundled_root(), one, two]
    catalog = Catalog()
    assert {"extra/first", "extra/second"} <= set(catalog.names())
    assert catalog.get("extra/second").file == two / "extra" / "second.yaml"


def test_explicit_paths_replace_the_defaults(
    monkeypatch: pytest.MonkeyPatch, mixed_root: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path / "ignored"))
    catalog = Catalog([mixed_root])
    assert catalog.names() == [
        "pathology/histo_cnn",
        "pathology/histo_vit",
        "vision/vit_small",
        "vision/vit_small_in21k",
    ]
    assert len(catalog) == 4
    assert [m.name for m in catalog] == catalog.names()


def test_a_single_file_is_a_root(mixed_root: Path) -> None:
    catalog = Catalog([mixed_root / "vision" / "vit_small.yaml"])
    assert catalog.names() == ["vision/vit_small"]


def test_missing_root_is_empty(tmp_path: Path) -> None:
    catalog = Catalog([tmp_path / "does-not-exist"])
    assert catalog.names() == []
    assert catalog.list() == []


def test_valid_fixtures_form_a_catalogue() -> None:
    catalog = Catalog([VALID_DIR])
    assert len(catalog) == len(list(VALID_DIR.rglob("*.yaml")))
    assert catalog.problems == []


# -- duplicates ------------------------------------------------------------------------------


def test_name_defined_twice_across_roots(
    tmp_path: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory
) -> None:
    first = write_manifest(tmp_path / "a", tiny_manifest_data("extra/same"))
    second = write_manifest(tmp_path / "b", tiny_manifest_data("extra/same"))
    catalog = Catalog([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(DuplicateNameError) as info:
        catalog.names()
    exc = info.value
    assert isinstance(exc, ValueError)
    assert isinstance(exc, ZooError)
    assert exc.name == "extra/same"
    assert (exc.first, exc.second) == (str(first), str(second))
    assert str(first) in str(exc)
    assert str(second) in str(exc)
    assert "ZOO_CATALOG_PATH" in str(exc)


@pytest.mark.parametrize("clash", ["alias", "name"])
def test_alias_claimed_twice(
    tmp_path: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory, clash: str
) -> None:
    write_manifest(tmp_path, tiny_manifest_data("extra/a", aliases=["other/shared"]))
    if clash == "alias":
        write_manifest(tmp_path, tiny_manifest_data("extra/b", aliases=["other/shared"]))
    else:
        write_manifest(tmp_path, tiny_manifest_data("other/shared"))
    with pytest.raises(DuplicateNameError) as info:
        Catalog([tmp_path]).names()
    assert info.value.name == "other/shared"
    assert "extra/a.yaml" in str(info.value)


# -- lookup ----------------------------------------------------------------------------------


def test_get_by_name_and_alias(mixed_root: Path) -> None:
    catalog = Catalog([mixed_root])
    m = catalog.get("vision/vit_small")
    assert catalog.get("mmpre/vit-small-p16") is m
    assert "mmpre/vit-small-p16" in catalog
    assert "vision/vit_small" in catalog
    assert "vision/nothing" not in catalog
    assert 3 not in catalog


def test_unknown_name_suggests_close_names(mixed_root: Path) -> None:
    catalog = Catalog([mixed_root])
    with pytest.raises(ModelNotFoundError) as info:
        catalog.get("vision/vit_smal")
    exc = info.value
    assert isinstance(exc, LookupError)
    assert isinstance(exc, ZooError)
    assert exc.name == "vision/vit_smal"
    assert exc.suggestions[0] == "vision/vit_small"
    assert "Did you mean 'vision/vit_small'" in str(exc)


def test_suggestions_match_the_part_after_the_group(mixed_root: Path) -> None:
    catalog = Catalog([mixed_root])
    assert "pathology/histo_vit" in catalog.suggest("histo_vit")
    assert catalog.suggest("wrong/histo_cnn")[0] == "pathology/histo_cnn"
    assert len(catalog.suggest("vision/vit", limit=2)) <= 2


def test_unknown_name_without_suggestion(mixed_root: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        Catalog([mixed_root]).get("zzz/qqqqqqqq")
    assert info.value.suggestions == []
    assert "Did you mean" not in str(info.value)
    assert "Run `zoo list`" in str(info.value)


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "filters", "expected"),
    [
        (
            None,
            {},
            [
                "pathology/histo_cnn",
                "pathology/histo_vit",
                "vision/vit_small",
                "vision/vit_small_in21k",
            ],
        ),
        ("vision/*", {}, ["vision/vit_small", "vision/vit_small_in21k"]),
        ("*_in21k", {}, ["vision/vit_small_in21k"]),
        ("mmpre/*", {}, ["vision/vit_small"]),  # matches an alias
        ("VISION/*", {}, []),  # case-sensitive
        (None, {"group": "pathology"}, ["pathology/histo_cnn", "pathology/histo_vit"]),
        (None, {"group": "path"}, []),
        (None, {"wrapper": "function"}, ["pathology/histo_cnn"]),
        (None, {"wrapper": "onnx"}, []),
        (
            None,
            {"tag": "vit"},
            ["pathology/histo_vit", "vision/vit_small", "vision/vit_small_in21k"],
        ),
        (None, {"tag": "in21k"}, ["vision/vit_small_in21k"]),
        (None, {"commercial": True}, ["vision/vit_small", "vision/vit_small_in21k"]),
        (None, {"commercial": False}, ["pathology/histo_vit"]),
        (
            "*vit*",
            {"group": "pathology", "tag": "vit", "commercial": False},
            ["pathology/histo_vit"],
        ),
        ("vision/*", {"tag": "pathology"}, []),
    ],
)
def test_list_filters(
    mixed_root: Path, pattern: str | None, filters: dict[str, object], expected: list[str]
) -> None:
    found = Catalog([mixed_root]).list(pattern, **filters)  # type: ignore[arg-type]
    assert [m.name for m in found] == expected


# -- invalid manifests -----------------------------------------------------------------------


def test_invalid_manifests_are_kept_aside(
    mixed_root: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory
) -> None:
    bad = tiny_manifest_data("vision/broken")
    bad["output"]["embedding_dim"] = -1
    bad_file = write_manifest(mixed_root, bad)
    catalog = Catalog([mixed_root])
    assert "vision/broken" not in catalog.names()
    assert len(catalog) == 4
    (problem,) = catalog.problems
    assert problem.file == str(bad_file)
    assert problem.path == "output.embedding_dim"
    with pytest.raises(ManifestError) as info:
        catalog.get("vision/broken")
    assert info.value.problems == [problem]
    assert "vision/broken" not in catalog


def test_unparseable_file_is_kept_aside(mixed_root: Path, write_manifest: ManifestWriter) -> None:
    write_manifest(mixed_root, "name: [unclosed\n", name="vision/garbled")
    catalog = Catalog([mixed_root])
    assert len(catalog.names()) == 4
    assert catalog.problems[0].code == "yaml"
    with pytest.raises(ManifestError):
        catalog.get("vision/garbled")
