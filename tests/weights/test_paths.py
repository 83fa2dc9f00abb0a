"""Paths stay in their place: names from a manifest, a zoo.lock, the Hub's headers or its file
listing are checked to stay inside the cache or mirror before anything is read or written. The
Hub is a real HTTP server on 127.0.0.1 (HF_ENDPOINT) serving hostile names."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.offline_kit import Hub, hf_path, hub_server, manifest, safetensors_bytes, write
from zoo import settings
from zoo.errors import PathEscapeError, ZooError
from zoo.manifest import HfLocation

COMMIT = "0123456789abcdef0123456789abcdef01234567"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    with hub_server() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        yield running


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A user's file that no Hub answer may replace, link or overwrite."""
    file = tmp_path / "victim" / "config.json"
    file.parent.mkdir()
    file.write_text("the user's own file")
    return file


def _untouched(victim: Path) -> None:
    assert not victim.is_symlink()
    assert victim.read_text() == "the user's own file"
    assert sorted(p.name for p in victim.parent.iterdir()) == ["config.json"]


def _repo_dir(repo: str) -> Path:
    return settings.hf_hub_cache() / f"models--{repo.replace('/', '--')}"


@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_a_hostile_x_repo_commit_cannot_place_a_link_outside_the_cache(
    hub: Hub, victim: Path, form: str
) -> None:
    snapshots = _repo_dir("owner/evil") / "snapshots"
    commit = os.path.relpath(victim.parent, snapshots) if form == "relative" else str(victim.parent)
    hub.add("owner/evil", {"config.json": b'{"pwned": true}'}, commit)
    with pytest.raises(ZooError, match="X-Repo-Commit"):
        hf_path(HfLocation(repo="owner/evil", filename="config.json"))
    _untouched(victim)
    assert not snapshots.exists()


def test_a_hostile_file_listing_cannot_write_outside_the_cache(hub: Hub, victim: Path) -> None:
    snapshot = _repo_dir("owner/evil") / "snapshots" / COMMIT
    climbing = os.path.relpath(victim, snapshot)
    hub.add("owner/evil", {climbing: b'{"pwned": true}', "model.safetensors": b"w"}, COMMIT)
    with pytest.raises(PathEscapeError, match="lists a file"):
        hf_path(HfLocation(repo="owner/evil"), patterns=["*.json", "*.safetensors"])
    _untouched(victim)
    assert not snapshot.exists()
    assert [r for r in hub.server.requests if "/resolve/" in r[0]] == []


def test_a_cached_file_linking_out_of_the_cache_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text(KEY)
    snapshot = _repo_dir("owner/planted") / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(key)
    with pytest.raises(PathEscapeError, match="outside"):
        hf_path(HfLocation(repo="owner/planted", revision=COMMIT, filename="model.safetensors"))


# -- zoo pull ---------------------------------------------------------------------------------------


def _hostile_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hf: dict[str, Any]) -> None:
    root = tmp_path / "cat"
    write(root, manifest("testing/hostile", {"hf": {"repo": "owner/model", **hf}}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))


@pytest.mark.parametrize("form", ["absolute", "climbing", "revision"])
def test_zoo_pull_of_a_hostile_hub_name_is_one_line_and_copies_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any, form: str
) -> None:
    key = tmp_path / "user" / "id_ed25519"
    key.parent.mkdir()
    key.write_text(KEY)
    snapshot = _repo_dir("owner/model") / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    hf = {
        "absolute": {"revision": COMMIT, "filename": str(key)},
        "climbing": {"revision": COMMIT, "filename": os.path.relpath(key, snapshot)},
        "revision": {"revision": os.path.relpath(key.parent, snapshot.parent), "filename": "x"},
    }[form]
    _hostile_manifest(tmp_path, monkeypatch, hf)
    code, out, err = run_cli("pull", "testing/hostile", "--to", tmp_path / "m")
    assert code == 1
    assert "Traceback" not in out + err
    assert "IndexError" not in out + err
    assert "checkpoint.hf" in out + err
    assert not (tmp_path / "m").exists()


