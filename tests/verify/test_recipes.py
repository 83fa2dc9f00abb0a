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


#: Sizes the bundled images do not have: smaller than every input (upscaled), and margins whose
#: half is .5 and rounds up (97x211 resized to 224x487: margin 263), where torchvision's centre
#: crop (round) and transformers' (floor) start one pixel apart.
AWKWARD_SIZES = [(97, 211), (211, 97), (333, 251), (1000, 457)]


def _awkward_images() -> list:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        for w, h in AWKWARD_SIZES
    ]


IMAGE_RECIPES = sorted(
    name for name, recipe in recipes().items() if recipe.volume is None and recipe.bag is None
)


@pytest.mark.parametrize("name", IMAGE_RECIPES)
@pytest.mark.usefixtures("with_timm_index")
def test_preprocessing_matches_its_recipe_on_awkward_sizes(name: str) -> None:

    import zoo

    ours, theirs = zoo.transforms(name), recipes()[name].preprocess
    for image in _awkward_images():
        if ours.spec.in_chans == 1:
            image = image.convert("L")
        got, want = ours(image), theirs(image)
        assert got.shape == want.shape, (image.size, got.shape, want.shape)
        difference = (got - want.float()).abs().max().item()
        assert difference <= 1e-4, f"{image.size}: the tensors differ by up to {difference:.3g}"
