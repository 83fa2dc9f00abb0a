"""Digepath: a timm ViT-L/16 tile encoder for gastrointestinal pathology."""

from __future__ import annotations

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)
from zoo.verify.recipes._timm import NO_CROP_NOTE, REDUCE, forward, timm_model

_save, _load = state_dict_file("safetensors")

register(
    Recipe(
        names=("pathology/digepath",),
        source="https://github.com/lingxitong/Digepath/blob/"
        "c3bcc85b52e754702a0de914d8dba06fb02bc577/"
        "RoiEvaluation/utils/get_encoder.py (get_pathology_encoder('Digepath')) and "
        "RoiEvaluation/utils/get_transforms.py ('test')",
        how="package",
        # timm.create_model(model_name="vit_large_patch16_224", img_size=224, patch_size=16,
        # init_values=1e-5, num_classes=0, dynamic_img_size=True).
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
        # The Hub file zoo pins (xtxx/Digepath model.safetensors) is the flat backbone; the
        # repository's loader reads a DINO checkpoint's state_dict['student'] with 'backbone.'
        # stripped instead (strict=False).
        filename="model.safetensors",
        save=_save,
        load=_load,
        reduce=REDUCE,
        note=NO_CROP_NOTE,
    )
)
