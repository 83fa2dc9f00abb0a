"""`zoo doctor`: a preflight that reports extras, weights, tokens and offline mode, without
network and without torch."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.offline_kit import hf_add, manifest, safetensors_bytes, write
from zoo import settings
from zoo.manifest import TimmWrapper
from zoo.weights.transport import hub as hf

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "hf_doctorTestTokenThatMustNeverBePrinted"


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_timm_index: Path | None) -> Path:
    """A catalogue with one model in each weights state (a timm tag's are found through zoo's
    index of timm's registry)."""
    for name in ("HF_HUB_OFFLINE", "ZOO_MIRROR", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token file there
    root = tmp_path / "cat"
    (root / "testing").mkdir(parents=True)
    (root / "testing" / "w.safetensors").write_bytes(safetensors_bytes("w"))
    hf_add(settings.hf_hub_cache(), "o/cached", {"m.safetensors": b"m"}, commit=COMMIT)
    url = "http://127.0.0.1:9/absent.safetensors"
    models = [
        manifest("testing/random"),
        manifest("testing/local", {"path": "w.safetensors"}),
        manifest("testing/hf_cached", {"hf": {"repo": "o/cached", "filename": "m.safetensors"}}),
        manifest("testing/url_missing", {"url": url}),
        manifest(
            "testing/gated",
            {"hf": {"repo": "o/gated", "revision": COMMIT, "filename": "m.safetensors"}},
            gated=True,
        ),
        manifest("testing/timm_tag", {"timm": "augreg_in21k"}),
    ]
    for data in models:
        write(root, data)
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    return root


def _rows(run_cli: Any, *names: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli("doctor", *names, "--json")
    assert "Traceback" not in err
    report = json.loads(out)
    return code, report


def test_weights_states(catalog: Path, run_cli: Any) -> None:
    _, report = _rows(run_cli, "testing/*")
    states = {r["name"]: r["weights"] for r in report["models"]}
    assert states == {
        "testing/gated": "missing",
        "testing/hf_cached": "cached",
        "testing/local": "local",
        "testing/random": "none",
        "testing/timm_tag": "missing",  # where the tag lives is known: timm/<arch>.<tag> on the Hub
        "testing/url_missing": "missing",
    }
    row = next(r for r in report["models"] if r["name"] == "testing/hf_cached")
    assert row["weights_path"] == str(
        settings.hf_hub_cache() / "models--o--cached" / "snapshots" / COMMIT / "m.safetensors"
    )
    assert report["offline"] is False
    assert report["mirror"] is None
    assert report["hf_cache"] == str(settings.hf_hub_cache())


def test_offline_missing_weights_are_not_ready_and_exit_1(
    catalog: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    code, report = _rows(run_cli, "testing/url_missing", "testing/hf_cached")
    assert code == 1
    assert report["offline"] is True
    ready = {r["name"]: (r["ready"], r["fix"]) for r in report["models"]}
    assert ready["testing/hf_cached"] == (True, None)
    assert ready["testing/url_missing"][0] is False
    assert "zoo pull testing/url_missing" in ready["testing/url_missing"][1]
    code, _ = _rows(run_cli, "testing/hf_cached", "testing/local", "testing/random")
    assert code == 0


def test_gated_model_reports_the_token_without_printing_it(
    catalog: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, report = _rows(run_cli, "testing/gated")
    (row,) = report["models"]
    assert (row["gated"], row["token"], row["ready"]) == (True, False, False)
    assert "HF_TOKEN" in row["fix"]
    assert code == 1
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, report = _rows(run_cli, "testing/gated")
    (row,) = report["models"]
    assert (row["token"], row["ready"]) == (True, True)
    assert report["hf_token"] is True
    code, out, err = run_cli("doctor")
    assert TOKEN not in out + err
    assert "Hugging Face token: present" in err


def test_mirrored_weights(
    catalog: Path, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.catalog.reader import Catalog
    from zoo.weights.pull import pull

    pull([Catalog().get("testing/local")], to=tmp_path / "m")
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path / "m"))
    _, report = _rows(run_cli, "testing/local", "testing/url_missing")
    states = {r["name"]: r["weights"] for r in report["models"]}
    assert states == {"testing/local": "mirrored", "testing/url_missing": "missing"}
    assert report["offline"] is True  # a mirror turns the network off
    assert report["mirror"] == str((tmp_path / "m").resolve())


@pytest.mark.parametrize("damage", ["missing", "shorter"])
def test_a_mirrored_file_that_is_gone_or_cut_is_not_ready(
    catalog: Path, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    from zoo.catalog.reader import Catalog
    from zoo.weights.pull import pull

    [pulled] = pull([Catalog().get("testing/local")], to=tmp_path / "m").pulled
    if damage == "missing":
        pulled.local.unlink()
    else:
        pulled.local.write_bytes(pulled.local.read_bytes()[:-1])
    monkeypatch.setenv("ZOO_MIRROR", str(tmp_path / "m"))
    code, report = _rows(run_cli, "testing/local")
    [row] = report["models"]
    assert (code, row["weights"], row["ready"]) == (1, "damaged", False)
    assert "rebuild it with `zoo pull --from-lock" in row["fix"]


def test_a_cached_hub_file_linking_out_of_the_cache_is_not_ready(
    catalog: Path, run_cli: Any, tmp_path: Path
) -> None:
    # A planted Hugging Face cache whose snapshot file is a link to a user's key.
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    snapshot = hf_add(settings.hf_hub_cache(), "o/planted", {"x": b"x"}, commit=COMMIT)
    (snapshot / "m.safetensors").symlink_to(key)
    write(
        catalog,
        manifest("testing/planted", {"hf": {"repo": "o/planted", "filename": "m.safetensors"}}),
    )
    code, report = _rows(run_cli, "testing/planted")
    [row] = report["models"]
    assert (code, row["weights"], row["ready"]) == (1, "refused", False)
    assert "outside" in row["fix"]


def test_missing_extra_names_the_pip_command(
    catalog: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    traits = dataclasses.replace(TimmWrapper.traits, modules=("torch", "zoo_no_such_module"))
    monkeypatch.setattr(TimmWrapper, "traits", traits)
    code, report = _rows(run_cli, "testing/random")
    (row,) = report["models"]
    assert row["extra_installed"] is False
    assert row["missing_modules"] == ["zoo_no_such_module"]
    assert "pip install 'zoo-backbones[timm]'" in row["fix"]
    assert code == 1


def test_table_for_people(catalog: Path, run_cli: Any) -> None:
    code, out, err = run_cli("doctor")
    assert code == 0
    for header in ("model", "wrapper", "weights", "gated", "token", "ready"):
        assert header in out
    assert "testing/hf_cached" in out
    assert "offline: off" in err


def test_doctor_never_imports_torch_nor_uses_the_network(catalog: Path) -> None:
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n"
        "    raise SystemExit('network used')\n"
        "socket.create_connection = refuse\n"
        "socket.socket.connect = refuse\n"
        "from zoo.cli import main\n"
        "code = main(['doctor', '--json'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'timm' not in sys.modules, 'timm was imported'\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["models"]


def test_hf_cached_finds_pinned_and_unpinned(catalog: Path) -> None:
    from zoo.manifest import HfLocation

    assert hf.cached(HfLocation(repo="o/cached", filename="m.safetensors")) is not None
    pinned = HfLocation(repo="o/cached", revision=COMMIT, filename="m.safetensors")
    assert hf.cached(pinned) is not None
    assert (
        hf.cached(HfLocation(repo="o/cached", revision="f" * 40, filename="m.safetensors")) is None
    )
    assert hf.cached(HfLocation(repo="o/cached")) is not None
    assert hf.cached(HfLocation(repo="o/absent")) is None


def test_a_timm_tag_is_found_where_timms_registry_says(
    catalog: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # zoo's index of timm's registry (not an import of timm) says where the tag lives.
    pytest.importorskip("timm")
    snapshot = hf_add(
        settings.hf_hub_cache(),
        "timm/vit_tiny_patch16_224.augreg_in21k",
        {"model.safetensors": b"t"},
        commit=COMMIT,
    )
    _, report = _rows(run_cli, "testing/timm_tag")
    (row,) = report["models"]
    assert row["weights"] == "cached"
    assert row["weights_path"] == str(snapshot / "model.safetensors")
    # Without timm (no index can be made), the usual Hub layout is still looked in...
    from zoo.catalog.timm import index as timm_index

    monkeypatch.setattr(timm_index, "installed_version", lambda: None)
    assert _rows(run_cli, "testing/timm_tag")[1]["models"][0]["weights"] == "cached"
    # ...and a miss there is "unknown": the tag may live elsewhere.
    (snapshot / "model.safetensors").unlink()
    assert _rows(run_cli, "testing/timm_tag")[1]["models"][0]["weights"] == "unknown"
