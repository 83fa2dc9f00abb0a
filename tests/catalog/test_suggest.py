"""Ranking close names: a table of typed names and the match that must come first."""

from __future__ import annotations

import pytest

from zoo.catalog.suggest import rank, score
from zoo.catalog.timm import registry as timm_registry
from zoo.errors import ModelNotFoundError, TagNotFoundError

#: timm names (resolving, suggesting, listing) read zoo's index of timm's registry.
pytestmark = pytest.mark.usefixtures("with_timm_index")

#: A fixed set of names, so the table does not move with timm's registry.
NAMES = [
    "timm/convit_small",
    "timm/crossvit_small_240",
    "timm/davit_small",
    "timm/deit_small_patch16_224",
    "timm/deit_small_distilled_patch16_224",
    "timm/vit_small_patch16_224",
    "timm/vit_small_patch16_384",
    "timm/vit_small_patch8_224",
    "timm/vit_small_patch14_dinov2",
    "timm/vit_base_patch16_224",
    "timm/vit_base_patch16_384",
    "timm/resnet18",
    "timm/resnet50",
    "timm/resnet50d",
    "timm/resnet101",
    "timm/convnext_tiny",
    "timm/convnextv2_tiny",
    "timm/swin_tiny_patch4_window7_224",
    "timm/swin_s3_tiny_224",
    "timm/eva02_small_patch14_336",
    "timm/eva02_small_patch14_224",
    "timm/eva_giant_patch14_336",
    "pathology/kaiko_vits16",
    "pathology/kaiko_vitb16",
    "pathology/mahmood_uni",
    "pathology/mahmood_uni2_h",
    "universal/vit_small_patch16_224_random",
]


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("timm/vit_smal_patch16_224", "timm/vit_small_patch16_224"),  # the case
        ("timm/ViT_Small_Patch16_224", "timm/vit_small_patch16_224"),  # case
        ("timm/vit_small_patch16_244", "timm/vit_small_patch16_224"),  # digits swapped
        ("timm/vit_base_patch16_244", "timm/vit_base_patch16_224"),
        ("timm/resnet5", "timm/resnet50"),  # unfinished
        ("timm/resnet_50", "timm/resnet50"),
        ("timm/convnxt_tiny", "timm/convnext_tiny"),  # letter missing
        ("timm/eva2_small_patch14_336", "timm/eva02_small_patch14_336"),
        ("timm/swin_tiny", "timm/swin_tiny_patch4_window7_224"),  # the start of a long name
        ("timm/deit_small", "timm/deit_small_patch16_224"),
        ("pathology/mahmod_uni", "pathology/mahmood_uni"),
        ("mahmood_uni", "pathology/mahmood_uni"),  # group left out
        ("wrong/kaiko_vits16", "pathology/kaiko_vits16"),  # wrong group
        ("universal/vit_small_patch16_224_randm", "universal/vit_small_patch16_224_random"),
    ],
)
def test_obvious_match_ranks_first(typed: str, first: str) -> None:
    assert rank(typed, NAMES)[0] == first


@pytest.mark.parametrize("typed", ["timm/zzzz_qqqq", "x", "pathology/something_else_entirely"])
def test_unrelated_names_are_not_suggested(typed: str) -> None:
    assert rank(typed, NAMES) == []


def test_limit_and_order_are_stable() -> None:
    assert len(rank("timm/vit_small", NAMES, limit=2)) == 2
    assert rank("timm/vit_small", NAMES) == rank("timm/vit_small", list(reversed(NAMES)))
    assert score("timm/vit_smal", "timm/vit_small") > score("timm/vit_smal", "timm/convit_small")


# -- against the installed timm's registry (through the index) --------------------------------------


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("timm/vit_smal_patch16_224", "timm/vit_small_patch16_224"),
        ("timm/resnet5", "timm/resnet50"),
        ("timm/convnxt_tiny", "timm/convnext_tiny"),
        ("timm/vit_smal_patch16_224.dino", "timm/vit_small_patch16_224.dino"),  # keeps the tag
    ],
)
def test_unknown_timm_name_suggests_the_obvious_one(typed: str, first: str) -> None:
    pytest.importorskip("timm")
    with pytest.raises(ModelNotFoundError) as info:
        timm_registry.check(typed)
    assert info.value.suggestions[0] == first
    assert f"Did you mean '{first}'" in str(info.value)


def test_unknown_tag_lists_the_architectures_tags_and_names_the_closest() -> None:
    timm = pytest.importorskip("timm")
    with pytest.raises(TagNotFoundError) as info:
        timm_registry.check("timm/vit_small_patch16_224.dinoo")
    error = info.value
    assert isinstance(error, ModelNotFoundError)
    assert isinstance(error, LookupError)
    assert (error.arch, error.tag, error.closest) == ("vit_small_patch16_224", "dinoo", "dino")
    tags = [n.partition(".")[2] for n in timm.list_pretrained("vit_small_patch16_224.*")]
    assert error.tags == tags  # the tags with weights, in timm's order
    assert error.suggestions == [f"timm/vit_small_patch16_224.{t}" for t in tags]
    assert f"its tags are: {', '.join(tags)}" in str(error)
    assert str(error).endswith("Did you mean 'timm/vit_small_patch16_224.dino'?")
