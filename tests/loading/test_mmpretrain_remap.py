"""mmpretrain's EVA checkpoints load into timm architectures through the entries' declarative remap.

The data in tests/data/mmpretrain was made with mmpretrain 1.2.0's own model code
(make_mmpretrain_data.py there): the key list (names and shapes) of every model in the seed's
tables, and tiny models of the same structures with mmpretrain's outputs for a fixed input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import zoo
from tests.loading.loading_kit import Kit
from zoo import load_manifest
from zoo.errors import CheckpointMismatchError
from zoo.loading.checkpoint import check_keys, remap
from zoo.loading.wrappers.timm import timm_filters
from zoo.manifest import Remap, TimmWrapper

DATA = Path(__file__).resolve().parents[1] / "data" / "mmpretrain"
NAMES = sorted(p.name.removesuffix(".keys.json") for p in DATA.glob("*.keys.json"))


def _state(name: str) -> dict[str, torch.Tensor]:
    keys = json.loads((DATA / f"{name}.keys.json").read_text(encoding="utf-8"))["keys"]
    return {k: torch.empty(shape, device="meta") for k, shape in keys.items()}


def test_the_seed_tables_are_all_here() -> None:
    assert len(NAMES) == 8  # the seed's pretrained table (6) and the MAE-style ViT-B benchmarks (2)
    for name in NAMES:
        m = zoo.Catalog().get(name)  # each resolves bare, as mmpretrain users type it
        assert m.name == f"universal/{name}"


@pytest.mark.parametrize("name", NAMES)
def test_mmpretrains_key_layout_loads_strictly_into_the_timm_architecture(name: str) -> None:
    m = zoo.Catalog().get(f"universal/{name}")
    assert m.checkpoint is not None
    model = load_manifest(m, meta=True).backbone
    state = remap(_state(name), m.checkpoint.remap)
    for fn in timm_filters(model):
        state = fn(state)
    check_keys(model, state, source=name, strict=True)  # every key, every shape


def test_a_wrong_rule_is_caught_by_the_same_check() -> None:
    name = "beit-l-p14_3rdparty-eva_in21k"
    m = zoo.Catalog().get(f"universal/{name}")
    assert m.checkpoint is not None
    model = load_manifest(m, meta=True).backbone
    rename = {k: v for k, v in m.checkpoint.remap.rename.items() if "ffn" not in k}
    rules = m.checkpoint.remap.model_copy(update={"rename": rename})
    with pytest.raises(CheckpointMismatchError, match=r"mlp\.fc1"):
        check_keys(model, remap(_state(name), rules), source=name, strict=True)


#: tiny model -> (the catalogue entry whose rules it follows, timm kwargs of the same structure)
TINY: dict[str, tuple[str, dict[str, Any]]] = {
    "beit_l_style": (
        "universal/beit-l-p14_3rdparty-eva_in21k",
        {"embed_dim": 32, "depth": 2, "num_heads": 2, "img_size": 28},
    ),
    "beit_g_style": (
        "universal/beit-g-p14_3rdparty-eva_30m",
        {"embed_dim": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 4.0, "img_size": 28},
    ),
    "vit_cls_style": (
        "universal/eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k",
        {"embed_dim": 32, "depth": 2, "num_heads": 2, "img_size": 32},
    ),
}


@pytest.mark.parametrize("tiny", sorted(TINY))
def test_the_rules_give_mmpretrains_own_output(kit: Kit, tiny: str) -> None:
    from safetensors.torch import load_file

    entry, kwargs = TINY[tiny]
    real = zoo.Catalog().get(entry)
    assert real.checkpoint is not None
    assert isinstance(real.wrapper, TimmWrapper)
    source = DATA / f"tiny_{tiny}.safetensors"
    (kit.folder / source.name).write_bytes(source.read_bytes())
    io = load_file(str(DATA / f"tiny_{tiny}.io.safetensors"))
    size = kwargs["img_size"]
    data = kit.manifest(
        {"type": "timm", "architecture": real.wrapper.architecture, "kwargs": kwargs},
        {
            "embedding_dim": 32,
            "pooling": real.output.pooling,
            "prefix_tokens": 1,
            "patch_size": real.output.patch_size,
            "feature_levels": 2,
            "feature_dim": 32,
        },
        checkpoint={"path": source.name, "remap": real.checkpoint.remap.model_dump()},
        size=(size, size),
    )
    model = kit.load(data)
    with torch.no_grad():
        got = model(io["input"])
    torch.testing.assert_close(got, io["output"], rtol=1e-5, atol=1e-5)


def test_remap_rules_in_the_entries_are_one_set() -> None:
    rules = {
        json.dumps(m.checkpoint.remap.model_dump(), sort_keys=True)
        for m in zoo.Catalog().list("universal/*")
        if m.checkpoint is not None and "mmpretrain" in m.tags
    }
    assert len(rules) == 1  # one layout, one set of rules
    assert Remap.model_validate(json.loads(rules.pop())).strip_prefix == ["backbone."]
