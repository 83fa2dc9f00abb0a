"""zoo.nn.slide.gigapath_slide: Prov-GigaPath's LongNet slide encoder against the authors' network
on PyPI torchscale with their dilated attention re-expressed (zoo/verify/recipes/_ref_gigapath.py), both
with the same random weights saved as the authors release them (``slide_encoder.pth``, a pickle
whose ``model`` entry is the state dict), at reduced width, depth, grid and segment lengths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from zoo.errors import TilesError
from zoo.nn.slide import GigaPathSlide, gigapath_slide
from zoo.nn.slide.gigapath import SEGMENT_LENGTHS, sincos_2d
from zoo.verify.recipes._ref_gigapath import GigaPathReference

#: Segment lengths far below the released ones so that a 60-tile bag is cut into several segments,
#: with a length (37) that is no multiple of its dilation (8), as the released 185363 is not.
SEGMENTS = (6, 10, 20, 37, 200)
RATIOS = (1, 2, 4, 8, 16)


def released_pair(
    tmp_path: Path, heads: int = 16, dim: int = 32, depth: int = 2
) -> tuple[GigaPathReference, Path]:
    torch.manual_seed(0)
    reference = GigaPathReference(12, dim, depth, heads, 40, 256, SEGMENTS, RATIOS).eval()
    path = tmp_path / "slide_encoder.pth"
    torch.save({"model": reference.state_dict()}, path)
    return reference, path


def zoo_build(path: Path, **kwargs: Any) -> GigaPathSlide:
    config = {
        "in_dim": 12,
        "embed_dim": 32,
        "depth": 2,
        "num_heads": 16,
        "slide_ngrids": 40,
        "segment_lengths": SEGMENTS,
        "dilated_ratios": RATIOS,
    }
    model = gigapath_slide(**(config | kwargs)).eval()
    model.load_state_dict(torch.load(path, weights_only=True)["model"], strict=True)
    return model


def bag(n: int = 60, tile: int = 256, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cells = torch.randperm(40 * 40, generator=g)[:n]
    coords = torch.stack([cells // 40, cells % 40], dim=1).float() * tile + 17.0
    return torch.randn(2, n, 12, generator=g), torch.stack([coords, coords.flip(0)])


def close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    return bool(((got - expected).abs().max() / expected.abs().max()) <= 1e-5)


@pytest.mark.parametrize(("layer", "global_pool"), [(None, True), (1, True), (2, False), (0, True)])
def test_gigapath_matches_the_authors_computation(
    tmp_path: Path, layer: int | None, global_pool: bool
) -> None:
    reference, path = released_pair(tmp_path)
    model = zoo_build(path, layer=layer, global_pool=global_pool)
    features, coords = bag()
    with torch.no_grad():
        states = reference(features, coords, global_pool=global_pool)
        got = model(features, coords, 256)
    expected = states[-1 if layer is None else layer]
    assert got.shape == (2, 32)
    assert got.dtype == torch.float32
    assert close(got, expected)


def test_gigapath_head_groups_padded_like_torchscale(tmp_path: Path) -> None:
    """12 heads in 8 or 16 dilation groups: torchscale pads the heads, some groups are empty."""
    reference, path = released_pair(tmp_path, heads=12, dim=48)
    model = zoo_build(path, embed_dim=48, num_heads=12)
    features, coords = bag(n=45)
    with torch.no_grad():
        assert close(model(features, coords, 256), reference(features, coords)[-1])


def test_gigapath_tile_size_is_patch_size_level0(tmp_path: Path) -> None:
    reference, path = released_pair(tmp_path)
    model = zoo_build(path)
    features, coords = bag()
    with torch.no_grad():
        at256 = model(features, coords, 256)
        at512 = model(features, coords * 2, 512)
        expected = reference(features, coords)[-1]
    assert close(at512, expected)
    assert close(at256, expected)


def test_gigapath_position_table_row_is_x_column_is_y() -> None:
    """The row of MAE's 1000 x 1000 table for the cell (x // tile, y // tile) = (3, 5)."""
    import numpy as np

    dim = 8
    omega = 1.0 / 10000 ** (np.arange(2) / 2.0)
    expected = np.concatenate(
        [np.sin(5 * omega), np.cos(5 * omega), np.sin(3 * omega), np.cos(3 * omega)]
    )
    got = sincos_2d(torch.tensor([[3, 5]]), dim)[0]
    torch.testing.assert_close(got, torch.from_numpy(expected))


def test_gigapath_released_configuration() -> None:
    model = gigapath_slide()
    assert model.encoder.layers[0].self_attn.segments == SEGMENT_LENGTHS
    assert SEGMENT_LENGTHS == (1024, 5792, 32768, 185363, 1048576)
    # the demo notebook prints 86330880 parameters for the slide encoder
    assert sum(p.numel() for p in model.parameters()) == 86_330_880
    assert "encoder.layers.11.self_attn.inner_attn_ln.weight" in model.state_dict()
    assert "encoder.layers.0.ffn.ffn_layernorm.bias" in model.state_dict()


def test_gigapath_refuses_a_slide_wider_than_its_grid() -> None:
    model = gigapath_slide(in_dim=12, embed_dim=32, depth=1, slide_ngrids=40)
    coords = torch.tensor([[[0.0, 0.0], [40 * 256.0, 0.0]]])
    with pytest.raises(TilesError, match="40 x 40 grid; this slide spans 41 tiles"):
        model(torch.ones(1, 2, 12), coords, 256)
    with pytest.raises(TilesError, match="give coords"):
        model(torch.ones(1, 2, 12), None, 256)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer": 13}, "layer must be 0"),
        ({"embed_dim": 30}, "multiple of num_heads"),
        ({"segment_lengths": (1, 2)}, "one dilation ratio per segment length"),
    ],
)
def test_gigapath_refuses_a_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gigapath_slide(**kwargs)
