"""`zoo pull` and mirrors: pulled on one machine, moved, loaded on another with the network off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.offline_kit import (
    Server,
    fetch,
    hf_add,
    manifest,
    safetensors_bytes,
    serve,
    sha,
    tiny_weights,
    tmpfs,
    url_file,
    write,
)
from zoo import settings
from zoo.catalog.reader import Catalog
from zoo.errors import IntegrityError, MirrorError, WeightsNotAvailableError
from zoo.weights.transport.mirror import LOCK_NAME, read_lock

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOCK_FIELDS = {
    "name",
    "manifest_sha256",
    "source",
    "location",
    "revision",
    "requested_revision",
    "filename",
    "path",
    "sha256",
    "size",
}


@pytest.fixture(scope="module")
def weights() -> tuple[Any, bytes]:
    return tiny_weights()


def _another_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, label: str) -> None:
    """Fresh, empty zoo and Hugging Face caches, as on a machine that never saw the model."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / label / "zoo"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / label / "hf"))


def _embed(model: Any) -> Any:
    import torch

    x = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    with torch.no_grad():
        return model(x)


def _reference(source: Any) -> Any:
    import torch

    x = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    with torch.no_grad():
        return source.forward_features(x)[:, 0]


def _url_catalog(tmp_path: Path, server: Server, data: bytes) -> tuple[Path, str]:
    url = server.add("tiny.safetensors", data)
    root = tmp_path / "cat"
    write(root, manifest(checkpoint={"url": url, "sha256": sha(data)}))
    write(root, manifest("testing/random"))
    return root, url


# -- pull ----------------------------------------------------------------------------------------


