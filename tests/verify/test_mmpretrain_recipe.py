"""The mmpretrain re-expression (zoo.verify.recipes.mmpretrain) against mmpretrain's own outputs.

tests/data/mmpretrain/tiny_<style>.safetensors holds a tiny model of each structure in
mmpretrain's key layout and tiny_<style>.io.safetensors a fixed input and the output mmpretrain
1.2.0's own model code computed for it (tests/data/mmpretrain/make_mmpretrain_data.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from zoo.verify.recipes.mmpretrain import Arch, build_mm

DATA = Path(__file__).parents[1] / "data" / "mmpretrain"

#: The tiny structures of make_mmpretrain_data.py: width 32, 2 layers, 2 heads, FFN 128.
STYLES = {
    "beit_g_style": Arch(32, 2, 2, 128, 14, 28, "qv", "avg_featmap"),
    "beit_l_style": Arch(32, 2, 2, 128, 14, 28, "full", "avg_featmap"),
    "vit_cls_style": Arch(32, 2, 2, 128, 16, 32, "full", "cls_token"),
}


def _net(style: str) -> Any:
    net = build_mm(STYLES[style])
    state = load_file(str(DATA / f"tiny_{style}.safetensors"))
    net.load_state_dict(state, strict=True)
    return net


@pytest.mark.parametrize("style", sorted(STYLES))
def test_reexpression_matches_mmpretrain(style: str) -> None:
    io = load_file(str(DATA / f"tiny_{style}.io.safetensors"))
    with torch.no_grad():
        out = _net(style).backbone(io["input"])
    assert out.shape == io["output"].shape
    torch.testing.assert_close(out, io["output"], rtol=1e-5, atol=1e-5)


def test_the_qv_bias_matters() -> None:
    """The EVA-g attention gives k no bias: a full qkv bias made of q, v and a non-zero k part
    changes the output (so the comparison above can fail)."""
    io = load_file(str(DATA / "tiny_beit_g_style.io.safetensors"))
    net = _net("beit_g_style")
    with torch.no_grad():
        for layer in net.backbone.layers:
            layer.attn.q_bias.add_(0.5)
        out = net.backbone(io["input"])
    assert not torch.allclose(out, io["output"], atol=1e-3)
