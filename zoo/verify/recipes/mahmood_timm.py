"""The Mahmood Lab's UNI2-h (timm ViT-H/14-class, 8 registers, SwiGLU MLP).

UNI itself is in :mod:`zoo.verify.recipes.mahmood`.
"""

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
        names=("pathology/mahmood_uni2_h",),
        source="The lab's TRIDENT, https://github.com/mahmoodlab/TRIDENT/blob/"
        "a91fa8490e0210ebbbe58452c3babe009e0ab7ca/trident/patch_encoder_models/load.py "
        "(UNIv2InferenceEncoder: the model card's timm_kwargs, the local-checkpoint build and "
        "transform) for https://huggingface.co/MahmoodLab/UNI2-h (the card itself was not readable "
        "here)",
        how="package",
        # timm.create_model(model_name="vit_giant_patch14_224", pretrained=False, **timm_kwargs),
        # then load_state_dict(torch.load("pytorch_model.bin"), strict=True).
        build=timm_model(
            "vit_giant_patch14_224",
            img_size=224,
            patch_size=14,
            depth=24,
            num_heads=24,
            init_values=1e-5,
            embed_dim=1536,
            mlp_ratio=2.66667 * 2,
            num_classes=0,
            no_embed_class=True,
            mlp_layer="timm.layers.SwiGLUPacked",
            act_layer="torch.nn.SiLU",
            reg_tokens=8,
            dynamic_img_size=True,
        ),
        # Compose([Resize(224), CenterCrop(224), ToTensor(), Normalize(ImageNet)]): bilinear.
        preprocess=torchvision_eval(
            224, 224, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        # model(image): the class token after the final norm (timm's token pooling), 1536-d.
        embed=forward,
        filename="pytorch_model.bin",
        save=_save,
        load=_load,
        reduce=REDUCE,
    )
)
