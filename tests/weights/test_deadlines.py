"""Overall deadlines: a host that trickles its answer a byte at a time fails like a silent one.

Per-read timeouts never trip on a trickle (every read brings a byte). The servers here are real
sockets on 127.0.0.1, served by a thread, that send their headers or body slowly.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.offline_kit import hf_path, manifest, url_file, write
from zoo.errors import EndpointTimeoutError
from zoo.manifest import HfLocation

#: Seconds between two trickled bytes: far below every per-read timeout used here.
EVERY = 0.05


@contextmanager
def trickling(head: bytes, body: bytes = b"", *, slow_head: bool = True) -> Iterator[str]:
    """A host that sends ``head`` (status line and headers) and then ``body``, one byte every
    :data:`EVERY` seconds (the head at once when ``slow_head`` is false), and then waits."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    done = threading.Event()

    def send(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request
                if not slow_head:
                    conn.sendall(head)
                for byte in (head if slow_head else b"") + body:
                    if done.wait(EVERY):
                        return
                    conn.sendall(bytes([byte]))
                done.wait()
            except OSError:
                return  # the client gave up: what the tests want

    def accept() -> None:
        workers = []
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=send, args=(conn,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join()
        listener.close()


#: Headers that take about 20 s at one byte each EVERY seconds.
ENDLESS_HEAD = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 400 + b"\r\n"


def _timed(call: Any) -> tuple[float, EndpointTimeoutError]:
    start = time.monotonic()
    with pytest.raises(EndpointTimeoutError) as info:
        call()
    return time.monotonic() - start, info.value


def test_trickled_headers_fail_at_the_answer_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("ZOO_DOWNLOAD_TIMEOUT", "1")
    with trickling(ENDLESS_HEAD) as url:
        took, error = _timed(lambda: url_file(f"{url}/w.bin"))
    assert took < 3  # one overall deadline, not a per-read timeout that every byte resets
    assert error.endpoint == url
    assert error.variable == "ZOO_CONNECT_TIMEOUT"
    assert f"{url} did not answer within 1 s (ZOO_CONNECT_TIMEOUT)" in str(error)
    assert "\n" not in str(error)


def test_trickled_hub_metadata_fails_within_its_deadlines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("ZOO_DOWNLOAD_TIMEOUT", "1")
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    body = b'{"sha": "' + b"0" * 386 + b'"}   '
    with trickling(head, body, slow_head=False) as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        took, error = _timed(lambda: hf_path(HfLocation(repo="o/r")))
    assert took < 3
    assert error.endpoint == url
    assert "did not send its answer within 1 s (ZOO_DOWNLOAD_TIMEOUT)" in str(error)


def test_a_download_trickling_its_body_fails_and_keeps_what_arrived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOO_DOWNLOAD_TIMEOUT", "1")
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
    with trickling(head, b"x" * 400, slow_head=False) as url:
        took, error = _timed(lambda: url_file(f"{url}/w.bin"))
    assert took < 3  # the stall timeout alone would wait about 400 * EVERY s
    assert error.endpoint == url
    assert "sent less than 1024 bytes a second for 1 s (ZOO_DOWNLOAD_TIMEOUT)" in str(error)


def test_zoo_pull_from_a_trickling_host_is_one_line_within_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("ZOO_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path / "cat"))
    with trickling(ENDLESS_HEAD) as url:
        write(tmp_path / "cat", manifest(checkpoint={"url": f"{url}/w.bin", "sha256": "0" * 64}))
        start = time.monotonic()
        code, _, err = run_cli("pull", "testing/tiny")
        took = time.monotonic() - start
    assert code == 1
    assert took < 3
    assert len(err.strip().splitlines()) == 1
    assert f"{url} did not answer within 1 s (ZOO_CONNECT_TIMEOUT)" in err
