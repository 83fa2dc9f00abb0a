"""CI is honest: `.ci/run` runs the linters, the type checker and the tests, and the linters pass.

The two ruff commands are cheap, so they also run here: a README whose Python blocks ruff
would reformat (ruff >= 0.16 formats Markdown code blocks) fails the test suite, not only CI.
mypy takes a minute and runs in `.ci/run` only.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CI = REPO_ROOT / ".ci" / "run"
RUFF = Path(sys.executable).parent / "ruff"


def _commands() -> list[list[str]]:
    """The commands `.ci/run` runs through its ``run`` helper (uv run --all-extras --all-groups
    --locked)."""
    found = []
    for line in CI.read_text().replace("\\\n", " ").splitlines():  # join continued lines
        words = shlex.split(line, comments=True)
        if words[:1] == ["run"]:
            found.append(words[1:])
    return found


def test_ci_runs_linters_type_checker_and_tests() -> None:
    assert "uv run --all-extras --all-groups --locked" in CI.read_text()
    commands = _commands()
    for wanted in (
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
        ["pytest"],
        ["zoo", "schema", "--check"],
    ):
        assert wanted in commands, f".ci/run does not run {' '.join(wanted)}"
    assert commands[-1] == ["pytest"]  # the README's test command, last


def test_ci_installs_uv_when_missing() -> None:
    text = CI.read_text()
    assert "command -v uv" in text
    assert "pip install" in text


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=" ".join)
def test_ruff_is_clean_on_the_whole_repository(args: list[str]) -> None:
    if not RUFF.is_file():
        pytest.fail(f"ruff is a dev dependency but {RUFF} is missing: run `uv sync --all-extras`")
    done = subprocess.run(
        [str(RUFF), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
