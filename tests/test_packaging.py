"""The wheel: a non-editable install, run from another directory, still finds the bundled catalogue."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

uv = shutil.which("uv")


@pytest.mark.skipif(uv is None, reason="uv builds the wheel (python3 -m pip install uv)")
def test_installed_wheel_lists_and_validates_the_bundled_catalogue(tmp_path: Path) -> None:
    assert uv is not None
    dist, venv = tmp_path / "dist", tmp_path / "venv"

    def run(*args: str | Path, cwd: Path = tmp_path) -> str:
        done = subprocess.run(
            [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(uv, "build", "--wheel", "--quiet", "-o", dist, REPO_ROOT)
    (wheel,) = dist.glob("zoo-*.whl")
    run(uv, "venv", "--quiet", venv)
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "--quiet", "--offline", "--python", python, wheel)

    installed = json.loads(run(venv / "bin" / "zoo", "list", "--json"))
    in_checkout = sorted(
        p.relative_to(REPO_ROOT / "catalog") for p in (REPO_ROOT / "catalog").rglob("*.yaml")
    )
    assert sorted(m["name"] for m in installed) == [str(p.with_suffix("")) for p in in_checkout]
    run(venv / "bin" / "zoo", "schema", "--check")
    run(venv / "bin" / "zoo", "validate")
    # The site's stylesheet and scripts are package data: the installed wheel has them.
    run(venv / "bin" / "zoo", "site", "--out", tmp_path / "site")
    assert (tmp_path / "site" / "assets" / "site.css").is_file()
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "window.zooIndex" in index
    assert len(list((tmp_path / "site" / "models").rglob("*.html"))) == len(in_checkout)
