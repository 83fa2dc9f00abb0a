"""zoo.nn.channel_split: a one-channel trunk on every channel of an image, and
GenBio-PathFM's checkpoint, in the authors' key layout, loaded through the catalogue entry.

The GenBio-PathFM test writes a small state dict named as the authors' VisionTransformer names
its weights (tests/data/pathology_sources/genbio_pathfm.json lists the keys, from their
model.py), loads it with the entry's own wrapper arguments (the trunk shrunk) and ``checkpoint``
block, and compares the result with an independent reference written here from the published
facts: per-channel encoding, the 2-D rotary embedding, LayerScale, the SwiGLU FFN, and the
concatenation of class tokens and of patch tokens.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import zoo
from tests.loading.loading_kit import Kit
from zoo.nn import ChannelSplit, channel_split

timm = pytest.importorskip("timm")

FACTS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data/pathology_sources/genbio_pathfm.json").read_text()
)
ENTRY = "pathology/genbio_pathfm"
TINY = {"embed_dim": 64, "depth": 2, "num_heads": 2, "patch_size": 8, "img_size": 32}
VIT = {"embed_dim": 16, "depth": 2, "num_heads": 2, "patch_size": 8, "img_size": 32}


def _split(**kwargs: Any) -> ChannelSplit:
    torch.manual_seed(0)
    return channel_split("vit_tiny_patch16_224", {**VIT, **kwargs}).eval()


def test_tokens_and_maps_are_the_channels_side_by_side() -> None:
    model = _split()
    x = torch.randn(2, 3, 32, 32)
    planes = [x[:, c : c + 1] for c in range(3)]
    with torch.no_grad():
        tokens = model.forward_features(x)
        per = [model.trunk.forward_features(p) for p in planes]
        torch.testing.assert_close(tokens, torch.cat(per, dim=-1))
        torch.testing.assert_close(model(x), torch.cat([t[:, 0] for t in per], dim=-1))
        maps = model.forward_intermediates(x, indices=[0], intermediates_only=True)
        want = [
            model.trunk.forward_intermediates(p, indices=[0], intermediates_only=True)[0]
            for p in planes
        ]
        torch.testing.assert_close(maps[0], torch.cat(want, dim=1))
        final, nlc = model.forward_intermediates(x, indices=1, output_fmt="NLC")
    torch.testing.assert_close(final, tokens)
    assert nlc[0].shape == (2, 16, 48)
    assert (model.embed_dim, model.num_features, model.num_prefix_tokens) == (48, 48, 1)
    assert (len(model.blocks), model.patch_embed.patch_size) == (2, (8, 8))


def test_channel_split_refuses_what_it_cannot_split() -> None:
    with pytest.raises(ValueError, match="one-channel trunk"):
        ChannelSplit(timm.create_model("vit_tiny_patch16_224", num_classes=0, **VIT))
    with pytest.raises(ValueError, match="at least one channel"):
        ChannelSplit(_split().trunk, channels=0)
    with pytest.raises(ValueError, match="leave in_chans out"):
        channel_split("vit_tiny_patch16_224", {**VIT, "in_chans": 3})
    with pytest.raises(ValueError, match=r"expects \[B, 3, H, W\]"):
        _split()(torch.zeros(1, 4, 32, 32))


# -- GenBio-PathFM ------------------------------------------------------------------------------


def _authors_hidden(dim: int) -> int:
    """SwiGLUFFN's hidden width in the authors' code (see ``swiglu`` in the facts)."""
    c = FACTS["constructor"]
    align = int(c["ffn_layer"].removeprefix("swiglu"))
    d = int(int(dim * c["ffn_ratio"]) * 2 / 3)
    return d + (-d % align)


def _authors_state(dim: int, depth: int, heads: int, patch: int) -> dict[str, torch.Tensor]:
    """Random weights under the authors' key names, shaped as their VisionTransformer shapes them."""
    hidden, registers = _authors_hidden(dim), FACTS["constructor"]["n_storage_tokens"]
    shapes = {
        "cls_token": (1, 1, dim),
        "storage_tokens": (1, registers, dim),
        "patch_embed.proj.weight": (dim, 1, patch, patch),
        "patch_embed.proj.bias": (dim,),
        "rope_embed.periods": (dim // heads // 4,),
        "attn.qkv.weight": (3 * dim, dim),
        "attn.proj.weight": (dim, dim),
        "mlp.w1.weight": (hidden, dim),
        "mlp.w1.bias": (hidden,),
        "mlp.w2.weight": (hidden, dim),
        "mlp.w2.bias": (hidden,),
        "mlp.w3.weight": (dim, hidden),
    }
    gen = torch.Generator().manual_seed(0)
    state = {}
    for template in FACTS["state_dict_keys"]:
        for i in range(depth) if "{i}" in template else [0]:
            key = template.format(i=i)
            shape = shapes.get(key) or shapes.get(key.split(".", 2)[-1], (dim,))
            value = torch.randn(*shape, generator=gen)
            if key.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
                value = 1 + 0.1 * value
            elif key.endswith(".weight") and value.ndim > 1:
                value = value / math.sqrt(value[0].numel())
            state[key] = value.to(torch.bfloat16) if key.endswith("periods") else value
    return state


def _rotary(grid: tuple[int, int], head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """sin and cos ``[h*w, head_dim]`` of the authors' 2-D rotary embedding (``rope`` in the facts)."""
    base = FACTS["constructor"]["pos_embed_rope_base"]
    bands = head_dim // 4
    periods = base ** (2 * torch.arange(bands, dtype=torch.float64) / (head_dim // 2))
    axes = [(torch.arange(n, dtype=torch.float64) + 0.5) / n for n in grid]
    coords = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 2) * 2 - 1
    angles = (2 * math.pi * coords[:, :, None] / periods).reshape(coords.shape[0], 2 * bands)
    angles = angles.repeat(1, 2)
    return angles.sin().float(), angles.cos().float()


def _reference(
    state: dict[str, torch.Tensor], x: torch.Tensor, depth: int, heads: int
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """GenBio-PathFM's embedding and per-block maps, computed from the facts alone."""
    eps, prefix = (
        FACTS["constructor"]["layernorm_eps"],
        1 + FACTS["constructor"]["n_storage_tokens"],
    )
    b, c, h, w = x.shape
    s = state
    patch = s["patch_embed.proj.weight"].shape[-1]
    t = F.conv2d(
        x.reshape(b * c, 1, h, w),
        s["patch_embed.proj.weight"],
        s["patch_embed.proj.bias"],
        stride=patch,
    )
    grid = (t.shape[-2], t.shape[-1])
    n, dim = b * c, t.shape[1]
    t = torch.cat(
        [
            s["cls_token"].expand(n, -1, -1),
            s["storage_tokens"].expand(n, -1, -1),
            t.flatten(2).transpose(1, 2),
        ],
        1,
    )
    head_dim = dim // heads
    sin, cos = _rotary(grid, head_dim)

    def rotate(u: torch.Tensor) -> torch.Tensor:
        first, second = u[:, :, prefix:].chunk(2, dim=-1)
        turned = torch.cat([-second, first], dim=-1)
        return torch.cat([u[:, :, :prefix], u[:, :, prefix:] * cos + turned * sin], dim=2)

    def norm(u: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(u, (dim,), s[f"{name}.weight"], s[f"{name}.bias"], eps)

    def merge(u: torch.Tensor) -> torch.Tensor:  # [B*C, N, D] -> [B, N, C*D], channel-major
        return u.reshape(b, c, *u.shape[1:]).permute(0, 2, 1, 3).reshape(b, u.shape[1], c * dim)

    maps = []
    for i in range(depth):
        k = f"blocks.{i}."
        qkv = (norm(t, k + "norm1") @ s[k + "attn.qkv.weight"].T).reshape(n, -1, 3, heads, head_dim)
        q, key, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        a = (
            F.scaled_dot_product_attention(rotate(q), rotate(key), v)
            .transpose(1, 2)
            .reshape(n, -1, dim)
        )
        t = t + s[k + "ls1.gamma"] * F.linear(a, s[k + "attn.proj.weight"], s[k + "attn.proj.bias"])
        y = norm(t, k + "norm2")
        gate = F.silu(F.linear(y, s[k + "mlp.w1.weight"], s[k + "mlp.w1.bias"]))
        ffn = F.linear(
            gate * F.linear(y, s[k + "mlp.w2.weight"], s[k + "mlp.w2.bias"]),
            s[k + "mlp.w3.weight"],
            s[k + "mlp.w3.bias"],
        )
        t = t + s[k + "ls2.gamma"] * ffn
        maps.append(merge(t)[:, prefix:].transpose(1, 2).reshape(b, c * dim, *grid))
    return merge(norm(t, "norm"))[:, 0], maps


def _entry_manifest(kit: Kit, path: Path) -> dict[str, Any]:
    """The catalogue entry, shrunk (trunk sizes) and pointed at ``path``; remap kept as it is."""
    m = zoo.Catalog().get(ENTRY)
    data = m.model_dump(mode="json", exclude_none=True, exclude={"file", "aliases"})
    data["name"] = "testing/genbio_pathfm"
    data["wrapper"]["arguments"]["trunk"].update(TINY)
    ckpt = data["checkpoint"]
    del ckpt["hf"]
    ckpt["path"] = str(path)
    size, width = [TINY["img_size"]] * 2, 3 * TINY["embed_dim"]
    data["input"]["size"] = size
    data["output"].update(
        embedding_dim=width,
        feature_dim=width,
        feature_levels=TINY["depth"],
        patch_size=TINY["patch_size"],
    )
    return data


def test_genbio_pathfm_checkpoint_loads_and_matches_the_authors_computation(kit: Kit) -> None:
    dim, depth, heads, patch = (TINY[k] for k in ("embed_dim", "depth", "num_heads", "patch_size"))
    state = _authors_state(dim, depth, heads, patch)
    path = kit.save(state, kit.tmp / "model.pth")
    data = _entry_manifest(kit, path)
    model = kit.load(data)
    x = kit.image(size=(32, 48))  # not square: each axis has its own rotary coordinates
    with torch.no_grad():
        want, want_maps = _reference(state, x, depth, heads)
        got = model(x)
        maps = model.features(x, [0, 1])
    assert got.shape == (2, 3 * dim)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    for have, expected in zip(maps, want_maps, strict=True):
        assert have.shape == (2, 3 * dim, 4, 6)
        torch.testing.assert_close(have, expected, atol=1e-4, rtol=1e-4)


def test_genbio_pathfm_refuses_a_checkpoint_missing_a_weight(kit: Kit) -> None:
    dim, depth, heads, patch = (TINY[k] for k in ("embed_dim", "depth", "num_heads", "patch_size"))
    state = _authors_state(dim, depth, heads, patch)
    del state["blocks.1.mlp.w2.bias"]
    path = kit.save(state, kit.tmp / "model.pth")
    with pytest.raises(zoo.ZooError, match=r"trunk\.blocks\.1\.mlp\.fc1_x\.bias"):
        kit.load(_entry_manifest(kit, path))
