"""OpenMMLab's EVA checkpoints (mmpretrain): EVA-g / EVA-L (BEiTViT) and the EVA MAE-style ViT-B.

mmpretrain (PyPI) needs mmcv and mmengine, which do not install from wheels with this project's
torch, so its computation is re-expressed here in this project's own code, written from reading
mmpretrain (https://github.com/open-mmlab/mmpretrain: mmpretrain/models/backbones/beit.py @
dbf3df21a31ee5404184b3f1ba0588b6b6aaa8f4, configs/eva/ @ 9fe593e3e04b1258795c1020ec3fa29b867324bf;
the 1.2.0 release's code): beit.py (BEiTViT,
BEiTTransformerEncoderLayer, BEiTAttention with ``bias='qv_bias'``), vision_transformer.py
(VisionTransformer, TransformerEncoderLayer, ``_format_output``), mmcv's FFN and MultiheadAttention,
mmpretrain/datasets/transforms/processing.py (ResizeEdge, CenterCrop) and the configs under
configs/eva/. The module keeps mmpretrain's parameter names, so its state dict is the released
layout; tests/verify/test_mmpretrain_recipe.py checks it against mmpretrain's own outputs for tiny
models of each structure (tests/data/mmpretrain/tiny_*.io.safetensors, made with mmpretrain 1.2.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
)

MMPRETRAIN = (
    "https://github.com/open-mmlab/mmpretrain/blob/9fe593e3e04b1258795c1020ec3fa29b867324bf/"
    "configs/eva/{config} (mmpretrain 1.2.0; backbones/beit.py @ "
    "dbf3df21a31ee5404184b3f1ba0588b6b6aaa8f4, vision_transformer.py)"
)


@dataclass(frozen=True)
class Arch:
    """One mmpretrain backbone configuration (the values its config and arch table give)."""

    dims: int
    depth: int
    heads: int
    ffn: int
    patch: int
    img: int
    #: ``qv``: BEiTAttention's separate q and v biases (EVA-g); ``full``: a qkv bias.
    bias: Literal["qv", "full"]
    #: ``avg_featmap``: ln2 of the mean patch token; ``cls_token``: the class token after ln1.
    out_type: Literal["avg_featmap", "cls_token"]
    #: Extra released parts: a classifier ``head.fc`` (classes) and a BatchNorm neck.
    classes: int = 0
    neck_bn: bool = False


def build_mm(arch: Arch, depth: int | None = None) -> Any:
    """The re-expressed backbone (with ``backbone.``-less mmpretrain names), random weights."""
    import torch
    from torch import nn

    d = arch.dims

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(d, 3 * d, bias=arch.bias == "full")
            if arch.bias == "qv":
                self.q_bias = nn.Parameter(torch.zeros(d))
                self.v_bias = nn.Parameter(torch.zeros(d))
            self.proj = nn.Linear(d, d)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, n, _ = x.shape
            bias: torch.Tensor | None = self.qkv.bias
            if arch.bias == "qv":  # BEiTAttention: k gets no bias
                bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
            qkv = nn.functional.linear(x, self.qkv.weight, bias)
            q, k, v = qkv.reshape(b, n, 3, arch.heads, d // arch.heads).permute(2, 0, 3, 1, 4)
            attn = ((q * (d // arch.heads) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
            return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))

    class FFN(nn.Module):  # mmcv's FFN: layers.0.0 Linear + GELU, layers.1 Linear
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Sequential(nn.Linear(d, arch.ffn), nn.GELU()), nn.Linear(arch.ffn, d)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers(x)

    class Layer(nn.Module):  # pre-norm, no layer scale (layer_scale_init_value 0)
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(d, eps=1e-6)
            self.attn = Attention()
            self.ln2 = nn.LayerNorm(d, eps=1e-6)
            self.ffn = FFN()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x + self.attn(self.ln1(x))
            return x + self.ffn(self.ln2(x))

    class PatchEmbed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.projection = nn.Conv2d(3, d, arch.patch, arch.patch)

    class Backbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            grid = arch.img // arch.patch
            self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            self.pos_embed = nn.Parameter(torch.randn(1, grid * grid + 1, d) * 0.02)
            self.patch_embed = PatchEmbed()
            self.layers = nn.ModuleList(Layer() for _ in range(depth or arch.depth))
            # final_norm: ln1 on the tokens (cls_token); avg_featmap: ln2 after the mean.
            if arch.out_type == "cls_token":
                self.ln1 = nn.LayerNorm(d, eps=1e-6)
            else:
                self.ln2 = nn.LayerNorm(d, eps=1e-6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.patch_embed.projection(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
            x = x + self.pos_embed
            for layer in self.layers:
                x = layer(x)
            if arch.out_type == "cls_token":
                return self.ln1(x)[:, 0]
            return self.ln2(x[:, 1:].mean(dim=1))

    class Released(nn.Module):
        """The released model: ``backbone`` plus the parts the file also holds."""

        def __init__(self) -> None:
            super().__init__()
            self.backbone = Backbone()
            if arch.neck_bn:
                self.neck = nn.Module()
                self.neck.bn = nn.BatchNorm1d(d, affine=False)
            if arch.classes:
                self.head = nn.Module()
                self.head.fc = nn.Linear(d, arch.classes)

    return Released().eval()


def _build(arch: Arch) -> Any:
    def build(reduced: bool) -> Any:
        return build_mm(arch, 2 if reduced else None)

    return build


def mm_preprocess(short: int, crop: int, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """mmpretrain's test pipeline: ResizeEdge(short, edge='short', backend='pillow',
    interpolation='bicubic'), CenterCrop(crop), then the data preprocessor's normalisation with
    the statistics scaled to 0..255."""

    def preprocess(image: Any) -> Any:
        import numpy as np
        import torch
        from PIL import Image

        image = image.convert("RGB")
        w, h = image.size
        # ResizeEdge: the short edge to `short`, the other scaled and truncated (int()).
        size = (short, int(short * h / w)) if w < h else (int(short * w / h), short)
        pixels = np.asarray(image.resize(size, Image.Resampling.BICUBIC)).astype(np.float32)
        # CenterCrop: offsets int(round(margin / 2)).
        top = max(0, round((pixels.shape[0] - crop) / 2.0))
        left = max(0, round((pixels.shape[1] - crop) / 2.0))
        pixels = pixels[top : top + crop, left : left + crop]
        m = np.asarray(mean, dtype=np.float32) * 255
        s = np.asarray(std, dtype=np.float32) * 255
        return torch.from_numpy(((pixels - m) / s).transpose(2, 0, 1).copy())

    return preprocess


def _saver(wrap: str | None) -> Any:
    def save(net: Any, path: Path) -> None:
        import torch

        state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
        torch.save({wrap: state} if wrap else state, path)

    return save


def _loader(wrap: str | None) -> Any:
    def load(net: Any, path: Path) -> None:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state[wrap] if wrap else state
        own = set(net.state_dict())
        net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)

    return load


EVA_G = Arch(1408, 40, 16, 6144, 14, 224, "qv", "avg_featmap")
EVA_L = Arch(1024, 24, 16, 4096, 14, 224, "full", "avg_featmap")
VIT_B_CLS = Arch(768, 12, 12, 3072, 16, 224, "full", "cls_token")

EVA_G16 = Arch(1408, 40, 16, 6144, 16, 224, "qv", "avg_featmap")
VIT_B_FT = Arch(768, 12, 12, 3072, 16, 224, "full", "avg_featmap", classes=1000)
VIT_B_LIN = Arch(768, 12, 12, 3072, 16, 224, "full", "cls_token", classes=1000, neck_bn=True)
_LIN = "benchmarks/vit-base-p16_8xb2048-linear-coslr-100e_in1k.py"

#: (entry, config file, arch, released file, wrapping key). The EVA-g / EVA-L headless configs
#: have no test pipeline: the EVA fine-tuning pipelines resize the short edge to the input size
#: and crop it (no margin); the MAE-style benchmarks resize to 256 and crop 224.
ENTRIES: tuple[tuple[str, str, Arch, str, str | None], ...] = (
    (
        "beit-g-p14_3rdparty-eva_30m",
        "eva-g-p14_headless.py",
        EVA_G,
        "eva-g-p14_3rdparty_30m_20221213-3b7aca97.pth",
        None,
    ),
    (
        "beit-g-p14_eva-30m-pre_3rdparty_in21k",
        "eva-g-p14_headless.py",
        EVA_G,
        "eva-g-p14_30m-pre_3rdparty_in21k_20221213-d72285b7.pth",
        None,
    ),
    (
        "beit-g-p16_3rdparty-eva_30m",
        "eva-g-p16_headless.py",
        EVA_G16,
        "eva-g-p16_3rdparty_30m_20221213-7bed23ee.pth",
        None,
    ),
    (
        "beit-l-p14_3rdparty-eva_in21k",
        "eva-l-p14_headless.py",
        EVA_L,
        "eva-l-p14_3rdparty-mim_in21k_20221213-3a5da50b.pth",
        None,
    ),
    (
        "beit-l-p14_eva-pre_3rdparty_in21k",
        "eva-l-p14_headless.py",
        EVA_L,
        "eva-l-p14_mim-pre_3rdparty_in21k_20221213-8f194fa2.pth",
        None,
    ),
    (
        "eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k",
        _LIN,
        VIT_B_CLS,
        "eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k_20221226-26d90f07.pth",
        "state_dict",
    ),
    (
        "vit-base-p16_eva-mae-style-pre_8xb128-coslr-100e_in1k",
        "benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py",
        VIT_B_FT,
        "vit-base-p16_ft-8xb128-coslr-100e_in1k_20221226-f61cf992.pth",
        "state_dict",
    ),
    (
        "vit-base-p16_eva-mae-style-pre_8xb2048-linear-coslr-100e_in1k",
        _LIN,
        VIT_B_LIN,
        "vit-base-p16_linear-8xb2048-coslr-100e_in1k_20221226-ef51bf09.pth",
        "state_dict",
    ),
)

_STATS = {"clip": (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}

for _name, _config, _arch, _file, _wrap in ENTRIES:
    _clip = _name.startswith("beit-")
    _short, _crop = (224, 224) if _clip else (256, 224)
    register(
        Recipe(
            names=(f"universal/{_name}",),
            source=MMPRETRAIN.format(config=_config),
            how="re-expression",
            build=_build(_arch),
            preprocess=mm_preprocess(_short, _crop, *_STATS["clip" if _clip else "imagenet"]),
            embed=lambda net, x: net.backbone(x),
            filename=_file,
            save=_saver(_wrap),
            load=_loader(_wrap),
            reduce={"depth": 2},
            note="mmpretrain re-expressed (see the module docstring)"
            + (
                "; the released file also holds the MAE-style decoder (neck.*), not written here"
                if _name.startswith("eva-mae-style")
                else ""
            ),
        )
    )
