"""Every reference recipe against its entry, with random weights in the authors' layout.

One test per entry with a recipe (the CI mode of ``zoo verify --random-weights``): the recipe
builds the authors' network, the weights are written as the authors released them and served
to ``zoo.load`` from a local mirror, and both run on the bundled tissue images.
"""

from __future__ import annotations

import pytest

from zoo.verify.recipe import recipes
from zoo.verify.run import verify

#: Entries whose recipe shows a difference zoo cannot express yet (the recipe's ``note`` says
#: what): strict, so that the test fails once zoo matches the authors.
KNOWN_DIFFERENCES = {}

NAMES = [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name]))
    if name in KNOWN_DIFFERENCES
    else name
    for name in sorted(recipes())
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.usefixtures("with_timm_index")
def test_entry_matches_its_recipe(name: str) -> None:
    result = verify(name, random_weights=True)
    assert result.ok, result.row()