def test_pull_to_a_mirror_writes_the_files_and_a_relative_lock(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    data = b"weights" * 1000
    root, url = _url_catalog(tmp_path, server, data)
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    code, out, err = run_cli(
        "pull", "testing/tiny", "testing/random", "--to", tmp_path / "m", "--json"
    )
    assert code == 0, err
    (row,) = json.loads(out)["files"]
    assert row["sha256"] == sha(data)
    lock = json.loads((tmp_path / "m" / LOCK_NAME).read_text())
    (entry,) = lock["files"]
    assert set(entry) == LOCK_FIELDS
    assert entry["name"] == "testing/tiny"
    assert entry["source"] == "url"
    assert entry["location"] == url
    assert entry["sha256"] == sha(data)
    assert entry["size"] == len(data)
    assert not Path(entry["path"]).is_absolute()
    assert (tmp_path / "m" / entry["path"]).read_bytes() == data
    assert len(entry["manifest_sha256"]) == 64
    # The table for people names the model and the file.
    code, out, err = run_cli("pull", "testing/tiny", "--to", tmp_path / "m")
    assert code == 0
    assert "testing/tiny" in out
    assert "1 file(s) verified into the mirror" in err
    assert len(read_lock(tmp_path / "m" / LOCK_NAME)) == 1  # not listed twice
    assert server.hits["/tiny.safetensors"] == 1


def test_pull_without_target_fills_the_cache_that_loads_read(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    data = b"w" * 4096
    root, url = _url_catalog(tmp_path, server, data)
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    assert run_cli("pull", "testing/*")[0] == 0
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert url_file(url, sha256=sha(data)).read_bytes() == data


def test_pull_usage_errors(run_cli: Any, tmp_path: Path) -> None:
    assert run_cli("pull")[0] == 2
    (tmp_path / LOCK_NAME).write_text("{}")
    assert run_cli("pull", "x/y", "--from-lock", tmp_path / LOCK_NAME)[0] == 2
    code, _, err = run_cli("pull", "testing/nope*")
    assert code == 1
    assert "no model named" in err


def test_pull_of_an_hf_file_records_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.catalog.parse import read_manifest
    from zoo.weights.pull import pull

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_add(settings.hf_hub_cache(), "o/tiny", {"model.safetensors": b"abc"}, commit=COMMIT)
    m = read_manifest(
        write(
            tmp_path / "cat",
            manifest(checkpoint={"hf": {"repo": "o/tiny", "filename": "model.safetensors"}}),
        )
    )
    (pulled,) = pull([m], to=tmp_path / "m").pulled
    entry = pulled.entry
    assert (entry.source, entry.location, entry.filename) == ("hf", "o/tiny", "model.safetensors")
    assert entry.revision == COMMIT
    assert entry.requested_revision is None
    assert entry.path == f"files/hf/o--tiny/{COMMIT}/model.safetensors"


# -- loading from a moved mirror with the network off -----------------------------------------------


@pytest.mark.parametrize("how", ["argument", "ZOO_MIRROR", "cli"])
def test_url_model_pulled_moved_and_loaded_without_network(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    weights: tuple[Any, bytes],
    how: str,
    run_cli: Any,
) -> None:
    source, data = weights
    with serve() as server:
        root, _ = _url_catalog(tmp_path, server, data)
        monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
        assert run_cli("pull", "testing/tiny", "--to", tmp_path / "usb")[0] == 0
    # The server is gone: no network. The mirror is carried elsewhere; caches are empty.
    shutil.move(tmp_path / "usb", tmp_path / "cluster" / "mirror")
    mirror = tmp_path / "cluster" / "mirror"
    _another_machine(monkeypatch, tmp_path, "cluster")
    if how == "argument":
        model = Catalog([root]).load("testing/tiny", mirror=mirror)
    elif how == "ZOO_MIRROR":
        monkeypatch.setenv("ZOO_MIRROR", str(mirror))
        model = Catalog([root]).load("testing/tiny")
    else:
        code, out, err = run_cli("load", "testing/tiny", "--mirror", mirror, "--json")
        assert code == 0, err
        assert json.loads(out)["embedding_shape"] == [1, 32]
        return
    import torch

    torch.testing.assert_close(_embed(model), _reference(source), rtol=0, atol=0)
    assert not settings.cache_dir().exists()  # nothing was downloaded or copied


def test_hf_model_pulled_moved_and_loaded_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights: tuple[Any, bytes]
) -> None:
    import torch

    source, data = weights
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_add(settings.hf_hub_cache(), "o/tiny", {"model.safetensors": data}, commit=COMMIT)
    root = tmp_path / "cat"
    hf = {"repo": "o/tiny", "revision": COMMIT, "filename": "model.safetensors"}
    write(root, manifest(checkpoint={"hf": hf, "sha256": sha(data)}))
    from zoo.weights.pull import pull

    pull(Catalog([root]).list(), to=tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # a copy: new mtimes, same bytes
    shutil.rmtree(tmp_path / "a")
    _another_machine(monkeypatch, tmp_path, "other")
    model = Catalog([root]).load("testing/tiny", mirror=tmp_path / "b")
    torch.testing.assert_close(_embed(model), _reference(source), rtol=0, atol=0)


def test_whole_repository_is_mirrored_as_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.catalog.parse import read_manifest
    from zoo.weights.pull import pull
    from zoo.weights.transport.mirror import use_mirror

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = {"config.json": b"{}", "model.safetensors": b"w" * 100, "sub/x.txt": b"x"}
    hf_add(settings.hf_hub_cache(), "o/repo", files, commit=COMMIT)
    data = manifest(checkpoint={"hf": {"repo": "o/repo", "revision": COMMIT}})
    data["wrapper"] = {"type": "transformers", "model_class": "ViTModel"}
    m = read_manifest(write(tmp_path / "cat", data))
    assert len(pull([m], to=tmp_path / "m").pulled) == 3
    _another_machine(monkeypatch, tmp_path, "other")
    with use_mirror(tmp_path / "m"):
        folder = fetch(m)
    assert folder == (tmp_path / "m" / "files" / "hf" / "o--repo" / COMMIT).resolve()
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == set(
        files
    )


def test_local_checkpoint_is_carried_in_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.catalog.parse import read_manifest
    from zoo.weights.pull import pull
    from zoo.weights.transport.mirror import use_mirror

    root = tmp_path / "cat"
    (root / "testing").mkdir(parents=True)
    (root / "testing" / "w.safetensors").write_bytes(safetensors_bytes("local weights"))
    m = read_manifest(write(root, manifest(checkpoint={"path": "w.safetensors"})))
    pull([m], to=tmp_path / "m")
    (root / "testing" / "w.safetensors").unlink()
    with use_mirror(tmp_path / "m"):
        assert fetch(m).read_bytes() == safetensors_bytes("local weights")


# -- damaged mirrors -----------------------------------------------------------------------------


@pytest.fixture
def pulled_mirror(tmp_path: Path, server: Server) -> tuple[Path, Any, str]:
    """A mirror of one URL model: ``(mirror folder, manifest, url)``."""
    from zoo.catalog.parse import read_manifest
    from zoo.weights.pull import pull

    data = b"0123456789" * 1000
    url = server.add("tiny.safetensors", data)
    m = read_manifest(
        write(tmp_path / "cat", manifest(checkpoint={"url": url, "sha256": sha(data)}))
    )
    pull([m], to=tmp_path / "m")
    return tmp_path / "m", m, url


def _mirror_file(folder: Path) -> Path:
    (entry,) = read_lock(folder / LOCK_NAME)
    return folder / entry.path


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_mirror_file_is_refused_not_loaded(
    pulled_mirror: tuple[Path, Any, str], damage: str
) -> None:
    from zoo.weights.transport.mirror import use_mirror

    folder, m, _ = pulled_mirror
    file = _mirror_file(folder)
    raw = file.read_bytes()
    file.write_bytes(raw[:100] + b"X" + raw[101:] if damage == "flip" else raw[: len(raw) // 2])
    with use_mirror(folder), pytest.raises(IntegrityError) as info:
        fetch(m)
    assert "mirror" in str(info.value)
    assert "--from-lock" in str(info.value)
    assert file.exists()  # a mirror is the user's: never deleted by zoo


def test_file_listed_but_missing_from_the_mirror(pulled_mirror: tuple[Path, Any, str]) -> None:
    from zoo.weights.transport.mirror import use_mirror

    folder, m, _ = pulled_mirror
    _mirror_file(folder).unlink()
    with use_mirror(folder), pytest.raises(WeightsNotAvailableError, match=r"listed in zoo\.lock"):
        fetch(m)


def test_model_not_in_the_mirror_is_one_clear_message(
    pulled_mirror: tuple[Path, Any, str], tmp_path: Path, server: Server
) -> None:
    from zoo.catalog.parse import read_manifest
    from zoo.weights.transport.mirror import use_mirror

    folder, _, _ = pulled_mirror
    url = server.add("other.safetensors", b"other")
    other = read_manifest(write(tmp_path / "cat2", manifest("testing/other", {"url": url})))
    with use_mirror(folder), pytest.raises(WeightsNotAvailableError) as info:
        fetch(other)
    err = info.value
    assert err.what == url
    assert err.looked[0] == str(folder.resolve() / LOCK_NAME)
    assert "not in the mirror" in err.reason
    assert "zoo pull testing/other --to DIR" in err.fix
    assert server.hits["/other.safetensors"] == 0  # a mirror turns the network off


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no zoo.lock"),
        ("not json", "cannot read"),
        ('{"zoo_lock": 99, "files": []}', "version 1"),
        ('{"zoo_lock": 1, "files": {}}', "must be a list"),
        ('{"zoo_lock": 1, "files": [{"name": "a/b"}]}', "entry misses"),
    ],
)
def test_unusable_lock_is_a_mirror_error(
    tmp_path: Path, content: str | None, message: str, run_cli: Any
) -> None:
    from zoo.weights.transport.mirror import use_mirror

    if content is not None:
        (tmp_path / LOCK_NAME).write_text(content)
    with pytest.raises(MirrorError, match=message), use_mirror(tmp_path):
        pass
    code, _, err = run_cli(
        "pull", "--from-lock", tmp_path if content is None else tmp_path / LOCK_NAME
    )
    assert code == 1
    assert "Traceback" not in err


def test_lock_paths_may_not_leave_the_mirror(pulled_mirror: tuple[Path, Any, str]) -> None:
    from zoo.weights.transport.mirror import Mirror

    folder, _, _ = pulled_mirror
    lock = json.loads((folder / LOCK_NAME).read_text())
    lock["files"][0]["path"] = "../../etc/passwd"
    (folder / LOCK_NAME).write_text(json.dumps(lock))
    with pytest.raises(MirrorError, match="must stay inside the mirror"):
        Mirror(folder)


# -- reproducing from a lock ---------------------------------------------------------------------


def test_from_lock_copies_a_mirror_without_network(
    pulled_mirror: tuple[Path, Any, str], tmp_path: Path, server: Server, run_cli: Any
) -> None:
    folder, _, _ = pulled_mirror
    hits = server.hits["/tiny.safetensors"]
    code, _, err = run_cli("pull", "--from-lock", folder / LOCK_NAME, "--to", tmp_path / "copy")
    assert code == 0, err
    assert read_lock(tmp_path / "copy" / LOCK_NAME) == read_lock(folder / LOCK_NAME)
    assert _mirror_file(tmp_path / "copy").read_bytes() == _mirror_file(folder).read_bytes()
    assert server.hits["/tiny.safetensors"] == hits


def test_from_a_bare_lock_downloads_and_verifies(
    pulled_mirror: tuple[Path, Any, str],
    tmp_path: Path,
    server: Server,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
) -> None:
    folder, _, url = pulled_mirror
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(folder / LOCK_NAME, bare / LOCK_NAME)
    _another_machine(monkeypatch, tmp_path, "fresh")
    code, out, err = run_cli("pull", "--from-lock", bare / LOCK_NAME, "--json")
    assert code == 0, err
    (row,) = json.loads(out)["files"]
    assert Path(row["path"]).is_relative_to(settings.cache_dir())
    # The server now serves other bytes: the lock's sha256 refuses them.
    _another_machine(monkeypatch, tmp_path, "fresh2")
    server.add("tiny.safetensors", b"tampered" * 1250)
    code, _, err = run_cli("pull", "--from-lock", bare / LOCK_NAME)
    assert code == 1
    assert "sha256 mismatch" in err
    assert url in err


@pytest.mark.usefixtures("with_timm_index")
def test_timm_tag_pulled_into_a_mirror_and_loaded_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights: tuple[Any, bytes], run_cli: Any
) -> None:
    import torch

    source, data = weights
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = "timm/vit_tiny_patch16_224.augreg_in21k"  # where timm's registry says the tag lives
    hf_add(settings.hf_hub_cache(), repo, {"model.safetensors": data}, commit=COMMIT)
    root = tmp_path / "cat"
    write(root, manifest(checkpoint={"timm": "augreg_in21k"}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    code, out, err = run_cli("pull", "testing/tiny", "--to", tmp_path / "m", "--json")
    assert code == 0, err
    (row,) = json.loads(out)["files"]
    assert (row["source"], row["location"], row["revision"]) == ("hf", repo, COMMIT)
    _another_machine(monkeypatch, tmp_path, "other")
    model = Catalog([root]).load("testing/tiny", mirror=tmp_path / "m")
    torch.testing.assert_close(_embed(model), _reference(source), rtol=0, atol=0)


def test_transformers_repository_pulled_and_loaded_from_a_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    import transformers

    config = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": 32,
        "patch_size": 8,
    }
    torch.manual_seed(0)
    source = transformers.ViTModel(transformers.ViTConfig(**config)).eval()
    source.save_pretrained(tmp_path / "saved")
    files = {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_add(settings.hf_hub_cache(), "o/tiny-hf", files, commit=COMMIT)
    data = manifest(checkpoint={"hf": {"repo": "o/tiny-hf", "revision": COMMIT}})
    data["wrapper"] = {
        "type": "transformers",
        "model_class": "ViTModel",
        "config": {"model_type": "vit", **config},
    }
    data["output"]["pooling"] = "pooler"
    root = tmp_path / "cat"
    write(root, data)
    from zoo.weights.pull import pull

    pull(Catalog([root]).list(), to=tmp_path / "usb")
    shutil.move(tmp_path / "usb", tmp_path / "mirror")
    _another_machine(monkeypatch, tmp_path, "other")
    model = Catalog([root]).load("testing/tiny", mirror=tmp_path / "mirror")
    x = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(pixel_values=x).pooler_output, rtol=0, atol=0)


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 128 KiB file system (tmpfs; needs root, skipped otherwise)."""
    with tmpfs(tmp_path / "disk", "size=128k") as mount:
        yield mount


def test_a_full_mirror_disk_fails_that_model_only(
    tmp_path: Path, server: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch, small_disk: Path
) -> None:
    """`zoo pull --to` onto a disk that fills up: the model that does not fit fails in one line
    (no half-written file is left), and the next model is still mirrored."""
    import hashlib
    import os

    big, small = os.urandom(400 << 10), os.urandom(4 << 10)
    root = tmp_path / "catalog"
    for name, data in (("testing/big", big), ("testing/small", small)):
        url = server.add(f"{name.split('/')[1]}.bin", data)
        write(root, manifest(name, {"url": url, "sha256": hashlib.sha256(data).hexdigest()}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    code, _, err = run_cli("pull", "testing/big", "testing/small", "--to", str(small_disk / "m"))
    assert code == 1, err
    assert "Traceback" not in err
    assert "testing/big" in err
    assert "No space left on device" in err
    mirrored = sorted(p.name for p in (small_disk / "m").rglob("*") if p.is_file())
    assert "small.bin" in mirrored
    assert not any(n.startswith(".") or n == "big.bin" for n in mirrored)  # no temporary left
