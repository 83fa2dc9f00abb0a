"""Prov-GigaPath's tile encoder (Providence / Microsoft; timm ViT-g with 16-px patches)."""

from __future__ import annotations

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)
from zoo.verify.recipes._timm import REDUCE, forward, timm_model

_save, _load = state_dict_file("pickle")

register(
    Recipe(
        names=("pathology/prov_gigapath",),
        source="https://huggingface.co/prov-gigapath/prov-gigapath @ "
        "eba85dd46097c3eedfcc2a3a9a930baecb6bcc19 (config.json architecture and model_args, as "
        "transcribed in public code) and https://github.com/prov-gigapath/prov-gigapath/blob/"
        "09d8e876afb98a1dda01cc531b1087c58fffc9f7/README.md (create_model call and transform); "
        "TRIDENT's local-checkpoint branch builds the same, https://github.com/"
        "mahmoodlab/TRIDENT/blob/a91fa8490e0210ebbbe58452c3babe009e0ab7ca/trident/"
        "patch_encoder_models/load.py (GigaPathInferenceEncoder)",
        how="package",
        # timm.create_model("hf_hub:prov-gigapath/prov-gigapath", pretrained=True): config.json's
        # vit_giant_patch14_dinov2 with its model_args (the architecture's defaults add the
        # SwiGLUPacked MLP, SiLU and token pooling).
        build=timm_model(
            "vit_giant_patch14_dinov2",
            img_size=224,
            in_chans=3,
            patch_size=16,
            embed_dim=1536,
            depth=40,
            num_heads=24,
            init_values=1e-5,
            mlp_ratio=5.33334,
            num_classes=0,
        ),
        # Resize(256, BICUBIC) -> CenterCrop(224) -> ToTensor -> Normalize(ImageNet).
        preprocess=torchvision_eval(
            256, 224, interpolation="bicubic", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        # tile_encoder(sample): the class token after the final norm, 1536-d.
        embed=forward,
        filename="pytorch_model.bin",
        save=_save,
        load=_load,
        reduce=REDUCE,
    )
)
