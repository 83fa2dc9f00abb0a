"""OpenPath (taejoon89): a DINOv2 ViT-g/14 with 4 registers and gram anchoring, public data only."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._dinov2 import dinov2, dinov2_training_checkpoint, dinov2_training_load
from zoo.verify.recipes._layout import IMAGENET_MEAN, IMAGENET_STD
from zoo.verify.recipes._timm import DEPTH, REDUCE

_COMMIT = "425a4ed496afff19e8a7f2c2b726e5151347d13a"


def _build(reduced: bool) -> Any:
    # vits.vit_giant2(patch_size=14, img_size=224, block_chunks=4, num_register_tokens=4,
    # ffn_layer="swiglufused", init_values=1e-5, interpolate_antialias=True,
    # interpolate_offset=0.0); the chunks only change the state dict's block keys.
    return dinov2(
        "vit_giant2",
        patch_size=14,
        img_size=224,
        ffn_layer="swiglufused",
        num_register_tokens=4,
        interpolate_offset=0.0,
        interpolate_antialias=True,
        depth=DEPTH if reduced else None,
    )


def _preprocess(image: Any) -> Any:
    import torch
    from torchvision.transforms import v2

    # eva's ResizeAndCrop(size=224, mean=ImageNet, std=ImageNet), what the authors' eva configs
    # use: v2.ToImage, Resize(224) and CenterCrop(224) on the uint8 tensor, ToDtype, Normalize.
    steps = [
        v2.ToImage(),
        v2.Resize(size=224),
        v2.CenterCrop(size=224),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]
    return v2.Compose(steps)(image.convert("RGB"))


register(
    Recipe(
        names=("pathology/openpath",),
        source=f"https://github.com/taejoon89/openpath/blob/{_COMMIT}/README.md (loading "
        "snippet) and eval/eva_configs/bach.yaml (eva's ResizeAndCrop); the network is "
        "dinov2/models/vision_transformer.py, re-expressed in zoo/verify/recipes/_dinov2.py",
        how="re-expression",
        build=_build,
        preprocess=_preprocess,
        # m.forward_features(x)["x_norm_clstoken"], (B, 1536).
        embed=lambda net, x: net(x),
        # ck["teacher"]: "backbone."-prefixed keys with 4 block chunks, and the heads.
        filename="teacher_checkpoint.pth",
        save=dinov2_training_checkpoint(chunks=4),
        load=dinov2_training_load(),
        reduce=REDUCE,
        # eva resizes the uint8 tensor, as the entry does (input.resize_on: tensor).
    )
)
