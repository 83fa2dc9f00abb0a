"""The one weights dispatch: each checkpoint kind, its deadlines and messages, what vouches for a
cached file, and ``zoo pull`` going on past failures."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.offline_kit import Server, fetch, hf_add, manifest, sha, silent_endpoint, write
from zoo import settings
from zoo.catalog.parse import read_manifest
from zoo.errors import EndpointTimeoutError, IntegrityError, ManifestError
from zoo.manifest import Manifest
from zoo.weights import sources
from zoo.weights.transport import integrity
from zoo.weights.transport.mirror import LOCK_NAME, read_lock

DATA = bytes(range(256)) * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _manifest(tmp_path: Path, name: str = "testing/tiny", **checkpoint: Any) -> Manifest:
    return read_manifest(write(tmp_path / "cat", manifest(name, checkpoint=checkpoint)))


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "1")
    with silent_endpoint() as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        yield url


# -- the dispatch -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checkpoint", "kind", "field", "identity"),
    [
        ({"path": "w.safetensors"}, "path", "checkpoint.path", None),
        ({"url": "https://h/w.pth"}, "url", "checkpoint.url", "url:https://h/w.pth"),
        (
            {"hf": {"repo": "o/r", "revision": COMMIT, "filename": "w.safetensors"}},
            "hf_file",
            "checkpoint.hf",
            f"hf:o/r@{COMMIT}/w.safetensors",
        ),
        (
            {"timm": "augreg_in21k"},
            "timm",
            "checkpoint.timm",
            "timm:vit_tiny_patch16_224.augreg_in21k",
        ),
        (
            {"url": "https://h/w.pth", "sha256": "a" * 64},
            "url",
            "checkpoint.url",
            "sha256:" + "a" * 64,
        ),
    ],
)
def test_each_kind_has_one_source(
    tmp_path: Path, checkpoint: dict[str, Any], kind: str, field: str, identity: str | None
) -> None:
    source = sources.source_of(_manifest(tmp_path, **checkpoint))
    assert source is not None
    assert (source.kind, source.field) == (kind, field)
    assert source.identity() == identity


def test_a_whole_repository_is_its_own_kind(tmp_path: Path) -> None:
    data = manifest(checkpoint={"hf": {"repo": "o/r", "revision": COMMIT}})
    data["wrapper"] = {
        "type": "transformers",
        "model_class": "ViTModel",
        "config": {"model_type": "vit"},
    }
    source = sources.source_of(read_manifest(write(tmp_path / "cat", data)))
    assert source is not None
    assert source.kind == "hf_repo"
    assert isinstance(source, sources.HfRepoSource)
    assert "*.py" not in source.patterns()


def test_random_init_has_no_source(tmp_path: Path) -> None:
    m = read_manifest(write(tmp_path / "cat", manifest()))
    assert sources.source_of(m) is None
    assert sources.identity(m) is None
    assert sources.advice(m) == []


# -- deadlines, per kind, naming the field the manifest uses -------------------------------------------


@pytest.mark.usefixtures("with_timm_index")
@pytest.mark.parametrize(
    ("checkpoint", "field"),
    [
        ({"hf": {"repo": "o/r", "revision": COMMIT, "filename": "w.safetensors"}}, "checkpoint.hf"),
        ({"timm": "augreg_in21k"}, "checkpoint.timm"),
    ],
    ids=["hf-file", "timm-tag"],
)
def test_a_silent_hub_fails_in_seconds_naming_the_field(
    tmp_path: Path, silent: str, checkpoint: dict[str, Any], field: str
) -> None:
    import timm  # noqa: F401  (importing timm is not the network's time)

    m = _manifest(tmp_path, **checkpoint)
    start = time.monotonic()
    with pytest.raises(EndpointTimeoutError) as info:
        fetch(m)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert message.startswith(f"testing/tiny: {field} (")
    assert f"{silent} did not answer within 1 s (ZOO_CONNECT_TIMEOUT). Offline" in message
    assert "ZOO_MIRROR" in message
    assert "zoo pull testing/tiny --to DIR" in message
    if field == "checkpoint.timm":
        assert "timm's vit_tiny_patch16_224.augreg_in21k" in message
        assert "checkpoint.hf" not in message


def test_a_silent_url_host_fails_in_seconds(tmp_path: Path, silent: str) -> None:
    m = _manifest(tmp_path, url=f"{silent}/w.safetensors")
    start = time.monotonic()
    with pytest.raises(EndpointTimeoutError, match=r"checkpoint\.url") as info:
        fetch(m)
    assert time.monotonic() - start < 5
    assert info.value.endpoint == silent


def test_a_silent_hub_fails_a_whole_repository_in_seconds(tmp_path: Path, silent: str) -> None:
    data = manifest(checkpoint={"hf": {"repo": "o/r", "revision": COMMIT}})
    data["wrapper"] = {
        "type": "transformers",
        "model_class": "ViTModel",
        "config": {"model_type": "vit"},
    }
    m = read_manifest(write(tmp_path / "cat", data))
    start = time.monotonic()
    with pytest.raises(EndpointTimeoutError, match=r"checkpoint\.hf \(the repository o/r@"):
        fetch(m)
    assert time.monotonic() - start < 5


@pytest.mark.usefixtures("with_timm_index")
@pytest.mark.parametrize("name", ["universal/vit_small_patch16_224_dino", "pathology/owkin_phikon"])
def test_catalogue_models_on_a_silent_hub_fail_in_seconds_from_the_cli(
    silent: str, run_cli: Any, name: str
) -> None:
    import timm  # noqa: F401  (the libraries' import time is not the network's)
    import transformers  # noqa: F401

    start = time.monotonic()
    code, out, err = run_cli("load", name)
    assert time.monotonic() - start < 10
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    assert "Retrying" not in err
    assert f"{silent} did not answer within 1 s" in err
    field = "checkpoint.timm" if "dino" in name else "checkpoint.hf"
    assert f"{name}: {field}" in err


# -- what vouches for a cached file -------------------------------------------------------------------


def test_a_wrong_sha256_never_deletes_a_file_another_manifest_vouches_for(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("w.safetensors", DATA)
    root = tmp_path / "cat"
    write(root, manifest("testing/good", checkpoint={"url": url, "sha256": sha(DATA)}))
    bad_file = write(root, manifest("testing/bad", checkpoint={"url": url, "sha256": "f" * 64}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    good = read_manifest(root / "testing" / "good.yaml")
    path = fetch(good)
    with pytest.raises(IntegrityError) as info:
        fetch(read_manifest(bad_file))
    error = info.value
    assert not error.removed
    assert (error.expected, error.actual) == ("f" * 64, sha(DATA))
    assert error.declared_by.startswith("testing/bad (")
    assert any(v.startswith("testing/good (") for v in error.vouched_by)
    assert any("record of the download" in v for v in error.vouched_by)
    assert "f" * 64 in str(error)
    assert sha(DATA) in str(error)
    assert path.read_bytes() == DATA
    # The good model still loads, with the network off.
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert fetch(good) == path
    assert server.hits["/w.safetensors"] == 1


def test_an_md5_is_checked_once_and_a_wrong_one_leaves_the_file_alone(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishers that state only an MD5 (eva's radiology pins, Zenodo) still get a check."""
    url = server.add("w.pth", DATA)
    root = tmp_path / "cat"
    md5 = hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    good = read_manifest(write(root, manifest("testing/good", checkpoint={"url": url, "md5": md5})))
    bad_file = write(root, manifest("testing/bad", checkpoint={"url": url, "md5": "0" * 32}))
    path = fetch(good)
    assert path.read_bytes() == DATA
    assert integrity.read_record(path)["md5"] == md5  # type: ignore[index]
    with pytest.raises(IntegrityError) as info:
        fetch(read_manifest(bad_file))
    error = info.value
    assert (error.algorithm, error.expected, error.actual) == ("md5", "0" * 32, md5)
    assert str(error).startswith(
        f"md5 mismatch for {path}: expected {'0' * 32} (declared by testing/bad ("
    )
    assert "checkpoint.md5 of testing/bad" in str(error)
    assert "The file was left alone." in str(error)
    assert path.read_bytes() == DATA
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert fetch(good) == path
    assert server.hits["/w.pth"] == 1
    # A file changed behind zoo's back is not trusted because of its records.
    path.write_bytes(DATA[::-1])
    with pytest.raises(IntegrityError):
        fetch(good)