def _lock(folder: Path, **change: Any) -> Path:
    entry = {
        "name": "testing/x",
        "manifest_sha256": "0" * 64,
        "source": "hf",
        "location": "owner/model",
        "revision": COMMIT,
        "requested_revision": None,
        "filename": "model.safetensors",
        "path": f"files/hf/owner--model/{COMMIT}/model.safetensors",
        "sha256": "a" * 64,
        "size": 1,
    }
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / "zoo.lock"
    lock.write_text(json.dumps({"zoo_lock": 1, "files": [{**entry, **change}]}))
    return lock


@pytest.mark.parametrize(
    "change",
    [
        {"filename": "/home/user/.ssh/id_ed25519", "path": "files/home/user/.ssh/id_ed25519"},
        {"filename": "../../x", "path": "files/../../x"},
        {"revision": "../../../x"},
        {"path": "/etc/passwd", "filename": None, "source": "url"},
        {"size": "big"},
        {"path": ["not", "text"]},
    ],
    ids=["absolute", "climbing", "revision", "absolute-path", "size-type", "path-type"],
)
def test_a_hostile_lock_is_refused_in_one_line(
    tmp_path: Path, run_cli: Any, change: dict[str, Any]
) -> None:
    lock = _lock(tmp_path / "m", **change)
    code, out, err = run_cli("pull", "--from-lock", lock, "--to", tmp_path / "copy")
    assert code == 1
    assert "Traceback" not in out + err
    assert "zoo.lock" in err
    assert not (tmp_path / "copy").exists()


def test_a_mirror_linking_out_is_neither_read_nor_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    from zoo.weights.transport import mirror

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.safetensors").write_bytes(b"w")
    lock = _lock(tmp_path / "m", size=1)
    (tmp_path / "m" / "files").symlink_to(outside)
    # Read: the lock's file resolves outside the mirror.
    with pytest.raises(PathEscapeError):
        mirror.Mirror(tmp_path / "m").path_of(mirror.read_lock(lock)[0])
    # Written: a local model pulled into that mirror would land in `outside`.
    root = tmp_path / "cat"
    (root / "testing").mkdir(parents=True)
    (root / "testing" / "w.safetensors").write_bytes(safetensors_bytes("w"))
    write(root, manifest("testing/local", {"path": "w.safetensors"}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    code, _, err = run_cli("pull", "testing/local", "--to", tmp_path / "m")
    assert code == 1
    assert "outside" in err
    assert sorted(p.name for p in outside.rglob("*")) == ["model.safetensors"]


# -- a local checkpoint.path copied into a mirror ------------------------------------------------


@pytest.mark.parametrize("written", ["id_ed25519", "model.safetensors", "model.pth", "keys"])
def test_a_private_key_named_as_weights_is_never_copied_into_a_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any, written: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key = home / written
    if written == "keys":
        key.mkdir()
        (key / "id_ed25519").write_text(KEY)
        (key / "model.safetensors").write_bytes(safetensors_bytes("w"))
    else:
        key.write_text(KEY)
    root = tmp_path / "cat"
    write(root, manifest("testing/key", {"path": str(key)}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    code, out, err = run_cli("pull", "testing/key", "--to", tmp_path / "m")
    assert code == 1
    assert "Traceback" not in out + err
    assert "refusing to copy it" in err
    copied = [p for p in (tmp_path / "m").rglob("*") if p.is_file() and p.name != "zoo.lock"]
    assert copied == []
    assert all("PRIVATE KEY" not in p.read_text() for p in (tmp_path / "m").rglob("zoo.lock"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".onnx"])
def test_checkpoint_formats_are_told_by_their_first_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any, suffix: str
) -> None:
    from zoo.weights._format import matches

    data = {
        ".safetensors": safetensors_bytes("w"),
        ".pth": b"PK\x03\x04" + b"\0" * 60,
        ".onnx": b"\x08\x07\x12\x07pytorch",
    }[suffix]
    file = tmp_path / f"w{suffix}"
    file.write_bytes(data)
    assert matches(file, {".pth": "pickle", ".onnx": "onnx"}.get(suffix, "safetensors"))
    assert not matches(file, "safetensors" if suffix != ".safetensors" else "onnx")
