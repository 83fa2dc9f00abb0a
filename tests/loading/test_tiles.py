"""Slide encoders loaded: ``model(features, coords, patch_size_level0) -> [B, E]`` and its errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from tests.loading.loading_kit import Kit
from tests.manifest.test_tiles_manifest import slide_data
from zoo.errors import CheckpointMismatchError, TilesError, UsageError
from zoo.loading.check import check_build
from zoo.loading.tiles import TilesModel
from zoo.manifest import Manifest


def _manifest(**input_changes: Any) -> Manifest:
    data = slide_data()
    data["input"].update(input_changes)
    return Manifest.model_validate(data)


def _bag(batch: int = 2, tiles: int = 7, dim: int = 384) -> torch.Tensor:
    return torch.randn(batch, tiles, dim, generator=torch.Generator().manual_seed(0))


def test_a_slide_encoder_returns_one_embedding_per_bag() -> None:
    import zoo

    model = zoo.load(_manifest(), pretrained=False)
    assert isinstance(model, TilesModel)
    out = model(_bag())
    assert out.shape == (2, 384)
    assert model.num_features == 384
    assert model.pretrained_cfg["input_size"] == (384,)
    coords = torch.zeros(2, 7, 2)
    torch.testing.assert_close(model(_bag(), coords=coords, patch_size_level0=512), out)


@pytest.mark.parametrize(
    ("features", "coords", "size", "says"),
    [
        (
            _bag(dim=1024),
            None,
            None,
            "tile features are 1024-d, but it takes 384-d tile features "
            "of testing/tiny_vit (224 px tiles at 0.5 mpp)",
        ),
        (_bag()[0], None, None, "one slide: features[None]"),
        (_bag().long(), None, None, "floating tensor"),
        ([[1.0]], None, None, "floating tensor"),
        (_bag(tiles=0), None, None, "no tiles"),
        (_bag(), torch.zeros(2, 7, 3), None, "[2, 7, 2]"),
        (_bag(), torch.zeros(2, 6, 2), None, "[2, 7, 2]"),
        (_bag(), [[0, 0]], None, "coords must be a tensor"),
        (_bag(), None, 0, "positive int"),
        (_bag(), None, 2.5, "positive int"),
        (_bag(), None, True, "positive int"),
    ],
)
def test_a_bag_it_cannot_take_is_one_clear_error(
    features: Any, coords: Any, size: Any, says: str
) -> None:
    import zoo

    model = zoo.load(_manifest(), pretrained=False)
    with pytest.raises(TilesError) as info:
        model(features, coords=coords, patch_size_level0=size)
    assert says in str(info.value)
    assert str(info.value).startswith("testing/tiny_abmil: ")
    assert "384-d" in info.value.expected


def test_an_encoder_that_reads_coordinates_refuses_a_bag_without_them() -> None:
    import zoo

    model = zoo.load(_manifest(coords="required"), pretrained=False)
    with pytest.raises(TilesError, match=r"pass coords \[B, N, 2\]"):
        model(_bag())
    assert model(_bag(), coords=torch.zeros(2, 7, 2), patch_size_level0=224).shape == (2, 384)


def test_a_slide_encoder_has_no_preprocessing_feature_maps_or_image_overrides() -> None:
    import zoo
    from zoo.loading.preprocess import transforms

    m = _manifest()
    model = zoo.load(m, pretrained=False)
    with pytest.raises(UsageError, match=r"takes tile features, not images.*testing/tiny_vit"):
        _ = model.preprocess
    with pytest.raises(UsageError, match="takes tile features, not images"):
        transforms(m)
    with pytest.raises(UsageError, match="no feature maps"):
        model.features(_bag(), [0])
    with pytest.raises(UsageError, match="img_size apply to images"):
        zoo.load(m, pretrained=False, img_size=448)
    with pytest.raises(UsageError, match="declares no feature levels"):
        zoo.load(m, pretrained=False, out_indices=1)
    # a builder argument is an override like any function wrapper's
    assert zoo.load(m, pretrained=False, heads=2).backbone.image_pooler.heads == 2


def test_the_build_check_runs_a_random_bag_on_meta() -> None:
    result = check_build(_manifest())
    assert result.ok, result.problems
    assert result.device == "meta"
    assert result.embedding_shape == [1, 384]


def test_the_build_check_finds_a_wrong_embedding_dim() -> None:
    data = slide_data()
    data["output"]["embedding_dim"] = 512
    result = check_build(Manifest.model_validate(data))
    assert not result.ok
    assert [p.path for p in result.problems] == ["output.embedding_dim"]
    assert "declared 512" in result.problems[0].message


def test_a_checkpoint_loads_strictly(kit: Kit) -> None:
    from zoo.nn.slide import abmil

    torch.manual_seed(3)
    source = abmil(384, head_dim=32).eval()
    path = kit.save(source.state_dict(), kit.tmp / "abmil.safetensors")
    data = slide_data(checkpoint={"path": str(path)})
    model = kit.load(data)
    bag = _bag()
    with torch.no_grad():
        torch.testing.assert_close(model(bag), source(bag), rtol=0, atol=0)
    state = dict(source.state_dict())
    state.pop("image_pooler.branching_layers.0.weight")
    broken = kit.save(state, kit.tmp / "broken.safetensors")
    with pytest.raises(CheckpointMismatchError, match=r"branching_layers\.0\.weight"):
        kit.load(slide_data(checkpoint={"path": str(broken)}))
    assert copy.deepcopy(data)["checkpoint"]["path"] == str(path)
