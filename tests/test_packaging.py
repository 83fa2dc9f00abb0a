"""The wheel: a non-editable install, run from another directory, still finds the bundled catalogue.

The test needs no network and no warm uv cache: the wheel is built without build isolation
(hatchling is a dev dependency, so it is in the test environment) and installed with
``--no-deps`` into a plain folder, which the test environment's interpreter then runs with that
folder first on ``PYTHONPATH``. Nothing is resolved against a package index.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

uv = shutil.which("uv")


@pytest.mark.slow
@pytest.mark.skipif(uv is None, reason="uv builds the wheel (python3 -m pip install uv)")
def test_installed_wheel_lists_and_validates_the_bundled_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert uv is not None
    dist, target, elsewhere = tmp_path / "dist", tmp_path / "installed", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # An empty cache proves that nothing below depends on what an earlier resolve left behind.
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("PYTHONPATH", str(target))

    def run(*args: str | Path, cwd: Path = elsewhere) -> str:
        done = subprocess.run(
            [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    python = sys.executable
    run(
        uv,
        "build",
        "--wheel",
        "--no-build-isolation",
        "--quiet",
        "--python",
        python,
        "-o",
        dist,
        REPO_ROOT,
    )
    (wheel,) = dist.glob("*.whl")
    # The distribution is ours (`zoo` on the public index is an unrelated project); the import
    # name and the command stay `zoo`.
    assert wheel.name.startswith("zoo_backbones-"), wheel.name
    metadata = run(python, "-m", "zipfile", "-l", wheel)
    assert "zoo_backbones-" in metadata
    assert "zoo/__init__.py" in metadata
    run(uv, "pip", "install", "--no-deps", "--quiet", "--python", python, "--target", target, wheel)

    imported = run(python, "-c", "import zoo; print(zoo.__file__)")
    assert Path(imported.strip()).is_relative_to(target), imported  # not the checkout's zoo
    zoo_script = target / "bin" / "zoo"
    installed = json.loads(run(zoo_script, "list", "--json"))
    in_checkout = sorted(
        p.relative_to(REPO_ROOT / "catalog") for p in (REPO_ROOT / "catalog").rglob("*.yaml")
    )
    assert sorted(m["name"] for m in installed) == [str(p.with_suffix("")) for p in in_checkout]
    first = installed[0]["name"]
    file = run(python, "-c", f"import zoo; print(zoo.Catalog().get({first!r}).file)")
    assert Path(file.strip()).is_relative_to(target / "zoo" / "_data" / "catalog"), file
    run(zoo_script, "schema", "--check")
    run(zoo_script, "validate")
    # The site's stylesheet and scripts are package data: the installed wheel has them.
    site = tmp_path / "website"
    run(zoo_script, "site", "--out", site)
    assert (site / "assets" / "site.css").is_file()
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "window.zooIndex" in index
    assert len(list((site / "models").rglob("*.html"))) == len(in_checkout)
    assert not any(elsewhere.iterdir())  # running it wrote nothing into the working directory


def _lock() -> dict[str, dict[str, object]]:
    tomllib = pytest.importorskip("tomllib")

    packages = tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))["package"]
    return {p["name"]: p for p in packages}


def _closure(lock: dict[str, dict[str, object]], names: list[str]) -> set[str]:
    """Every package the names need, following the lock's dependencies (markers ignored: a
    package needed on any platform counts)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in lock:
            continue
        seen.add(name)
        todo += [d["name"] for d in lock[name].get("dependencies", [])]  # type: ignore[attr-defined]
    return seen


def _default_sync(lock: dict[str, dict[str, object]]) -> set[str]:
    """What `uv run zoo list` installs on a fresh clone: the project's dependencies and its
    default dependency groups (uv's default: ``dev``), no extras."""
    tomllib = pytest.importorskip("tomllib")

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    name = project["project"]["name"]
    groups = project.get("tool", {}).get("uv", {}).get("default-groups", ["dev"])
    root = lock[name]
    direct = [d["name"] for d in root.get("dependencies", [])]  # type: ignore[attr-defined]
    dev = root.get("dev-dependencies", {})
    for group in groups:
        direct += [d["name"] for d in dev.get(group, [])]  # type: ignore[attr-defined]
    return _closure(lock, direct)


def test_the_first_command_installs_no_torch() -> None:
    """`uv run zoo list` on a fresh clone installs the base dependencies and the small test
    tools: no torch, no CUDA libraries (the README promises "no torch needed")."""
    lock = _lock()
    installed = _default_sync(lock)
    heavy = sorted(n for n in installed if n in {"torch", "triton"} or n.startswith("nvidia-"))
    assert heavy == []
    assert "pydantic" in installed  # the reader sees the real dependency graph
    assert "torch" in _closure(lock, ["torchscale"])  # the reference group is what pulls it
