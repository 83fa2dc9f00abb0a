"""The transformer-style slide encoders' recipes (zoo/verify/recipes/slide_transformers.py): their
released files read back the authors' way (the real-weights mode of ``zoo verify``), on tiny
references, and the bag comparison failing once the coordinates are fed another way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from zoo.verify.recipes import slide_transformers as recipes
from zoo.verify.recipes._ref_gigapath import GigaPathReference
from zoo.verify.recipes._ref_moozy import MoozyReference
from zoo.verify.recipes._ref_prism import PrismReference, without_shared_duplicates
from zoo.verify.recipes._ref_titan import TitanReference
from zoo.verify.run import verify


def _titan() -> torch.nn.Module:
    return TitanReference(16, 24, 2, 12, 8, 5).eval()


def _gigapath() -> torch.nn.Module:
    return GigaPathReference(12, 32, 2, 16, 40, 256, (6, 10, 20, 37, 200), (1, 2, 4, 8, 16)).eval()


def _prism() -> torch.nn.Module:
    return PrismReference(20, 16, 6, 8, 2, 8).eval()


def _moozy() -> torch.nn.Module:
    return MoozyReference(12, 24, 12, 2, 48, 4).eval()


CASES = [
    pytest.param(_titan, "titan", "model.safetensors", id="titan"),
    pytest.param(_gigapath, "gigapath", "slide_encoder.pth", id="gigapath"),
    pytest.param(_prism, "prism", "model.safetensors", id="prism"),
    pytest.param(_moozy, "moozy", "moozy.pt", id="moozy"),
]


@pytest.mark.parametrize(("build", "name", "filename"), CASES)
def test_the_released_file_loads_back_the_authors_way(
    tmp_path: Path, build: Callable[[], torch.nn.Module], name: str, filename: str
) -> None:
    torch.manual_seed(0)
    saved = build()
    path = tmp_path / filename
    getattr(recipes, f"_{name}_save")(saved, path)
    torch.manual_seed(1)
    loaded = build()
    getattr(recipes, f"_{name}_load")(loaded, path)
    want, got = saved.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)


def test_prism_refuses_a_file_without_a_layer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state: dict[str, Any] = without_shared_duplicates(_prism().state_dict())
    state.pop("image_resampler.perceiver.layers.1.xattn.xattn.to_kv.weight")
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError, match=r"keys differ: .*layers\.1\.xattn\.xattn\.to_kv"):
        recipes._prism_load(_prism(), path)


def test_titan_recipe_catches_a_wrong_tile_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recipe given the bag's tiles at twice their level-0 side (cells merge): a mismatch."""
    assert verify("pathology/mahmood_titan", random_weights=True).ok
    monkeypatch.setattr(recipes, "_BAG_TILE", 1024)
    assert not verify("pathology/mahmood_titan", random_weights=True).ok


def test_gigapath_recipe_catches_unscaled_coordinates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Level-0 coordinates divided by 256 without the 0.5 um/px scaling: other grid cells."""
    monkeypatch.setattr(recipes, "_BAG_TILE", 256)  # the embed's scale becomes 1
    result = verify("pathology/prov_gigapath_slide", random_weights=True)
    assert not result.ok
