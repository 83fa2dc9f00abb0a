"""PathOrchestra (AI4Pathology): a timm ViT-L/16 tile encoder."""

from __future__ import annotations

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)
from zoo.verify.recipes._timm import NO_CROP_NOTE, REDUCE, forward, timm_model

_save, _load = state_dict_file("pickle")

register(
    Recipe(
        names=("pathology/ai4pathology_pathorchestra",),
        source="https://github.com/yanfang-research/PathOrchestra/blob/"
        "3d3f24ed9cc4e5261b74f3205a1adf0ac1015ba8/README.md (create_model call and transform); "
        "the architecture is the Hub repository's config.json (AI4Pathology/PathOrchestra @ "
        "8280b11a63919f25e4610f3315c2646b5f38bbb5)",
        how="package",
        # timm.create_model("hf-hub:AI4Pathology/PathOrchestra", pretrained=True,
        # init_values=1e-5, dynamic_img_size=True) on vit_large_patch16_224, num_classes 0.
        build=timm_model(
            "vit_large_patch16_224",
            img_size=224,
            patch_size=16,
            num_classes=0,
            init_values=1e-5,
            dynamic_img_size=True,
        ),
        # Resize(224) -> ToTensor -> Normalize(ImageNet) (bilinear, no crop; see the note).
        preprocess=torchvision_eval(
            224, 224, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        # model(x): the class token after the final norm, 1024-d.
        embed=forward,
        filename="pytorch_model.bin",
        save=_save,
        load=_load,
        reduce=REDUCE,
        note=NO_CROP_NOTE,
    )
)
