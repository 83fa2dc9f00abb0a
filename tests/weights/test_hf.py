"""The Hub, fetched by zoo itself: the cache layout huggingface_hub reads, ETag checks, tokens,
refusals. The Hub is a real HTTP server on 127.0.0.1 speaking the two endpoints zoo uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.offline_kit import Hub, git_sha1, hf_path, hub_server, sha
from zoo import settings
from zoo.errors import IntegrityError, WeightsNotAvailableError
from zoo.manifest import HfLocation
from zoo.weights.transport import hub as hf

COMMIT = "0123456789abcdef0123456789abcdef01234567"
WEIGHTS = bytes(range(256)) * 1024
CONFIG = b'{"model_type": "vit"}'


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    with hub_server() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        running.add(
            "owner/model",
            {
                "config.json": CONFIG,
                "model.safetensors": WEIGHTS,
                "pytorch_model.bin": b"pickle",
                "modeling.py": b"print('remote code')",
                "sub/extra.txt": b"notes",
            },
            COMMIT,
        )
        yield running


def _repo_dir() -> Path:
    return settings.hf_hub_cache() / "models--owner--model"


def test_a_file_lands_in_the_cache_layout_huggingface_hub_reads(hub: Hub) -> None:
    from huggingface_hub import try_to_load_from_cache

    path = hf_path(HfLocation(repo="owner/model", filename="model.safetensors"))
    assert path.read_bytes() == WEIGHTS
    assert path == _repo_dir() / "snapshots" / COMMIT / "model.safetensors"
    assert path.is_symlink()
    assert path.resolve() == _repo_dir() / "blobs" / sha(WEIGHTS)
    assert (_repo_dir() / "refs" / "main").read_text() == COMMIT
    found = try_to_load_from_cache(
        "owner/model", "model.safetensors", cache_dir=str(settings.hf_hub_cache())
    )
    assert found == str(path)
    # Found on disk the second time: no request at all.
    before = len(hub.server.requests)
    assert hf_path(HfLocation(repo="owner/model", filename="model.safetensors")) == path
    assert len(hub.server.requests) == before


def test_a_small_file_is_named_and_checked_by_its_git_object_id(hub: Hub) -> None:
    path = hf_path(HfLocation(repo="owner/model", revision=COMMIT, filename="config.json"))
    assert path.resolve().name == git_sha1(CONFIG)
    assert not (_repo_dir() / "refs").exists()  # a pinned commit needs no ref


def test_bytes_that_differ_from_the_hubs_etag_are_refused_and_not_placed(hub: Hub) -> None:
    hub.lie_about.add("model.safetensors")
    with pytest.raises(IntegrityError, match="the Hub's ETag"):
        hf_path(HfLocation(repo="owner/model", filename="model.safetensors"))
    blobs = _repo_dir() / "blobs"
    assert [p.name for p in blobs.iterdir() if not p.name.endswith(".incomplete")] == []
    assert not (_repo_dir() / "snapshots").exists()


def test_a_repository_snapshot_takes_only_the_files_asked_for(hub: Hub) -> None:
    folder = hf_path(HfLocation(repo="owner/model"), patterns=["*.json", "*.safetensors"])
    assert folder == _repo_dir() / "snapshots" / COMMIT
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    # Again, from the cache: complete for these patterns, no request.
    before = len(hub.server.requests)
    assert hf_path(HfLocation(repo="owner/model"), patterns=["*.json", "*.safetensors"]) == folder
    assert len(hub.server.requests) == before


def test_the_token_goes_to_the_hub_and_never_to_a_redirect_target(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.gated.add("owner/model")
    hub.token = "hf_secret"
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert hf_path(HfLocation(repo="owner/model", filename="model.safetensors")).is_file()
    resolve = [h for p, h in hub.server.requests if "/resolve/" in p]
    cdn = [h for p, h in hub.server.requests if p.startswith("/cdn/")]
    assert resolve
    assert all(h.get("Authorization") == "Bearer hf_secret" for h in resolve)
    assert cdn
    assert all("Authorization" not in h for h in cdn)


def test_a_gated_repository_without_access_says_how_to_get_it(hub: Hub) -> None:
    hub.gated.add("owner/model")
    hub.token = "hf_secret"
    with pytest.raises(WeightsNotAvailableError) as info:
        hf_path(HfLocation(repo="owner/model", filename="model.safetensors"))
    assert not info.value.absent
    assert "HTTP 401" in info.value.reason
    assert "HF_TOKEN" in info.value.fix


@pytest.mark.parametrize(
    "loc",
    [
        HfLocation(repo="owner/absent", filename="model.safetensors"),
        HfLocation(repo="owner/model", filename="absent.safetensors"),
        HfLocation(repo="owner/model", revision="f" * 40, filename="model.safetensors"),
    ],
    ids=["repository", "file", "revision"],
)
def test_what_the_hub_does_not_have_is_not_found(hub: Hub, loc: HfLocation) -> None:
    with pytest.raises(WeightsNotAvailableError, match="not found on the Hub") as info:
        hf_path(loc)
    assert info.value.absent


def test_hub_files_follow_the_users_umask(hub: Hub) -> None:
    old = os.umask(0o002)
    try:
        path = hf_path(HfLocation(repo="owner/model", filename="model.safetensors"))
    finally:
        os.umask(old)
    assert path.resolve().stat().st_mode & 0o777 == 0o664


def test_commit_and_cache_helpers_read_paths_only(hub: Hub) -> None:
    path = hf_path(HfLocation(repo="owner/model", filename="sub/extra.txt"))
    assert hf.commit_of(path, "sub/extra.txt") == COMMIT
    assert hf.commit_of(path.parents[1]) == COMMIT
    assert hf.cached(HfLocation(repo="owner/model", filename="sub/extra.txt")) == path
    assert hf.cached(HfLocation(repo="owner/model", filename="model.safetensors")) is None
