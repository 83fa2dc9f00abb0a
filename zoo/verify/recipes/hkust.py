"""HKUST's pathology encoders: mSTAR (timm ViT-L/16) and GPFM (DINOv2 ViT-L/14)."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._dinov2 import dinov2, dinov2_training_checkpoint, dinov2_training_load
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)
from zoo.verify.recipes._timm import DEPTH, NO_CROP_NOTE, REDUCE, forward, timm_model

_safetensors, _safetensors_load = state_dict_file("safetensors")

register(
    Recipe(
        names=("pathology/hkust_mstar",),
        source="https://github.com/Innse/mSTAR/blob/6cb5016a9a5e3bb2c6a9ac3cc6813d35b6c8b0b9/"
        "Feature_extract/models/mSTAR.py (get_mSTAR_model, get_mSTAR_trans)",
        how="package",
        # timm.create_model("vit_large_patch16_224", img_size=224, patch_size=16,
        # init_values=1e-5, num_classes=0, dynamic_img_size=True), then a strict flat load.
        build=timm_model(
            "vit_large_patch16_224",
            img_size=224,
            patch_size=16,
            init_values=1e-5,
            num_classes=0,
            dynamic_img_size=True,
        ),
        # Resize(224) -> ToTensor -> Normalize(ImageNet) (bilinear, no crop; see the note).
        preprocess=torchvision_eval(
            224, 224, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        embed=forward,
        filename="model.safetensors",
        save=_safetensors,
        load=_safetensors_load,
        reduce=REDUCE,
        note=NO_CROP_NOTE,
    )
)


def _gpfm(reduced: bool) -> Any:
    # models/dinov2/__init__.py build_model('GPFM'): vits.vit_large(img_size=224, patch_size=14,
    # init_values=1e-5, ffn_layer='mlp', block_chunks=4, qkv_bias=True, proj_bias=True,
    # ffn_bias=True): the repository's copy of DINOv2's ViT, no registers.
    return dinov2("vit_large", patch_size=14, img_size=224, depth=DEPTH if reduced else None)


def _gpfm_preprocess(image: Any) -> Any:
    from torchvision import transforms as T

    # build_transform(224): Resize((224, 224), interpolation=3), i.e. a bicubic squash.
    steps = [
        T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC),
        T.ToTensor(),
        T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]
    return T.Compose(steps)(image.convert("RGB"))


GPFM = register(
    Recipe(
        names=("pathology/hkust_gpfm",),
        source="https://github.com/birkhoffkiki/GPFM/blob/4f8be2b1f163f99ba35931f35abe60dc836f17da/"
        "models/dinov2/__init__.py (build_model, build_transform) and models/dinov2/"
        "vision_transformer.py (the network, re-expressed in zoo/verify/recipes/_dinov2.py)",
        how="re-expression",
        build=_gpfm,
        preprocess=_gpfm_preprocess,
        # teacher(x): head(x_norm_clstoken), the class token after the final norm (1024-d).
        embed=lambda net, x: net(x),
        # torch.load(GPFM.pth)['teacher'], keys under 'backbone.' in 4 block chunks, plus heads.
        filename="GPFM.pth",
        save=dinov2_training_checkpoint(chunks=4),
        load=dinov2_training_load(),
        reduce=REDUCE,
    )
)
