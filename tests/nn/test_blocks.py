"""zoo's building blocks (zoo.nn): CTransPath's convolutional stem inside timm's Swin,
and CONCH's attention-pooled towers, each loaded strictly from a checkpoint in the authors' layout."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from torch import nn

from tests.loading.loading_kit import Kit
from zoo.nn import ConvStem, PooledTower, pooled_tower
from zoo.nn.pooled_tower import SplitPool

SWIN = {
    "embed_dim": 16,
    "depths": [2, 2, 2, 2],
    "num_heads": [1, 1, 1, 1],
    "img_size": 224,
    "embed_layer": {"$object": "zoo.nn.ConvStem"},
}


def _swin(**kwargs: Any) -> nn.Module:
    import timm

    args = {k: v for k, v in SWIN.items() if k != "embed_layer"}
    return timm.create_model(
        "swin_tiny_patch4_window7_224", embed_layer=ConvStem, num_classes=0, **args, **kwargs
    ).eval()


def test_conv_stem_is_a_4x_patch_embedding_with_the_authors_names() -> None:
    stem = ConvStem(img_size=32, embed_dim=16, output_fmt="NHWC", norm_layer=nn.LayerNorm)
    assert stem(torch.zeros(2, 3, 32, 32)).shape == (2, 8, 8, 16)
    assert ConvStem(img_size=32, embed_dim=16)(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 16)
    assert ConvStem(img_size=32, embed_dim=16, flatten=False)(torch.zeros(1, 3, 32, 32)).shape == (
        1,
        16,
        8,
        8,
    )
    names = [n for n, _ in stem.named_parameters()]
    assert names == [
        "proj.0.weight",
        "proj.1.weight",
        "proj.1.bias",
        "proj.3.weight",
        "proj.4.weight",
        "proj.4.bias",
        "proj.6.weight",
        "proj.6.bias",
        "norm.weight",
        "norm.bias",
    ]
    assert (stem.grid_size, stem.feat_ratio(), stem.dynamic_feat_size((30, 33))) == (
        (8, 8),
        4,
        (8, 9),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patch_size": 16}, "patch_size must be 4"),
        ({"embed_dim": 12}, "divisible by 8"),
        ({"output_fmt": "NDHWC"}, "output_fmt"),
    ],
)
def test_conv_stem_refuses_what_it_cannot_be(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConvStem(**kwargs)
    with pytest.raises(ValueError, match="differs from the model's size"):
        ConvStem(img_size=32, embed_dim=16)(torch.zeros(1, 3, 48, 48))


def _old_swin_layout(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """timm 0.5.4's Swin layout (CTransPath's checkpoint): a stage's downsample at its end, and the
    relative-position index and attention-mask buffers saved with the weights."""
    old = {
        re.sub(r"layers\.(\d+)\.downsample", lambda m: f"layers.{int(m[1]) - 1}.downsample", k): v
        for k, v in state.items()
    }
    for name, buf in model.named_buffers():
        if name.endswith("relative_position_index"):
            old[name] = buf.clone()
    old["layers.0.blocks.1.attn_mask"] = torch.zeros(64, 49, 49)
    return old


def test_ctranspath_layout_loads_strictly_through_the_entry(kit: Kit) -> None:
    torch.manual_seed(0)
    source = _swin()
    state = _old_swin_layout(source.state_dict(), source)
    assert "layers.0.downsample.reduction.weight" in state  # the old layout, as published
    kit.save(state, kit.folder / "ctranspath.safetensors")
    data = kit.manifest(
        {"type": "timm", "architecture": "swin_tiny_patch4_window7_224", "kwargs": SWIN},
        {
            "embedding_dim": 128,
            "pooling": "pooler",
            "feature_levels": 4,
            "feature_dim": [16, 32, 64, 128],
        },
        checkpoint={"path": "ctranspath.safetensors"},
        size=(224, 224),
    )
    model = kit.load(data)
    x = kit.image(size=(224, 224))
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))
        maps = kit.load(data, out_indices=4)(x)
    assert [tuple(m.shape[1:]) for m in maps] == [
        (16, 56, 56),
        (32, 28, 28),
        (64, 14, 14),
        (128, 7, 7),
    ]


# -- the pooled tower --------------------------------------------------------------------------------

TRUNK = {"embed_dim": 32, "depth": 2, "num_heads": 2, "img_size": 32, "patch_size": 8}


def _conch_v1_checkpoint(tower: PooledTower) -> dict[str, torch.Tensor]:
    """CONCH v1's pytorch_model.bin: the image tower under visual., its captioning pooler, the text
    tower, the logit scale."""
    state = {f"visual.{k}": v for k, v in tower.state_dict().items()}
    state["visual.attn_pool_caption.query"] = torch.zeros(4, 32)
    state["visual.ln_caption.weight"] = torch.ones(32)
    state["text.token_embedding.weight"] = torch.zeros(8, 16)
    state["logit_scale"] = torch.ones(())
    return state


def _tower_manifest(kit: Kit, pooling: str, layout: str, checkpoint: dict[str, Any]) -> Any:
    wrapper = {
        "type": "function",
        "path": "zoo.nn.pooled_tower",
        "arguments": {
            "architecture": "vit_tiny_patch16_224",
            "trunk": TRUNK,
            "dim": 24,
            "heads": 2,
            "layout": layout,
            "projection": layout == "multihead",
        },
    }
    output = {
        "embedding_dim": 24,
        "pooling": pooling,
        "prefix_tokens": 1,
        "patch_size": 8,
        "feature_levels": 2,
        "feature_dim": 32,
    }
    return kit.manifest(wrapper, output, checkpoint=checkpoint)


def test_conch_v1_layout_loads_and_gives_pooled_and_projected(kit: Kit) -> None:
    torch.manual_seed(0)
    source = pooled_tower("vit_tiny_patch16_224", TRUNK, dim=24, heads=2, projection=True).eval()
    kit.save(_conch_v1_checkpoint(source), kit.folder / "conch.bin")
    checkpoint = {
        "path": "conch.bin",
        "key": "visual",
        "remap": {"drop": ["attn_pool_caption.*", "ln_caption.*"]},
    }
    x = kit.image()
    with torch.no_grad():
        pooled = kit.load(_tower_manifest(kit, "pooler", "multihead", checkpoint))(x)
        projected = kit.load(_tower_manifest(kit, "projection", "multihead", checkpoint))(x)
        maps = kit.load(_tower_manifest(kit, "pooler", "multihead", checkpoint), out_indices=1)(x)
        # the pooler by hand: one learned query attending over the normalized final tokens
        tokens = source.trunk.forward_features(x)
        pool = source.attn_pool_contrast
        keys = pool.ln_k(tokens)
        query = pool.ln_q(pool.query)[None].expand(2, -1, -1)
        attn = pool.attn
        want = attn(query.transpose(0, 1), keys.transpose(0, 1), keys.transpose(0, 1))[0]
        want = source.ln_contrast(want.transpose(0, 1)[:, 0])
    torch.testing.assert_close(pooled, want)
    torch.testing.assert_close(projected, want @ source.proj_contrast)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4)]


def test_split_pool_is_scaled_dot_product_attention_of_one_query() -> None:
    torch.manual_seed(0)
    pool = SplitPool(dim=16, context_dim=32, heads=2, queries=1)
    x = torch.randn(3, 5, 32)
    q = pool.to_q(pool.ln_q(pool.query))[None].expand(3, -1, -1)
    k, v = pool.to_kv(pool.ln_k(x)).chunk(2, dim=-1)

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], t.shape[1], 2, 8).transpose(1, 2)

    out = torch.nn.functional.scaled_dot_product_attention(heads(q), heads(k), heads(v))
    want = pool.to_out(out.transpose(1, 2).reshape(3, 1, 16))
    torch.testing.assert_close(pool(x), want)


def test_conch_v15_layout_has_no_projection(kit: Kit) -> None:
    torch.manual_seed(0)
    source = pooled_tower("vit_tiny_patch16_224", TRUNK, dim=24, heads=2, layout="split").eval()
    kit.save(source.state_dict(), kit.folder / "pytorch_model_vision.bin")
    checkpoint = {"path": "pytorch_model_vision.bin"}
    x = kit.image()
    with torch.no_grad():
        got = kit.load(_tower_manifest(kit, "pooler", "split", checkpoint))(x)
    torch.testing.assert_close(got, source(x))
    model = kit.load(_tower_manifest(kit, "projection", "split", checkpoint), meta=True)
    with pytest.raises(Exception, match="projected image embedding"):
        model(torch.zeros(1, 3, 32, 32, device="meta"))
    with pytest.raises(ValueError, match="layout must be"):
        pooled_tower("vit_tiny_patch16_224", TRUNK, dim=24, layout="other")  # type: ignore[arg-type]


def test_chief_ctranspath_checkpoint_loads_strictly_through_the_entry(kit: Kit) -> None:
    """CHIEF_CTransPath.pth: the same timm 0.5.4 layout, pickled under ``model`` (CHIEF's README
    loads ``td['model']`` strictly; TRIDENT with ``weights_only=True``); the entry's checkpoint
    block (format and key) is used unchanged but for the file's location."""
    import zoo

    torch.manual_seed(1)
    source = _swin()
    state = _old_swin_layout(source.state_dict(), source)
    torch.save({"model": state}, kit.folder / "CHIEF_CTransPath.pth")
    ckpt = zoo.Catalog().get("pathology/chief_ctranspath").checkpoint
    assert ckpt is not None
    block = ckpt.model_dump(mode="json", exclude={"url", "sha256", "hf", "timm", "path"})
    data = kit.manifest(
        {"type": "timm", "architecture": "swin_tiny_patch4_window7_224", "kwargs": SWIN},
        {
            "embedding_dim": 128,
            "pooling": "pooler",
            "feature_levels": 4,
            "feature_dim": [16, 32, 64, 128],
        },
        checkpoint={"path": "CHIEF_CTransPath.pth", **block},
        size=(224, 224),
    )
    model = kit.load(data)
    x = kit.image(size=(224, 224))
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))


