"""The 2-D medical and CT-FM entries against the public configurations they come from, field by
field: the Hub configs copied into tests/data/hub_configs/ (each with a SOURCE.txt), and for
architectures whose config could not be read, the library configurations they were trained from
(SigLIP-400M for MedSigLIP, dinov2-base for RAD-DINO)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

import zoo
from zoo.manifest import MonaiWrapper, OpenClipWrapper, TransformersWrapper, VolumeInputSpec

HUB = Path(__file__).resolve().parents[1] / "data" / "hub_configs"
BIOMEDCLIP = HUB / "microsoft" / "BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
CT_FM = HUB / "project-lighter" / "ct_fm_feature_extractor"


@pytest.mark.parametrize("folder", [BIOMEDCLIP, CT_FM])
def test_every_copied_config_says_where_it_comes_from(folder: Path) -> None:
    source = (folder / "SOURCE.txt").read_text()
    assert "huggingface.co/" in source
    assert len([w for w in source.split() if len(w.strip(".,:()")) == 40]) >= 1  # a full commit


def test_biomedclip_config_is_the_copy_a_public_project_records() -> None:
    raw = (BIOMEDCLIP / "open_clip_config.json").read_bytes()
    # the sha256 a public project using revision 9f341de2... records for its copy of the config
    assert hashlib.sha256(raw).hexdigest() == (
        "9a41f334a8c444678772c0ebb9ab854c97ab350bced3a17b803e258d39c23dc0"
    )


@pytest.mark.parametrize(
    "name", ["medical/microsoft_biomedclip", "medical/microsoft_biomedclip_unprojected"]
)
def test_biomedclip_entries_follow_the_hub_config(name: str) -> None:
    hub = json.loads((BIOMEDCLIP / "open_clip_config.json").read_text())
    m = zoo.Catalog().get(name)
    assert isinstance(m.wrapper, OpenClipWrapper)
    assert m.wrapper.config == hub["model_cfg"]
    vision = hub["model_cfg"]["vision_cfg"]
    assert list(m.input.size) == [vision["image_size"]] * 2
    assert m.input.mean == hub["preprocess_cfg"]["mean"]
    assert m.input.std == hub["preprocess_cfg"]["std"]
    assert m.checkpoint is not None
    assert m.checkpoint.hf is not None
    assert m.checkpoint.hf.revision in (BIOMEDCLIP / "SOURCE.txt").read_text()
    assert m.checkpoint.sha256 is not None
    assert m.checkpoint.sha256 in (BIOMEDCLIP / "SOURCE.txt").read_text()
    if m.output.pooling == "projection":
        assert m.output.embedding_dim == hub["model_cfg"]["embed_dim"]


def test_biomedclip_trunk_is_timms_vit_base_patch16() -> None:
    timm = pytest.importorskip("timm")
    import torch

    m = zoo.Catalog().get("medical/microsoft_biomedclip")
    with torch.device("meta"):
        trunk = timm.create_model(m.wrapper.config["vision_cfg"]["timm_model_name"])
    assert (m.output.feature_dim, m.output.feature_levels) == (trunk.embed_dim, len(trunk.blocks))
    assert m.output.patch_size == trunk.patch_embed.patch_size[0]
    assert m.output.prefix_tokens == trunk.num_prefix_tokens


def test_ct_fm_network_is_the_hub_config_and_the_pretraining_backbone() -> None:
    hub = json.loads((CT_FM / "config.json").read_text())
    assert len((CT_FM / "config.json").read_bytes()) == 123  # the size the Hub page states
    pretraining = yaml.safe_load((CT_FM / "segresenc.yaml").read_text())
    backbone = pretraining["system#model#backbone"]
    assert backbone["_target_"] == "monai.networks.nets.segresnet_ds.SegResEncoder"
    m = zoo.Catalog().get("radiology/ct_fm")
    assert isinstance(m.wrapper, MonaiWrapper)
    assert m.wrapper.network == "SegResEncoder"
    assert m.wrapper.kwargs == hub
    assert {k: backbone[k] for k in hub} == hub


def test_ct_fm_input_and_embedding_are_the_pretraining_ones() -> None:
    facts = json.loads((CT_FM / "pretraining.json").read_text())
    m = zoo.Catalog().get("radiology/ct_fm")
    spec = m.input
    assert isinstance(spec, VolumeInputSpec)
    assert spec.orientation == facts["orientation"]
    assert list(spec.spacing or ()) == facts["spacing"]
    assert spec.intensity is not None
    assert list(spec.intensity.window) == facts["window"]
    assert list(spec.intensity.range) == facts["range"]
    assert spec.intensity.clip is facts["clip"]
    # the pretraining patch in voxels: ceil((mm // spacing) / 16) * 16 per axis
    multiple = facts["patch_size_voxels_multiple"]
    voxels = [
        -(-(mm // s) // multiple) * multiple
        for mm, s in zip(facts["patch_size_mm"], facts["spacing"], strict=True)
    ]
    assert list(spec.size) == voxels
    assert m.output.grid is not None
    assert m.output.grid.multiple == multiple
    assert (m.output.embedding_dim, m.output.grid.pool) == (facts["embedding_dim"], [-1])


def test_medsiglip_tower_is_siglip_400m() -> None:
    timm = pytest.importorskip("timm")
    import torch

    # SigLIP-400M (So400m/14), the encoder MedSigLIP was tuned from (the MedGemma report)
    with torch.device("meta"):
        so400m = timm.create_model("vit_so400m_patch14_siglip_224")
    m = zoo.Catalog().get("medical/google_medsiglip_448")
    assert isinstance(m.wrapper, TransformersWrapper)
    c = m.wrapper.config
    assert c["hidden_size"] == so400m.embed_dim
    assert c["num_hidden_layers"] == len(so400m.blocks)
    assert c["num_attention_heads"] == so400m.blocks[0].attn.num_heads
    assert c["intermediate_size"] == so400m.blocks[0].mlp.fc1.out_features
    assert c["patch_size"] == so400m.patch_embed.patch_size[0]
    assert c["image_size"] == m.input.size[0] == 448  # the model card's resolution
    assert m.output.embedding_dim == so400m.embed_dim  # the attention pool keeps the width


def test_rad_dino_is_dinov2_base_at_518() -> None:
    transformers = pytest.importorskip("transformers")
    m = zoo.Catalog().get("radiology/microsoft_rad_dino")
    assert isinstance(m.wrapper, TransformersWrapper)
    defaults = transformers.Dinov2Config()  # transformers documents them as dinov2-base's
    fields = {k: v for k, v in m.wrapper.config.items() if k not in ("model_type", "image_size")}
    assert fields == {k: getattr(defaults, k) for k in fields}
    size = m.wrapper.config["image_size"]
    assert list(m.input.size) == [size, size] == [518, 518]  # the processor's crop
    assert size % m.wrapper.config["patch_size"] == 0  # a 37 x 37 grid
