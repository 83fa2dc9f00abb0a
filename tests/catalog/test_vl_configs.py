"""The vision-language entries' inline architectures, field by field, against the configurations
their models were trained from: transformers' CLIP defaults (openai/clip-vit-base-patch32, which
PLIP and PubMedCLIP fine-tuned) and open_clip's bundled model configs (QuiltNet's ViT-B-32 and ViT-B-16, PathGen-CLIP's ViT-B-16)."""

from __future__ import annotations

import pytest

import zoo
from zoo.manifest import OpenClipWrapper, TransformersWrapper


@pytest.mark.parametrize("name", ["pathology/stanford_plip", "radiology/pubmedclip_vit_b32"])
def test_plip_is_clips_vit_b32_with_its_projection(name: str) -> None:
    transformers = pytest.importorskip("transformers")
    wrapper = zoo.Catalog().get(name).wrapper
    assert isinstance(wrapper, TransformersWrapper)
    # transformers documents its CLIPVisionConfig defaults as openai/clip-vit-base-patch32's.
    defaults = transformers.CLIPVisionConfig()
    fields = {k: v for k, v in wrapper.config.items() if k not in ("model_type", "projection_dim")}
    assert fields == {k: getattr(defaults, k) for k in fields}
    assert wrapper.config["projection_dim"] == transformers.CLIPConfig().projection_dim
    assert wrapper.config["model_type"] == defaults.model_type


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("pathology/uw_quiltnet_b32", "ViT-B-32"),
        ("pathology/uw_quiltnet_b16", "ViT-B-16"),
        ("pathology/pathfoundation_pathgen_clip", "ViT-B-16"),  # the authors' README names it
    ],
)
def test_quiltnet_is_open_clips_own_config(name: str, config: str) -> None:
    open_clip = pytest.importorskip("open_clip")
    wrapper = zoo.Catalog().get(name).wrapper
    assert isinstance(wrapper, OpenClipWrapper)
    bundled = open_clip.get_model_config(config)
    assert wrapper.config == {k: bundled[k] for k in ("embed_dim", "vision_cfg", "text_cfg")}
    assert set(bundled) <= {"embed_dim", "vision_cfg", "text_cfg"}  # nothing else to carry


def test_unprojected_twins_share_architecture_and_weights() -> None:
    catalog = zoo.Catalog()
    twins = [m for m in catalog if m.name.endswith("_unprojected")]
    assert len(twins) == 8
    for twin in twins:
        base = catalog.get(twin.name.removesuffix("_unprojected"))
        assert twin.same_weights_as == base.name
        assert (twin.wrapper, twin.checkpoint, twin.input) == (
            base.wrapper,
            base.checkpoint,
            base.input,
        )
        assert (base.output.pooling, twin.output.pooling) == ("projection", "pooler")