def test_dino_positions_resize_the_table_by_dinos_scale_factor() -> None:
    trunk = {**TRUNK, "dynamic_img_size": True}
    torch.manual_seed(0)
    dino = pooled_tower("vit_tiny_patch16_224", trunk, dim=24, heads=2, positions="dino").eval()
    timm_way = pooled_tower("vit_tiny_patch16_224", trunk, dim=24, heads=2).eval()
    timm_way.load_state_dict(dino.state_dict())
    vit = dino.trunk
    side = vit.patch_embed.grid_size[0]
    same, larger = torch.randn(1, 3, 8 * side, 8 * side), torch.randn(1, 3, 8 * 7, 8 * 5)
    with torch.no_grad():
        # at the table's own size both use it as it is
        torch.testing.assert_close(dino(same), timm_way(same), rtol=0, atol=0)
        # DINO's interpolate_pos_encoding by hand: bicubic, scale (grid + 0.1) / side
        grid = vit.pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = torch.nn.functional.interpolate(
            grid, scale_factor=(7.1 / side, 5.1 / side), mode="bicubic"
        )
        table = torch.cat((vit.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, 35, -1)), 1)
        patches = vit.patch_embed(larger).reshape(1, 35, -1)
        want = torch.cat((vit.cls_token, patches), 1) + table
        torch.testing.assert_close(vit._pos_embed(vit.patch_embed(larger)), want)
        assert (dino(larger) - timm_way(larger)).abs().max() > 1e-6  # not timm's resize


@pytest.mark.parametrize(
    ("trunk", "positions", "match"),
    [
        ({**TRUNK, "dynamic_img_size": True}, "bicubic", "positions must be timm or dino"),
        ({**TRUNK, "dynamic_img_size": False}, "dino", "needs a trunk with dynamic_img_size"),
    ],
)
def test_dino_positions_refuse_what_they_cannot_honour(
    trunk: dict[str, Any], positions: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        pooled_tower("vit_tiny_patch16_224", trunk, dim=24, positions=positions)  # type: ignore[arg-type]
