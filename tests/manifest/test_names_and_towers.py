"""Manifest rules added for issue 13: aliases (namespaced or bare), the open_clip wrapper's inline
config, the projection pooling."""

from __future__ import annotations

from typing import Any

import pytest

from tests.offline_kit import manifest
from zoo.manifest import Manifest


def _with(**extra: Any) -> dict[str, Any]:
    return manifest("testing/x", **extra)


@pytest.mark.parametrize(
    "alias", ["trident/uni_v1", "lazyslide/conch_v1.5", "beit-l-p14_eva-pre_3rdparty_in1k-196px"]
)
def test_aliases_may_be_namespaced_or_bare(alias: str) -> None:
    assert Manifest.model_validate(_with(aliases=[alias])).aliases == [alias]


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        (["a/b/c"], "should match pattern"),
        (["Trident/UNI"], "should match pattern"),
        (["model.yaml"], "manifest file or a timm name"),
        (["timm/vit_small_patch16_224"], "manifest file or a timm name"),
        (["x", "x"], "twice"),
        (["testing/x"], "entry's own name"),
    ],
)
def test_aliases_that_could_be_misread_are_refused(aliases: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Manifest.model_validate(_with(aliases=aliases))


def _open_clip(config: dict[str, Any], pooling: str = "projection") -> dict[str, Any]:
    data = _with()
    data["wrapper"] = {"type": "open_clip", "config": config}
    data["output"] = {"embedding_dim": 512, "pooling": pooling}
    return data


def test_open_clip_config_needs_the_image_tower() -> None:
    good = {"embed_dim": 512, "vision_cfg": {"width": 768, "layers": 12, "patch_size": 32}}
    assert Manifest.model_validate(_open_clip(good)).wrapper.type == "open_clip"
    for config, message in [
        ({"vision_cfg": {}}, "needs embed_dim"),
        ({"embed_dim": 512}, "needs vision_cfg"),
        ({"embed_dim": 512, "vision_cfg": 3}, "must be a mapping"),
        ({"embed_dim": 0, "vision_cfg": {}}, "positive integer"),
        ({}, "at least 1 item"),
    ]:
        with pytest.raises(ValueError, match=message):
            Manifest.model_validate(_open_clip(config))


def test_open_clip_checkpoint_is_one_file() -> None:
    data = _open_clip({"embed_dim": 512, "vision_cfg": {}})
    data["checkpoint"] = {"hf": {"repo": "o/r", "revision": "a" * 40}}
    with pytest.raises(ValueError, match=r"set checkpoint\.hf\.filename"):
        Manifest.model_validate(data)
