"""eva's 8 radiology backbones, under eva's names, agree with eva's facts (tests/data/eva_radiology.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import zoo
from zoo.manifest import MonaiWrapper, VolumeInputSpec

FACTS = json.loads((Path(__file__).parents[1] / "data" / "eva_radiology.json").read_text())


def _entries() -> list[dict[str, Any]]:
    return list(FACTS["entries"])


def test_zoo_list_group_radiology_shows_evas_eight_names(run_cli: Any) -> None:
    code, out, _ = run_cli("list", "--group", "radiology", "--json")
    assert code == 0
    rows = json.loads(out)
    catalog = zoo.Catalog()
    listed = {row["name"] for row in rows} | {a for row in rows for a in row["aliases"]}
    assert {e["name"] for e in _entries()} <= listed
    assert len([n for n in listed if catalog.get(n).output.grid is not None]) >= 8


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e["name"])
def test_entry_agrees_with_eva(entry: dict[str, Any]) -> None:
    m = zoo.Catalog().get(entry["name"])
    wrapper = m.wrapper
    assert isinstance(wrapper, MonaiWrapper)
    assert isinstance(m.input, VolumeInputSpec)
    assert wrapper.network == entry["network"]
    assert wrapper.kwargs["in_channels"] == entry["in_channels"] == m.input.channels
    for key in ("feature_size", "use_v2", "init_filters", "blocks_down"):
        if key in entry:
            assert wrapper.kwargs[key] == entry[key], key
    assert m.output.feature_dim == entry["feature_dims"]
    assert m.output.grid is not None
    assert m.output.grid.strides == entry["strides"]
    assert m.output.embedding_dim == entry["embedding_dim"]
    if entry["url"] is None:
        assert m.checkpoint is None
        return
    assert m.checkpoint is not None
    assert m.checkpoint.url == entry["url"]
    assert m.checkpoint.sha256 is None  # nothing public states one: eva pins md5 only
    assert m.checkpoint.md5 == entry["md5"]  # checked on download, as eva does
    assert entry["md5"] in m.description
    assert m.license is not None
    assert m.paper is not None


def test_eva_config_facts_are_the_input_blocks() -> None:
    for entry in _entries():
        m = zoo.Catalog().get(entry["name"])
        assert isinstance(m.input, VolumeInputSpec)
        assert m.input.size == (96, 96, 96)
        assert m.input.spacing == (1.5, 1.5, 1.5)
        assert m.input.intensity is not None
        assert m.input.intensity.window == (-175.0, 250.0)
        assert m.input.intensity.range == (0.0, 1.0)


def test_remap_rules_mirror_evas_key_conversion() -> None:
    from zoo.loading.checkpoint import remap

    def keys(*names: str) -> dict[str, Any]:
        return dict.fromkeys(names, 0)

    cases = {
        "radiology/suprem_swin_unetr": (
            keys(
                "module.backbone.swinViT.patch_embed.proj.weight",
                "module.backbone.encoder10.layer.conv1.conv.weight",
                "module.backbone.decoder5.transp_conv.conv.weight",
                "module.precls_conv.0.weight",
            ),
            {"swinViT.patch_embed.proj.weight", "encoder10.layer.conv1.conv.weight"},
        ),
        "radiology/universal_swinunetr": (
            keys(
                "module.swinViT.layers1.0.downsample.norm.weight",
                "module.decoder1.x",
                "module.out.y",
            ),
            {"swinViT.layers1.0.downsample.norm.weight"},
        ),
        "radiology/suprem_segresnet": (
            keys(
                "module.convInit.conv.weight",
                "module.down_layers.3.1.conv1.conv.weight",
                "module.up_layers.0.x",
            ),
            {"convInit.conv.weight", "down_layers.3.1.conv1.conv.weight"},
        ),
    }
    for name, (state, want) in cases.items():
        ckpt = zoo.Catalog().get(name).checkpoint
        assert ckpt is not None
        assert ckpt.key == "net"
        assert set(remap(state, ckpt.remap)) == want, name
