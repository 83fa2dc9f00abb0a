"""HKUST's pathology encoders: mSTAR (timm ViT-L/16) and GPFM (DINOv2 ViT-L/14)."""

from __future__ import annotations

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)
from zoo.verify.recipes._timm import NO_CROP_NOTE, REDUCE, forward, timm_model

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
