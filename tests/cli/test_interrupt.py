"""Ctrl-C: the real ``zoo`` executable, interrupted while a download stalls, exits 130 with one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.offline_kit import Server, manifest, sha, tiny_weights, write

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
    proc = subprocess.Popen(
        [str(ZOO), "load", "testing/stalled"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while server.hits["/tiny.safetensors"] == 0:  # wait until zoo is really downloading
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "zoo never asked for the file"
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "zoo finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert out == ""
    assert err.strip() == "interrupted", err
    assert "Traceback" not in err
