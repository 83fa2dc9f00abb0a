"""The PR workflow and the pre-commit hook: their definitions, and their commands run here.

GitHub itself is not needed: the workflow's ``run:`` commands are run (without the uv
installation step) in a temporary git repository laid out like this one, and the hook's
entry and arguments on the files its pattern selects. Both must give `zoo validate`'s verdict.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.catalog.test_validate_changed import git_in, make_repo
from tests.cli.test_cli import GITHUB_LINE
from tests.conftest import REPO_ROOT, CliRunner, ManifestFactory, ManifestWriter

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "manifests.yml"
HOOKS = REPO_ROOT / ".pre-commit-hooks.yaml"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "zoo tests")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "tests@example.invalid")


def _workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _run_steps() -> list[str]:
    steps = _workflow()["jobs"]["validate"]["steps"]
    return [step["run"] for step in steps if "run" in step]


def _zoo_args(command: str, base_ref: str) -> list[str]:
    """A workflow command as `zoo` arguments: GitHub's expression filled in, `uv run` dropped."""
    command = command.replace("${{ github.base_ref }}", base_ref)
    assert "${{" not in command, command
    words = shlex.split(command)
    assert words[:2] == ["uv", "run"], command
    words = words[2:]
    while words[0].startswith("--"):  # uv's own options (--all-extras)
        words.pop(0)
    assert words[0] == "zoo", command
    return words[1:]


# -- the definitions ---------------------------------------------------------------------------


