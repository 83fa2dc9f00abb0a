"""zoo.nn.slide.moozy: MOOZY's slide encoder against an independent re-expression of the authors'
``MOOZYSlideEncoder`` (zoo/verify/recipes/_ref_moozy.py), with the same random weights saved as the
authors release them (``moozy.pt``: a pickle holding ``teacher_slide_encoder``, its configuration
and the case transformer), at reduced width and depth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from zoo.errors import TilesError
from zoo.nn.slide import Moozy, moozy
from zoo.verify.recipes._ref_moozy import MoozyReference

#: (reference arguments, zoo arguments): the default layout shrunk, and the optional parts on.
CASES = [
    ((12, 24, 12, 2, 48, 4), {"num_registers": 4}),
    (
        (12, 24, 12, 2, 48, 0, True, 0.5, True),
        {"num_registers": 0, "qk_norm": True, "layerscale_init": 0.5, "learnable_alibi": True},
    ),
]


def released(tmp_path: Path, args: tuple[Any, ...]) -> tuple[MoozyReference, Path]:
    torch.manual_seed(0)
    reference = MoozyReference(*args).eval()
    path = tmp_path / "moozy.pt"
    payload = {
        "teacher_slide_encoder": reference.state_dict(),
        "slide_encoder_config": {"feat_dim": 12, "d_model": 24, "n_layers": 2},
        "case_transformer": {"layers.0.weight": torch.zeros(2)},
    }
    torch.save(payload, path)
    return reference, path


def load(path: Path, **kwargs: Any) -> Moozy:
    config = {"feat_dim": 12, "d_model": 24, "n_heads": 12, "n_layers": 2, "dim_feedforward": 48}
    model = moozy(**(config | kwargs)).eval()
    state = torch.load(path, weights_only=True)["teacher_slide_encoder"]
    model.load_state_dict(state, strict=True)
    return model


def bag(n: int = 25, size: int = 224, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cells = torch.randperm(100, generator=g)[:n]
    coords = torch.stack([cells % 10, cells // 10], dim=1) * size + 4000
    return torch.randn(2, n, 12, generator=g), torch.stack([coords, coords.flip(0)])


@pytest.mark.parametrize(("args", "kwargs"), CASES)
def test_moozy_matches_the_authors_computation(
    tmp_path: Path, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    reference, path = released(tmp_path, args)
    model = load(path, **kwargs)
    features, coords = bag()
    with torch.no_grad():
        got, expected = model(features, coords, 448), reference(features, coords, 448)
    assert got.shape == (2, 24)
    assert got.dtype == torch.float32
    assert ((got - expected).abs().max() / expected.abs().max()) <= 1e-5


def test_moozy_state_dict_has_the_shared_slopes_under_every_block() -> None:
    keys = set(moozy().state_dict())
    assert {"pos_bias.slopes", "blocks.5.pos_bias.slopes", "register_tokens", "mask_token"} <= keys
    assert "blocks.0.q_norm.weight" not in keys
    assert "input_proj.0.weight" in keys
    assert moozy().input_proj[0].weight.shape == (768, 384)


def test_moozy_distance_is_in_tile_sides() -> None:
    """Two blocks: the class token sees the bias only through the tiles it attends to."""
    torch.manual_seed(0)
    model = moozy(feat_dim=12, d_model=24, n_heads=12, n_layers=2, dim_feedforward=48).eval()
    features, coords = bag()
    with torch.no_grad():
        torch.testing.assert_close(model(features, coords, 224), model(features, coords * 2, 448))
        assert not torch.allclose(model(features, coords, 224), model(features, coords, 448))


def test_moozy_refuses_a_bag_without_coordinates() -> None:
    with pytest.raises(TilesError, match="give coords"):
        moozy()(torch.zeros(1, 3, 384))
    with pytest.raises(ValueError, match="multiple of n_heads"):
        moozy(d_model=100)
