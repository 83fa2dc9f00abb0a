"""``requires:``: packages beyond zoo's extras. Missing ones are one error with the install command,
``zoo doctor`` reports them from metadata, and a builder path from such a package is imported only
when the user trusts it. A real distribution is laid out in tmp_path (metadata and module)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.loading.loading_kit import TOKEN_MODEL_SOURCE, Kit
from zoo.catalog import requirements
from zoo.errors import MissingPackageError, TrustError
from zoo.manifest import Manifest

MODULE = "zoofake_models"


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution ``zoofake`` 1.2.0 whose import name is ``zoofake_models``."""
    folder = tmp_path / "site"
    info = folder / "zoofake-1.2.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoofake\nVersion: 1.2.0\n")
    (info / "top_level.txt").write_text(f"{MODULE}\n")
    (folder / MODULE).mkdir()
    (folder / MODULE / "__init__.py").write_text(TOKEN_MODEL_SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    return folder


def _data(kit: Kit, requires: list[str], path: str = f"{MODULE}.token_model") -> dict[str, Any]:
    wrapper = {"type": "function", "path": path, "arguments": {}}
    return kit.manifest(wrapper, kit.vit_output(), requires=requires)


def test_a_missing_package_is_one_error_with_the_install_command(kit: Kit) -> None:
    with pytest.raises(MissingPackageError) as caught:
        kit.load(_data(kit, ["zoo-not-there>=1.0"]), trust_remote_code=True)
    assert caught.value.command == "pip install 'zoo-not-there>=1.0'"
    assert "testing/tiny needs zoo-not-there>=1.0, beyond zoo's extras" in str(caught.value)
    assert isinstance(caught.value, ImportError)


def test_a_package_too_old_says_what_is_installed(kit: Kit, site: Path) -> None:
    with pytest.raises(MissingPackageError, match=r"installed: zoofake 1\.2\.0"):
        kit.load(_data(kit, ["zoofake>=2"]), trust_remote_code=True)


def test_the_packages_code_runs_only_when_trusted(
    kit: Kit, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data(kit, ["zoofake>=1.0,<2"])
    with pytest.raises(TrustError, match="trust_remote_code=True"):
        kit.load(data)
    assert MODULE not in sys.modules  # refused before importing anything
    model = kit.load(data, trust_remote_code=True)
    with torch.no_grad():
        assert model(kit.image()).shape == (2, 32)
    monkeypatch.delitem(sys.modules, MODULE)
    monkeypatch.setenv("ZOO_TRUSTED_MODULES", MODULE)
    assert kit.load(data).manifest.requires == ["zoofake>=1.0,<2"]


def test_trust_extends_only_to_the_required_packages(kit: Kit, site: Path) -> None:
    data = _data(kit, ["zoofake>=1.0"], path="colorsys.rgb_to_hsv")
    with pytest.raises(TrustError, match=r"'colorsys\.rgb_to_hsv'"):
        kit.load(data, trust_remote_code=True)


def test_validation_never_imports_the_package(kit: Kit, site: Path, run_cli: Any) -> None:
    path = kit.write(_data(kit, ["zoofake>=1.0"]))
    code, out, err = run_cli("validate", str(path))
    assert code == 0, out + err
    assert MODULE not in sys.modules


def test_build_check_skips_with_the_install_command(kit: Kit, run_cli: Any) -> None:
    path = kit.write(_data(kit, ["zoo-not-there>=1.0"]))
    code, out, err = run_cli("validate", "--build", "--trust-remote-code", "--json", str(path))
    assert code == 0, out + err
    problems = json.loads(out)["problems"]
    assert [p["code"] for p in problems] == ["build_skipped"]
    assert "pip install 'zoo-not-there>=1.0'" in problems[0]["message"]


def test_doctor_reports_missing_requirements_from_metadata(
    kit: Kit, site: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.write(_data(kit, ["zoofake>=1.0"]))
    kit.write(_data(kit, ["zoofake>=3", "zoo-not-there"]) | {"name": "testing/old"})
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(kit.root))
    code, out, err = run_cli("doctor", "testing/tiny", "testing/old", "--json")
    rows = {r["name"]: r for r in json.loads(out)["models"]}
    assert code == 1, err  # one of them is not ready
    assert rows["testing/tiny"]["requires_missing"] == []
    assert rows["testing/tiny"]["ready"] is True
    assert rows["testing/old"]["requires_missing"] == ["zoofake>=3", "zoo-not-there"]
    assert rows["testing/old"]["ready"] is False
    assert "pip install 'zoofake>=3' 'zoo-not-there'" in rows["testing/old"]["fix"]
    assert MODULE not in sys.modules


def test_modules_of_a_distribution(site: Path, tmp_path: Path) -> None:
    assert requirements.modules_of("zoofake>=1") == (MODULE,)
    assert requirements.modules_of("some-missing-pkg") == ("some_missing_pkg",)
    # no top_level.txt: the first folder of each installed Python file (RECORD)
    info = site / "zoorecord-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoorecord\nVersion: 0.1\n")
    (info / "RECORD").write_text(
        "zoorec/__init__.py,,\nzoorec/x.py,,\nzoo_single.py,,\nzoorecord-0.1.dist-info/RECORD,,\n"
    )
    assert requirements.modules_of("zoorecord") == ("zoo_single", "zoorec")


@pytest.mark.parametrize(
    "bad",
    [
        "musk @ git+https://github.com/lilab-stanford/MUSK",
        "pkg[extra]>=1",
        "pkg>=1; python_version>'3'",
        ">=1",
        "",
    ],
)
def test_requires_takes_names_and_versions_only(bad: str) -> None:
    from tests.offline_kit import manifest

    with pytest.raises(ValueError, match="requires"):
        Manifest.model_validate(manifest("testing/x", requires=[bad]))


def test_requires_names_each_package_once() -> None:
    from tests.offline_kit import manifest

    with pytest.raises(ValueError, match="names a package twice"):
        Manifest.model_validate(manifest("testing/x", requires=["a-b>=1", "A_b<2"]))
