"""zoo.nn.slide.titan: TITAN's slide encoder against an independent re-expression of the authors'
``encode_slide_from_patch_features`` (zoo/verify/recipes/_ref_titan.py), both with the same random
weights in the released layout (``model.safetensors``, the slide encoder under ``vision_encoder.``
next to keys it must leave out), at reduced width and depth."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from zoo.errors import TilesError
from zoo.nn.slide import Titan, titan
from zoo.nn.slide.titan import alibi_slopes
from zoo.verify.recipes._ref_titan import TitanReference

#: The released architecture shrunk (768 -> 24 wide, 6 -> 2 blocks), heads kept at 12 (ALiBi
#: slopes of a head count that is no power of two) and 8 in the poolers.
TINY = {
    "in_dim": 16,
    "embed_dim": 24,
    "depth": 2,
    "num_heads": 12,
    "pool_heads": 8,
    "pool_queries": 5,
}


def released_file(tmp_path: Path) -> tuple[TitanReference, Path]:
    torch.manual_seed(0)
    reference = TitanReference(16, 24, 2, 12, 8, 5).eval()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    return reference, path


def load_vision_encoder(path: Path) -> Titan:
    state = {
        k.removeprefix("vision_encoder."): v
        for k, v in load_file(str(path)).items()
        if k.startswith("vision_encoder.")
    }
    model = titan(**TINY).eval()
    model.load_state_dict(state, strict=True)
    return model


def bag(n: int = 40, size: int = 512, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiles on a sparse 9x7 grid at a level-0 offset, one cell holding two tiles."""
    g = torch.Generator().manual_seed(seed)
    cells = torch.randperm(63, generator=g)[:n]
    coords = torch.stack([cells // 7, cells % 7], dim=1) * size + torch.tensor([3000, 1000])
    coords = torch.cat([coords, coords[:1]])  # a second tile on the first one's cell
    return torch.randn(1, n + 1, 16, generator=g), coords.unsqueeze(0)


def test_titan_matches_the_authors_computation(tmp_path: Path) -> None:
    reference, path = released_file(tmp_path)
    model = load_vision_encoder(path)
    features, coords = bag()
    with torch.no_grad():
        expected = reference(features, coords, 512)
        got = model(features, coords, 512)
    assert got.shape == (1, 24)
    assert got.dtype == torch.float32
    assert ((got - expected).abs().max() / expected.abs().max()) <= 1e-5


def test_titan_runs_each_slide_of_a_batch_alone(tmp_path: Path) -> None:
    reference, path = released_file(tmp_path)
    model = load_vision_encoder(path)
    (f1, c1), (f2, c2) = bag(seed=1), bag(seed=2)
    with torch.no_grad():
        both = model(torch.cat([f1, f2]), torch.cat([c1, c2]), 512)
        expected = torch.cat([reference(f1, c1, 512), reference(f2, c2, 512)])
    assert ((both - expected).abs().max() / expected.abs().max()) <= 1e-5


def test_titan_grid_follows_patch_size_level0(tmp_path: Path) -> None:
    """At 40x the same tiles are 1024 level-0 pixels apart: the same grid, the same embedding."""
    _, path = released_file(tmp_path)
    model = load_vision_encoder(path)
    features, coords = bag()
    with torch.no_grad():
        at20 = model(features, coords, 512)
        at40 = model(features, coords * 2, 1024)
        wrong = model(features, coords * 2, 512)  # a grid twice as sparse: other distances
    torch.testing.assert_close(at20, at40)
    assert not torch.allclose(at20, wrong)


def test_titan_state_dict_is_the_released_layout() -> None:
    keys = set(titan().state_dict())
    assert {"patch_embed.0.weight", "cls_token", "proj", "norm.bias"} <= keys
    assert "blocks.modules_list.5.attn.qkv.weight" in keys
    assert "attn_pool.attn.in_proj_weight" in keys
    assert "attn_pool_contrastive.query" in keys
    assert titan().attn_pool.query.shape == (128, 768)


def test_alibi_slopes_of_twelve_heads() -> None:
    expected = [2.0**-i for i in range(1, 9)] + [2.0**-0.5, 2.0**-1.5, 2.0**-2.5, 2.0**-3.5]
    torch.testing.assert_close(alibi_slopes(12), torch.tensor(expected))
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0**-i for i in range(1, 9)]))


@pytest.mark.parametrize(
    ("features", "coords", "size", "message"),
    [
        (torch.zeros(5, 16), torch.zeros(1, 5, 2), 512, r"shaped \[B, N, 16\]"),
        (torch.zeros(1, 5, 8), torch.zeros(1, 5, 2), 512, "16-d tile features"),
        (torch.zeros(1, 0, 16), torch.zeros(1, 0, 2), 512, "empty bag"),
        (torch.full((1, 2, 16), float("nan")), torch.zeros(1, 2, 2), 512, "NaN"),
        (torch.ones(1, 2, 16), None, 512, "give coords"),
        (torch.ones(1, 2, 16), torch.zeros(1, 2, 2), None, "give coords"),
        (torch.ones(1, 2, 16), torch.zeros(1, 3, 2), 512, r"coords shaped \[B, N, 2\]"),
        (torch.ones(1, 2, 16), torch.zeros(1, 2, 2), 0, "must be positive"),
        (torch.ones(1, 2, 16), torch.zeros(1, 2, 2), 51.5, "must be an integer"),
        (torch.ones(1, 2, 16), -torch.ones(1, 2, 2), 512, "negative"),
    ],
)
def test_titan_refuses_a_bad_bag(
    features: torch.Tensor, coords: torch.Tensor | None, size: int | None, message: str
) -> None:
    with pytest.raises(TilesError, match=message):
        titan(**TINY)(features, coords, size)
