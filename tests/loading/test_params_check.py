"""``metrics.params``: the built network's parameter count, declared and checked by ``--build``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import zoo
from tests.loading.loading_kit import Kit
from zoo.errors import ManifestError
from zoo.loading.check import check_build


def _read(path: Path) -> Any:
    return zoo.catalog.reader.read_manifest(path)


def _tiny_params(kit: Kit) -> int:
    model = zoo.load(_read(kit.write(kit.timm_manifest())), pretrained=False)
    return sum(p.numel() for p in model.parameters())


def test_the_right_count_passes(kit: Kit) -> None:
    n = _tiny_params(kit)
    result = check_build(_read(kit.write(kit.timm_manifest(metrics={"params": n}))))
    assert result.ok, result.problems
    assert result.params == n


@pytest.mark.parametrize("delta", [1, -1, 10**6])
def test_a_wrong_count_is_an_error_naming_both_numbers(kit: Kit, delta: int) -> None:
    n = _tiny_params(kit)
    wrong = n + delta
    result = check_build(_read(kit.write(kit.timm_manifest(metrics={"params": wrong}))))
    assert not result.ok
    [problem] = result.problems
    assert problem.path == "metrics.params"
    assert problem.code == "build"
    assert f"{wrong:,}" in problem.message
    assert f"{n:,}" in problem.message


def test_validate_build_fails_on_a_wrong_count(kit: Kit, run_cli: Any) -> None:
    path = kit.write(kit.timm_manifest(metrics={"params": 7}))
    code, out, err = run_cli("validate", "--build", str(path))
    assert code == 1
    assert "metrics.params" in out + err
    assert "declared 7," in out + err


def test_validate_build_prints_the_count_to_copy(kit: Kit, run_cli: Any) -> None:
    n = _tiny_params(kit)
    path = kit.write(kit.timm_manifest())
    code, _, err = run_cli("validate", "--build", str(path))
    assert code == 0
    assert f", {n:,} parameters)" in err


def test_no_count_is_no_check(kit: Kit) -> None:
    result = check_build(_read(kit.write(kit.timm_manifest(metrics={"imagenet_top1": 80.0}))))
    assert result.ok, result.problems


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (-5, "greater_than"),
        (0, "greater_than"),
        (5.5, "int_type"),
        (1234.0, "int_type"),  # a float that happens to be whole is still not a count
        ("1234", "int_type"),
        (True, "int_type"),
        ([1234], "int_type"),
        (None, "int_type"),
    ],
)
def test_a_count_that_is_not_a_positive_integer_is_refused(kit: Kit, value: Any, code: str) -> None:
    path = kit.write(kit.timm_manifest(metrics={"params": value}))
    with pytest.raises(ManifestError) as info:
        _read(path)
    [problem] = info.value.problems
    assert problem.code == code, problem
    assert "metrics.params" in problem.message


def test_other_figures_stay_free_form_numbers(kit: Kit) -> None:
    m = _read(kit.write(kit.timm_manifest(metrics={"params": 12, "imagenet_top1": 81.5})))
    assert m.metrics == {"params": 12, "imagenet_top1": 81.5}
    assert type(m.metrics["params"]) is int


def test_every_catalogue_entry_declares_its_count() -> None:
    """Every entry whose wrapper builds without repository code declares ``metrics.params``; the
    slow test that builds every entry (tests/catalog/test_catalog_entries.py) compares it."""
    missing = [
        m.name
        for m in zoo.Catalog()
        if not m.wrapper.traits.runs_repository_code and "params" not in m.metrics
    ]
    assert missing == []
    assert not any(k == "params_m" for m in zoo.Catalog() for k in m.metrics)  # one key
