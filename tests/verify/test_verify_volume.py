"""zoo verify on a volume encoder: a recipe with ``volume`` is compared on a random volume."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from zoo.verify import run
from zoo.verify.recipe import Recipe, recipe_for

NAME = "radiology/suprem_segresnet"  # the smallest volume recipe (and its manifest pins an md5)


def test_a_volume_recipe_that_disagrees_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    right = recipe_for(NAME)
    assert right.volume is not None

    def off(net: Any, x: Any) -> Any:
        return right.embed(net, x) * 1.001

    wrong = dataclasses.replace(right, embed=off)

    def recipe(name: str) -> Recipe:
        return wrong

    monkeypatch.setattr(run, "recipe_for", recipe)
    result = run.verify(NAME, random_weights=True)
    assert not result.ok
    (only,) = result.comparisons
    assert only.image == "random volume 1x32x64x64"
    assert only.input_diff == 0.0
    assert only.embedding_diff is not None
    assert only.embedding_diff > 1e-4
