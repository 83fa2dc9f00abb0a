"""Limits on manifests: file size, aliases, name and description lengths, and what a catalogue
of long names costs every misspelt lookup (O(catalogue), whatever the names hold)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.offline_kit import manifest, write
from zoo.manifest import MAX_ALIASES, MAX_DESCRIPTION, MAX_NAME


def _validate(run_cli: Any, path: Path) -> tuple[int, str]:
    code, out, err = run_cli("validate", path)
    return code, out + err


def test_a_manifest_of_5000_long_aliases_is_refused_with_one_clear_message(
    tmp_path: Path, run_cli: Any
) -> None:
    aliases = [f"x/{i:05d}" + "a" * 193 for i in range(5000)]  # about 1 MiB: the attack
    path = write(tmp_path, manifest(aliases=aliases))
    code, report = _validate(run_cli, path)
    assert code == 1
    assert "a manifest may have at most 262144" in report
    assert len(report.strip().splitlines()) <= 3


def test_more_aliases_than_the_limit_are_one_error(tmp_path: Path, run_cli: Any) -> None:
    aliases = [f"x/alias_{i}" for i in range(MAX_ALIASES + 1)]
    code, report = _validate(run_cli, write(tmp_path, manifest(aliases=aliases)))
    assert code == 1
    assert f"{MAX_ALIASES + 1} aliases; a manifest may have at most {MAX_ALIASES}" in report
    assert report.count("aliases") < 5  # one message, not one per alias


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("aliases", ["x/" + "a" * (MAX_NAME - 1)], f"at most {MAX_NAME} characters"),
        ("description", "d" * (MAX_DESCRIPTION + 1), f"at most {MAX_DESCRIPTION} characters"),
    ],
)
def test_overlong_strings_are_refused(
    tmp_path: Path, run_cli: Any, field: str, value: Any, expected: str
) -> None:
    code, report = _validate(run_cli, write(tmp_path, manifest(**{field: value})))
    assert code == 1
    assert field in report
    assert expected in report


def test_strings_at_the_limits_validate(tmp_path: Path, run_cli: Any) -> None:
    data = manifest(
        aliases=[f"x/{i:02d}" + "a" * (MAX_NAME - 5) for i in range(MAX_ALIASES)],
        description="d" * MAX_DESCRIPTION,
    )
    code, report = _validate(run_cli, write(tmp_path, data))
    assert code == 0, report


def test_long_aliases_do_not_make_a_misspelt_name_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    # The costliest names for difflib: long runs of one letter, which a misspelling matches.
    for m in range(10):
        aliases = [f"{m}{i:02d}" + "a" * (MAX_NAME - 3) for i in range(MAX_ALIASES)]
        write(tmp_path, manifest(name=f"testing/long_{m}", aliases=aliases))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path))
    assert run_cli("validate", tmp_path)[0] == 0
    typed = "a" * (MAX_NAME - 1) + "b"
    import zoo

    catalog = zoo.Catalog()
    catalog.suggest("warm-up")  # reads the catalogue once
    start = time.monotonic()
    close = catalog.suggest(typed)
    took = time.monotonic() - start
    assert took < 1, f"{took:.1f} s"
    assert close  # still suggests what looks alike
    code, _, err = run_cli("show", typed)
    assert code == 1
    assert "did you mean" in err.lower()