def test_an_md5_belongs_to_a_url_and_weakens_the_advice(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="md5 is checked on url downloads only"):
        _manifest(
            tmp_path, hf={"repo": "o/r", "revision": COMMIT, "filename": "w.bin"}, md5="0" * 32
        )
    (problem,) = sources.advice(_manifest(tmp_path, url="https://h/w.pth", md5="0" * 32))
    assert (problem.path, problem.code) == ("checkpoint.sha256", "no_sha256")
    assert "checked by md5 only" in problem.message


def test_a_wrong_sha256_leaves_a_hub_file_alone_and_names_its_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_add(settings.hf_hub_cache(), "o/r", {"w.safetensors": DATA}, commit=COMMIT)
    hf = {"repo": "o/r", "revision": COMMIT, "filename": "w.safetensors"}
    m = _manifest(tmp_path, hf=hf, sha256="e" * 64)
    with pytest.raises(IntegrityError) as info:
        fetch(m)
    assert not info.value.removed
    assert any("Hugging Face blob name" in v for v in info.value.vouched_by)
    assert (settings.hf_hub_cache() / "models--o--r" / "blobs" / sha(DATA)).read_bytes() == DATA


# -- zoo pull keeps going --------------------------------------------------------------------------


def test_pull_tries_every_model_and_mirrors_what_succeeded(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    root = tmp_path / "cat"
    first = server.add("a.safetensors", DATA)
    last = server.add("c.safetensors", DATA[::-1])
    write(root, manifest("testing/a", checkpoint={"url": first, "sha256": sha(DATA)}))
    write(root, manifest("testing/b", checkpoint={"url": f"{server.base}/gone.safetensors"}))
    write(root, manifest("testing/c", checkpoint={"url": last}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    mirror = tmp_path / "m"
    code, out, err = run_cli(
        "pull", "testing/a", "testing/b", "testing/nope", "testing/c", "--to", mirror
    )
    assert code == 1
    assert "Traceback" not in err
    assert "failed: testing/b:" in err
    assert "HTTP 404" in err
    assert "failed: testing/nope:" in err
    assert "testing/a" in out
    assert "testing/c" in out
    assert sorted(e.name for e in read_lock(mirror / LOCK_NAME)) == ["testing/a", "testing/c"]
    code, out, _ = run_cli("pull", "testing/*", "--json")
    assert code == 1
    report = json.loads(out)
    assert [f["name"] for f in report["failed"]] == ["testing/b"]
    assert sorted(f["name"] for f in report["files"]) == ["testing/a", "testing/c"]


@pytest.mark.usefixtures("with_timm_index")
def test_pull_selects_timm_names_by_pattern_as_zoo_list_does(
    monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = "timm/vit_tiny_patch16_224.augreg_in21k"
    hf_add(settings.hf_hub_cache(), repo, {"model.safetensors": DATA}, commit=COMMIT)
    code, out, err = run_cli("pull", "timm/vit_tiny_patch16_224.augreg_in21k*", "--json")
    report = json.loads(out)
    pulled = {f["name"] for f in report["files"]}
    assert "timm/vit_tiny_patch16_224.augreg_in21k" in pulled
    # The other tag of the pattern is not cached and the network is off: listed, not fatal.
    failed = {f["name"] for f in report["failed"]}
    assert failed <= {"timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"}
    assert code == (1 if failed else 0), err
