"""`zoo validate --changed`: only what changed since a git ref, cross-checked against everything."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import CliRunner, ManifestFactory, ManifestWriter

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

Git = Callable[..., str]


def git_in(repo: Path) -> Git:
    """``git(*args)`` run in ``repo``; returns stdout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, check=True, capture_output=True, text=True
        ).stdout

    return git


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git configuration; a fixed identity."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "zoo tests")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "tests@example.invalid")


def make_repo(
    path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    names: tuple[str, ...] = ("testing/a", "testing/b", "testing/c", "testing/d"),
    *,
    branch: str = "main",
) -> Git:
    """A git repository with ``catalog/<names>.yaml`` committed on ``branch``, mirrored as
    ``origin/<branch>``, and a ``feature`` branch checked out."""
    path.mkdir(parents=True)
    git = git_in(path)
    git("init", "-q", "-b", branch)
    for name in names:
        write_manifest(path / "catalog", tiny_manifest_data(name))
    (path / ".gitignore").write_text("ignored/\n")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    git("update-ref", f"refs/remotes/origin/{branch}", "HEAD")
    git("checkout", "-q", "-b", "feature")
    return git


@pytest.fixture
def repo(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> Path:
    """The repository above as the current directory, its catalog/ the bundled catalogue."""
    path = tmp_path / "repo"
    make_repo(path, write_manifest, tiny_manifest_data)
    monkeypatch.chdir(path)
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: path / "catalog")
    return path


def _changed(run_cli: CliRunner, *args: str, code: int = 0) -> dict[str, object]:
    exit_code, out, err = run_cli("validate", "--changed", "--json", *args)
    assert exit_code == code, (out, err)
    return json.loads(out)


def test_nothing_changed(run_cli: CliRunner, repo: Path) -> None:
    report = _changed(run_cli)
    assert report["base"] == "origin/main"
    assert report["checked"] == []
    assert report["files"] == 0
    code, out, err = run_cli("validate", "--changed")
    assert code == 0
    assert out == ""
    assert "0 manifest(s) changed since origin/main" in err
    assert "ok: 0 file(s), 0 error(s), 0 warning(s)" in err


