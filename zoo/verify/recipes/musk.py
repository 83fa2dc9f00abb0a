"""MUSK (Xiang et al., Nature 2025): a BEiT-3 vision-language model for pathology.

The authors' code (https://github.com/lilab-stanford/MUSK at
714b666969c1911e5efe70d991140a21030f4ef3: musk/modeling.py ``_get_large_config``,
``MUSK.__init__`` and ``MUSK.forward``; musk/utils.py ``MultiScaleForward``; README.md "Basic
Usage") builds torchscale's ``BEiT3`` (vendored; the same as PyPI torchscale 0.3.0, which the
recipe calls) with a ``vision_head`` and a ``language_head`` (``Linear(1024, 1024,
bias=False)``) and a ``logit_scale``. Its image embedding is the class token of
``beit3(visual_tokens=x)["encoder_out"]`` (``with_head=False, out_norm=False``); with
``ms_aug=True`` (the README's setting for linear probes and MIL) it is the class token at the
input scale concatenated with the mean class token of the 2x2 tiles of the image upsampled
twice (bicubic); with ``with_head=True`` it is ``vision_head`` of the class token. The README's
transform: ``Resize(384, bicubic, antialias=True)``, ``CenterCrop(384)``, ``ToTensor``,
``Normalize(IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD)`` (0.5, 0.5, 0.5). The released
model.safetensors is the MUSK module's flat state dict (loaded with prefix '').
"""

from __future__ import annotations

import warnings
from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import state_dict_file, torchvision_eval


def _musk(reduced: bool) -> Any:
    from torch import nn

    with warnings.catch_warnings():  # torchscale imports timm's deprecated timm.models.layers
        warnings.simplefilter("ignore", FutureWarning)
        from torchscale.architecture.config import EncoderConfig
        from torchscale.model.BEiT3 import BEiT3

    class Musk(nn.Module):
        """``MUSK.__init__``: the BEiT3 and the two heads, named as in the checkpoint."""

        def __init__(self) -> None:
            super().__init__()
            import torch

            # _get_large_config(img_size=384): BEiT-3 large, multiway, no output layer.
            config = EncoderConfig(
                img_size=384,
                patch_size=16,
                in_chans=3,
                encoder_embed_dim=1024,
                encoder_layers=2 if reduced else 24,
                encoder_attention_heads=16,
                encoder_ffn_embed_dim=4096,
                vocab_size=64010,
                multiway=True,
                layernorm_embedding=False,
                normalize_output=True,
                no_output_layer=True,
                drop_path_rate=0.0,
            )
            self.beit3 = BEiT3(config)
            self.vision_head = nn.Linear(1024, 1024, bias=False)
            self.language_head = nn.Linear(1024, 1024, bias=False)
            self.logit_scale = nn.Parameter(torch.ones([]))

    return Musk().eval()


def _cls(net: Any, x: Any) -> Any:
    """``MUSK.forward(image=x, with_head=False, out_norm=False, ms_aug=False)``."""
    return net.beit3(visual_tokens=x)["encoder_out"][:, 0, :]


def _multiscale(net: Any, x: Any) -> Any:
    """``ms_aug=True``: ``MultiScaleForward`` with scales (1, 2), tiles of the input's size."""
    import torch
    import torch.nn.functional as F

    size = x.shape[-1]
    outs = []
    for scale in (1, 2):
        big = F.interpolate(x.float(), size=size * scale, mode="bicubic").to(x.dtype)
        tiles = [
            big[..., i * size : (i + 1) * size, j * size : (j + 1) * size]
            for i in range(scale)
            for j in range(scale)
        ]
        outs.append(torch.stack([_cls(net, t) for t in tiles], dim=1).mean(dim=1))
    return torch.cat(outs, dim=-1)


_save, _load = state_dict_file("safetensors")
_SOURCE = (
    "https://github.com/lilab-stanford/MUSK/tree/714b666969c1911e5efe70d991140a21030f4ef3 "
    "(musk/modeling.py, musk/utils.py, README.md; torchscale 0.3.0 from PyPI; weights "
    "https://huggingface.co/xiangjx/musk @ de1ffed28608c197d2903f6fa42b491a3fbf0fb8)"
)

for suffix, embed in (
    ("", _multiscale),
    ("_cls", _cls),
    ("_projected", lambda net, x: net.vision_head(_cls(net, x))),
):
    register(
        Recipe(
            names=(f"pathology/stanford_musk{suffix}",),
            source=_SOURCE,
            how="package",
            build=_musk,
            preprocess=torchvision_eval(
                384, 384, interpolation="bicubic", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)
            ),
            embed=embed,
            filename="model.safetensors",
            save=_save,
            load=_load,
            reduce={"depth": 2},
        )
    )
