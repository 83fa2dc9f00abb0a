"""HTTP for weights: deadlines, bounded retries, resumed downloads, the user's umask, Ctrl-C.

Every server here is real and local: 127.0.0.1 sockets that answer, stall, cut off, refuse or
never answer at all.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.offline_kit import Server, manifest, sha, silent_endpoint, url_file, write
from tests.process_kit import child
from zoo import settings
from zoo.errors import DownloadError, EndpointTimeoutError

DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def silent() -> Iterator[str]:
    with silent_endpoint() as url:
        yield url


def _finals() -> list[str]:
    root = settings.cache_dir()
    found = sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return [name for name in found if not name.endswith(".incomplete")]


# -- deadlines ----------------------------------------------------------------------------------


def test_a_silent_host_fails_after_the_answer_deadline_once(
    silent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "1")
    start = time.monotonic()
    with pytest.raises(EndpointTimeoutError) as info:
        url_file(f"{silent}/w.bin")
    took = time.monotonic() - start
    assert 0.9 < took < 2.5  # one deadline: a timeout is never retried
    assert info.value.endpoint == silent
    assert info.value.variable == "ZOO_CONNECT_TIMEOUT"
    assert f"{silent} did not answer within 1 s (ZOO_CONNECT_TIMEOUT)" in str(info.value)
    assert _finals() == []


@pytest.mark.slow
def test_with_the_default_deadlines_a_silent_host_fails_within_30_seconds(silent: str) -> None:
    start = time.monotonic()
    with pytest.raises(EndpointTimeoutError):
        url_file(f"{silent}/w.bin")
    assert time.monotonic() - start < 30
    assert settings.connect_timeout() <= 15


@pytest.mark.parametrize("value", ["", "abc", "0", "-3"])
def test_unusable_timeout_settings_fall_back_to_the_defaults(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", value)
    monkeypatch.setenv("ZOO_DOWNLOAD_TIMEOUT", value)
    assert settings.connect_timeout() == settings.DEFAULT_CONNECT_TIMEOUT
    assert settings.download_timeout() == settings.DEFAULT_DOWNLOAD_TIMEOUT


# -- retries ------------------------------------------------------------------------------------


def test_a_busy_host_is_retried_a_bounded_number_of_times(server: Server) -> None:
    url = server.add("w.bin", DATA, mode="busy")
    with pytest.raises(DownloadError, match="HTTP 503") as info:
        url_file(url)
    assert info.value.status == 503
    assert server.hits["/w.bin"] == 3


def test_a_missing_file_is_not_retried(server: Server) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        url_file(f"{server.base}/absent.bin")
    assert server.hits["/absent.bin"] == 1


# -- resuming -----------------------------------------------------------------------------------


def test_a_cut_transfer_resumes_with_a_range_request(server: Server) -> None:
    url = server.add("w.bin", DATA, mode="truncate_once")
    path = url_file(url, sha256=sha(DATA))  # cut after half, then resumed in the same call
    assert path.read_bytes() == DATA
    ranges = [h.get("Range") for p, h in server.requests if p == "/w.bin"]
    assert ranges == [None, f"bytes={len(DATA) // 2}-"]
    assert server.sent["/w.bin"] == len(DATA)  # nothing was sent twice
    assert _finals() == ["w.bin"]


def test_an_interrupted_download_continues_where_it_stopped_on_the_next_try(
    server: Server,
) -> None:
    url = server.add("w.bin", DATA, mode="truncate")
    for _ in range(2):  # the server cuts every attempt of this call
        with pytest.raises(DownloadError, match="cut short"):
            url_file(url)
    (partial,) = settings.cache_dir().rglob("w.bin.incomplete")
    kept = partial.stat().st_size
    assert 0 < kept < len(DATA)
    server.files["/w.bin"] = (DATA, "ok")
    assert url_file(url, sha256=sha(DATA)).read_bytes() == DATA
    _, headers = server.requests[-1]
    assert headers.get("Range") == f"bytes={kept}-"
    assert not partial.exists()


def test_a_server_ignoring_ranges_starts_the_file_over(server: Server) -> None:
    url = server.add("w.bin", DATA, mode="truncate")
    with pytest.raises(DownloadError):
        url_file(url)
    server.files["/w.bin"] = (DATA, "slow")  # slow mode answers 200 with the whole body
    assert url_file(url, sha256=sha(DATA)).read_bytes() == DATA


def test_a_partial_file_of_another_url_is_not_resumed(server: Server) -> None:
    url = server.add("w.bin", DATA)
    (settings.cache_dir()).mkdir(parents=True, exist_ok=True)
    from zoo.weights.locations import url_cache_path

    partial = url_cache_path(url).with_name("w.bin.incomplete")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"garbage from nobody knows where")
    assert url_file(url, sha256=sha(DATA)).read_bytes() == DATA
    assert server.requests[-1][1].get("Range") is None


# -- permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_downloads_follow_the_users_umask(server: Server, umask: int, mode: int) -> None:
    url = server.add("w.bin", DATA)
    old = os.umask(umask)
    try:
        path = url_file(url)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


# -- Ctrl-C -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_exits_130_and_leaves_no_file_under_the_final_name(
    server: Server, tmp_path: Path
) -> None:
    big = DATA * 4
    url = server.add("w.bin", big, mode="slow")  # about a second of transfer
    write(tmp_path / "cat", manifest(checkpoint={"url": url, "sha256": sha(big)}))
    env = {
        **os.environ,
        "ZOO_CATALOG_PATH": str(tmp_path / "cat"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    with child([sys.executable, "-m", "zoo", "pull", "testing/tiny"], env=env) as proc:
        deadline = time.monotonic() + 30
        while server.hits["/w.bin"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.4)  # some bytes are on disk
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert _finals() == []
    (partial,) = settings.cache_dir().rglob("w.bin.incomplete")
    kept = partial.stat().st_size
    assert 0 < kept < len(big)
    server.files["/w.bin"] = (big, "ok")
    assert url_file(url, sha256=sha(big)).read_bytes() == big
    assert server.requests[-1][1].get("Range") == f"bytes={kept}-"