def test_workflow_definition() -> None:
    workflow = _workflow()
    trigger = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    paths = trigger["pull_request"]["paths"]
    assert {"catalog/**", "schemas/**"} <= set(paths)
    steps = workflow["jobs"]["validate"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    # Untrusted manifests: no token left in the checkout, read-only, no network, no trust flag.
    assert checkout["with"]["persist-credentials"] is False
    assert "pull_request_target" not in trigger
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["validate"]["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["validate"]["env"]["ZOO_OFFLINE"] == "1"
    assert any(s.get("uses", "").startswith("astral-sh/setup-uv@") for s in steps)
    runs = _run_steps()
    assert not any("trust-remote-code" in run for run in runs)
    assert runs == [
        "uv run zoo schema --check",
        "uv run --all-extras zoo validate --changed --base origin/${{ github.base_ref }} "
        "--build --format github",
        "uv run --all-extras --all-groups zoo verify --changed --base origin/${{ github.base_ref }} "
        "--random-weights",
    ]
    assert "zoo/verify/recipes/**" in paths


def test_hook_definition() -> None:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    (hook,) = hooks
    assert hook["id"] == "zoo-validate"
    assert hook["language"] == "python"
    assert hook["entry"] == "zoo validate"
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    for path in ("catalog/pathology/uni.yaml", "sub/catalog/g/n.yaml"):
        assert files.search(path), path
    for path in (".pre-commit-hooks.yaml", ".github/workflows/manifests.yml", "catalog.yaml",
                 "schemas/manifest.schema.json", "catalog/g/n.yml.bak"):  # fmt: skip
        assert not files.search(path), path


def test_every_real_manifest_matches_the_hook_pattern() -> None:
    (hook,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    files = re.compile(hook["files"])
    manifests = [p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "catalog").rglob("*")]
    assert all(files.search(p) for p in manifests if p.endswith(".yaml"))


# -- the workflow's commands, run in a repository like this one ----------------------------------


@pytest.fixture
def pr_repo(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> Path:
    """A checkout of a PR branch: catalog/, a fresh schemas/, origin/main, cwd inside it."""
    path = tmp_path / "repo"
    make_repo(path, write_manifest, tiny_manifest_data, ("testing/a", "testing/b"))
    from zoo.manifest import schema_text

    (path / "schemas").mkdir()
    (path / "schemas" / "manifest.schema.json").write_text(schema_text(), encoding="utf-8")
    git = git_in(path)
    git("add", "-A")
    git("commit", "-q", "-m", "schema")
    git("update-ref", "refs/remotes/origin/main", "HEAD")
    monkeypatch.chdir(path)
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: path / "catalog")
    return path


def _run_workflow(run_cli: CliRunner) -> list[tuple[int, str, str]]:
    results = []
    for command in _run_steps():
        results.append(run_cli(*_zoo_args(command, "main")))
        if results[-1][0] != 0:
            break  # a failing step ends the job
    return results


@pytest.mark.parametrize("broken", [False, True])
def test_workflow_commands_give_validates_verdict(
    run_cli: CliRunner,
    pr_repo: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    broken: bool,
) -> None:
    pytest.importorskip("timm")
    data = tiny_manifest_data("testing/new_model", description="")
    if broken:  # only building the architecture shows it: the schema is happy
        data["output"]["embedding_dim"] = data["output"]["feature_dim"] = 768
    file = write_manifest(pr_repo / "catalog", data)
    git = git_in(pr_repo)
    git("add", "-A")
    git("commit", "-q", "-m", "add a model")

    (schema, validate, *verify) = _run_workflow(run_cli)
    assert schema[0] == 0, schema
    # A valid new manifest without a recipe: the verify step has nothing to run, and says so.
    assert [v[0] for v in verify] == ([] if broken else [0]), verify
    assert all("no entry with a recipe changed" in v[2] for v in verify)
    local = run_cli("validate", "--build", file.relative_to(pr_repo))
    assert validate[0] == local[0] == (1 if broken else 0), (validate, local)
    lines = validate[1].splitlines()
    assert all(GITHUB_LINE.match(line) for line in lines), lines
    matches = [m for m in map(GITHUB_LINE.match, lines) if m]
    assert {m["file"] for m in matches} == {"catalog/testing/new_model.yaml"}
    levels = sorted(m["level"] for m in matches)
    assert levels == (["error", "warning"] if broken else ["warning"])


def test_workflow_schema_step_fails_on_a_stale_schema(run_cli: CliRunner, pr_repo: Path) -> None:
    (pr_repo / "schemas" / "manifest.schema.json").write_text("{}\n")
    (schema,) = _run_workflow(run_cli)
    assert schema[0] == 1
    assert "Regenerate it with: zoo schema --write" in schema[2]


# -- the hook's command, as pre-commit runs it -------------------------------------------------


def _zoo_executable() -> str:
    found = shutil.which("zoo", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("the zoo console script is not installed next to this interpreter")
    return found


def _hook_files(repo: Path, pattern: str) -> list[str]:
    """What pre-commit would pass: staged files matching the hook's pattern."""
    staged = git_in(repo)("diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z")
    return [p for p in staged.split("\0") if p and re.search(pattern, p)]


@pytest.mark.parametrize("broken", [False, True])
def test_hook_gives_validates_verdict(
    pr_repo: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory, broken: bool
) -> None:
    (hook,) = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    data = tiny_manifest_data("testing/hooked")
    if broken:
        data["output"]["pooling"] = "gem"
    write_manifest(pr_repo / "catalog", data)
    (pr_repo / "notes.yaml").write_text("- not a manifest\n")
    git_in(pr_repo)("add", "-A")
    files = _hook_files(pr_repo, hook["files"])
    assert files == ["catalog/testing/hooked.yaml"]

    exe = _zoo_executable()
    entry = shlex.split(hook["entry"])
    assert entry[0] == "zoo"
    env = {k: v for k, v in os.environ.items() if k != "ZOO_CATALOG_PATH"}
    env["ZOO_CATALOG_PATH"] = str(pr_repo / "catalog")

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=pr_repo, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    hooked = run([exe, *entry[1:], *hook.get("args", []), *files])
    direct = run([exe, "validate", "--json", *files])
    assert hooked.returncode == direct.returncode == (1 if broken else 0), (hooked, direct)
    assert json.loads(direct.stdout)["ok"] is (not broken)
    if broken:
        assert "catalog/testing/hooked.yaml:" in hooked.stdout
        assert "output.pooling" in hooked.stdout
