"""Ctrl-C: the real ``zoo`` executable, interrupted while a download stalls, exits 130 with one line."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.offline_kit import Server, manifest, sha, tiny_weights, write
from tests.process_kit import child, ignoring

ZOO = Path(sys.executable).parent / "zoo"


@pytest.mark.slow  # a fresh zoo process imports torch and timm before it downloads
@pytest.mark.skipif(not ZOO.is_file(), reason="the zoo console script is not installed")
def test_ctrl_c_during_a_stalled_download_exits_130(tmp_path: Path, server: Server) -> None:
    pytest.importorskip("timm")
    _, data = tiny_weights()
    server.stall_seconds = 60  # half the file, then silence: zoo waits for the rest
    url = server.add("tiny.safetensors", data, mode="stall")
    root = tmp_path / "catalog"
    write(root, manifest("testing/stalled", checkpoint={"url": url, "sha256": sha(data)}))
    env = {**os.environ, "ZOO_CATALOG_PATH": str(root), "ZOO_DOWNLOAD_TIMEOUT": "120"}
    with child([str(ZOO), "load", "testing/stalled"], cwd=tmp_path, env=env) as proc:
        deadline = time.monotonic() + 120
        while server.hits["/tiny.safetensors"] == 0:  # wait until zoo is really downloading
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "zoo never asked for the file"
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "zoo finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == ""
    assert err.strip() == "interrupted", err
    assert "Traceback" not in err


#: A child that says when Python is ready (its signal handlers set), then waits.
WAITS = "import time; print('ready', flush=True); time.sleep(60)"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_signal_tests_children_stop_when_the_test_run_ignores_the_signal(
    how: signal.Signals,
) -> None:
    """Under ``nohup`` or ``cmd &`` the test run ignores SIGINT, and a child inherits that: the
    children the signal tests start (tests.process_kit.child) get the default handling back."""
    with ignoring(how), child([sys.executable, "-c", WAITS]) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(how)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -how  # Python re-raises an uncaught Ctrl-C's signal when it exits
    assert ("KeyboardInterrupt" in err) == (how == signal.SIGINT), err
