"""zoo embed reads 2-D images: a volume model is refused at once, with a one-line usage error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightning")


def test_embed_refuses_a_volume_model_before_loading_it(run_cli: Any, tmp_path: Path) -> None:
    volumes = tmp_path / "ct"
    volumes.mkdir()
    (volumes / "case0.npy").write_bytes(b"")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("embed", "radiology/voco_b", volumes, "--out", out)
    assert code == 2  # a usage error
    assert stdout == ""
    message = stderr.strip()
    assert "\n" not in message
    assert "radiology/voco_b takes volumes [C, D, H, W]" in message
    assert "not supported by zoo embed yet" in message
    assert not out.exists()  # nothing written, nothing downloaded (no network here)