def test_modified_added_untracked_deleted_renamed(
    run_cli: CliRunner,
    repo: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    git = git_in(repo)
    cat = repo / "catalog"
    # modified and committed
    write_manifest(cat, tiny_manifest_data("testing/a", description="changed"))
    # added and committed
    write_manifest(cat, tiny_manifest_data("testing/e"))
    # deleted
    (cat / "testing" / "b.yaml").unlink()
    # renamed (the name follows the path)
    git("mv", "catalog/testing/c.yaml", "catalog/testing/c2.yaml")
    write_manifest(cat, tiny_manifest_data("testing/c2"))
    git("add", "-A")
    git("commit", "-q", "-m", "feature work")
    # modified, not committed; staged new file; untracked file; an ignored file
    write_manifest(cat, tiny_manifest_data("testing/d", tags=["edited"]))
    write_manifest(cat, tiny_manifest_data("testing/staged"))
    git("add", "catalog/testing/staged.yaml")
    write_manifest(cat, tiny_manifest_data("testing/untracked"))
    write_manifest(repo / "ignored", tiny_manifest_data("testing/ignored"))
    (repo / "notes.yaml").write_text("not: a manifest\n")  # outside the catalogue: not checked

    report = _changed(run_cli)
    names = ["a", "c2", "d", "e", "staged", "untracked"]
    assert report["checked"] == [f"catalog/testing/{n}.yaml" for n in names]
    assert report["deleted"] == ["catalog/testing/b.yaml", "catalog/testing/c.yaml"]
    assert report["files"] == len(names)
    assert report["ok"] is True
    _, _, err = run_cli("validate", "--changed")
    assert "6 manifest(s) changed since origin/main; 2 deleted (not checked)" in err


def test_only_changed_files_get_per_file_checks(
    run_cli: CliRunner,
    repo: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    git = git_in(repo)
    # an old problem on the base branch: not this PR's business
    write_manifest(repo / "catalog", tiny_manifest_data("testing/b", description=""))
    git("commit", "-q", "-am", "old warning")
    git("update-ref", "refs/remotes/origin/main", "HEAD")
    broken = tiny_manifest_data("testing/new")
    broken["output"]["embedding_dim"] = 0
    write_manifest(repo / "catalog", broken)
    report = _changed(run_cli, code=1)
    assert report["checked"] == ["catalog/testing/new.yaml"]
    assert {p["file"] for p in report["problems"]} == {"catalog/testing/new.yaml"}
    code, out, _ = run_cli("validate", "--changed", "--format", "github")
    assert code == 1
    assert out.startswith("::error file=catalog/testing/new.yaml,line=")


def test_cross_checks_see_the_whole_catalogue(
    run_cli: CliRunner,
    repo: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    write_manifest(repo / "catalog", tiny_manifest_data("testing/zz", aliases=["testing/alias"]))
    twin = tiny_manifest_data("testing/aa", checkpoint={"timm": "dino"}, paper={"title": "p"})
    write_manifest(repo / "catalog", twin)
    git = git_in(repo)
    git("add", "-A")
    git("commit", "-q", "-m", "two entries")
    git("update-ref", "refs/remotes/origin/main", "HEAD")
    git("checkout", "-q", "-b", "second")
    # A new entry sorting before the entry whose weights it repeats, and one whose name an
    # unchanged entry already takes as an alias: both blamed on the new files.
    write_manifest(repo / "catalog", {**twin, "name": "testing/a0"})
    write_manifest(repo / "catalog", tiny_manifest_data("testing/alias"))
    report = _changed(run_cli, code=1)
    problems = {(p["file"], p["code"]) for p in report["problems"]}  # type: ignore[union-attr]
    assert problems == {
        ("catalog/testing/a0.yaml", "duplicate_weights"),
        ("catalog/testing/alias.yaml", "duplicate_name"),
    }


def test_a_file_changed_on_the_base_after_forking_does_not_count(
    run_cli: CliRunner,
    repo: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    git = git_in(repo)
    write_manifest(repo / "catalog", tiny_manifest_data("testing/mine"))
    git("add", "-A")
    git("commit", "-q", "-m", "mine")
    git("checkout", "-q", "main")
    write_manifest(repo / "catalog", tiny_manifest_data("testing/theirs"))
    git("add", "-A")
    git("commit", "-q", "-m", "theirs")
    git("update-ref", "refs/remotes/origin/main", "HEAD")
    git("checkout", "-q", "feature")
    assert _changed(run_cli)["checked"] == ["catalog/testing/mine.yaml"]
    # --base names any ref; HEAD~1 is the fork point here.
    assert _changed(run_cli, "--base", "HEAD")["checked"] == []


def test_paths_limit_which_changed_files_count(
    run_cli: CliRunner,
    repo: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    write_manifest(repo / "catalog", tiny_manifest_data("testing/new"))
    write_manifest(repo / "catalog", tiny_manifest_data("other/new"))
    report = _changed(run_cli, "catalog/other")
    assert report["checked"] == ["catalog/other/new.yaml"]


def test_default_base_order(
    run_cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    path = tmp_path / "trunk"
    git = make_repo(path, write_manifest, tiny_manifest_data, ("testing/a",), branch="trunk")
    monkeypatch.chdir(path)
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: path / "catalog")
    code, _, err = run_cli("validate", "--changed")
    assert code == 1
    assert "no base to compare against" in err
    assert "--base REF" in err
    git("update-ref", "refs/heads/main", "HEAD")
    assert _changed(run_cli)["base"] == "main"
    git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    assert _changed(run_cli)["base"] == "origin/HEAD"


def test_unknown_base_ref(run_cli: CliRunner, repo: Path) -> None:
    code, out, err = run_cli("validate", "--changed", "--base", "origin/nope")
    assert code == 1
    assert out == ""
    assert err.startswith("error: unknown git ref 'origin/nope'")
    assert "git fetch origin nope" in err
    assert "Traceback" not in err


def test_not_a_git_repository(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    code, _, err = run_cli("validate", "--changed")
    assert code == 1
    assert "is not inside a git repository" in err


def test_git_missing(run_cli: CliRunner, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    code, _, err = run_cli("validate", "--changed")
    assert code == 1
    assert "git is not installed" in err


def test_base_needs_changed(run_cli: CliRunner, repo: Path) -> None:
    code, _, err = run_cli("validate", "--base", "main")
    assert code == 2
    assert "--base only makes sense with --changed" in err


def test_changed_with_build_builds_only_the_changed(
    run_cli: CliRunner,
    repo: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    pytest.importorskip("timm")
    wrong = tiny_manifest_data("testing/wrong_dim")
    wrong["output"]["embedding_dim"] = 768
    wrong["output"]["feature_dim"] = 768
    write_manifest(repo / "catalog", wrong)
    code, out, err = run_cli("validate", "--changed", "--build")
    assert code == 1
    assert err.count("build ") == 1
    (line,) = out.splitlines()
    assert line.startswith("catalog/testing/wrong_dim.yaml: ")
    assert "output.embedding_dim" in line or "output.feature_dim" in line
    assert (
        yaml.safe_load((repo / "catalog" / "testing" / "a.yaml").read_text())["name"] == "testing/a"
    )
