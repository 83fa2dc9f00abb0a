"""The Pages workflow: its definition, and its generation command run here.

GitHub itself is not needed: the `run:` command of the build job (without `uv run`) is
run in a temporary folder, and what it writes is the folder the upload step publishes.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, CliRunner

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "site.yml"


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps(job: str) -> list[dict[str, Any]]:
    return _workflow()["jobs"][job]["steps"]


def _uses(job: str, action: str) -> dict[str, Any]:
    (step,) = [s for s in _steps(job) if s.get("uses", "").startswith(f"{action}@")]
    return step


def test_workflow_definition() -> None:
    workflow = _workflow()
    trigger = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert trigger["push"]["branches"] == ["main"]
    assert "pull_request" not in trigger  # publishing is for main only
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert workflow["concurrency"]["cancel-in-progress"] is False  # never cut a deployment short
    _uses("build", "actions/checkout")
    _uses("build", "astral-sh/setup-uv")
    upload = _uses("build", "actions/upload-pages-artifact")
    (run,) = [s["run"] for s in _steps("build") if "run" in s]
    words = shlex.split(run)
    assert words[:4] == ["uv", "run", "zoo", "site"]
    assert words[words.index("--out") + 1] == upload["with"]["path"]
    deploy = _workflow()["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    step = _uses("deploy", "actions/deploy-pages")
    assert deploy["environment"]["url"] == f"${{{{ steps.{step['id']}.outputs.page_url }}}}"


def test_workflow_command_generates_the_published_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run_cli: CliRunner
) -> None:
    monkeypatch.chdir(tmp_path)
    (run,) = [s["run"] for s in _steps("build") if "run" in s]
    words = shlex.split(run)[2:]  # `uv run` dropped: the base install, no extras
    assert words[0] == "zoo"
    code, _, stderr = run_cli(*words[1:])
    assert code == 0, stderr
    published = tmp_path / _uses("build", "actions/upload-pages-artifact")["with"]["path"]
    assert (published / "index.html").is_file()
    assert (published / "assets" / "site.css").is_file()
    assert len(list((published / "models").rglob("*.html"))) == len(
        list((REPO_ROOT / "catalog").rglob("*.yaml"))
    )


def test_readme_links_the_site_and_says_how_to_build_it() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "https://<owner>.github.io/<repository>/" in readme
    assert "zoo site --out" in readme
    assert ".github/workflows/site.yml" in readme
