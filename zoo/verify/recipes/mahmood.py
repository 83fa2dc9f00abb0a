"""The Mahmood Lab's patch encoders (UNI, UNI2-h)."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)


def _uni(reduced: bool) -> Any:
    import timm

    # The README's local-checkpoint recipe: timm.create_model("vit_large_patch16_224",
    # img_size=224, patch_size=16, init_values=1e-5, num_classes=0, dynamic_img_size=True).
    kwargs: dict[str, Any] = {"depth": 2} if reduced else {}
    return timm.create_model(
        "vit_large_patch16_224",
        img_size=224,
        patch_size=16,
        init_values=1e-5,
        num_classes=0,
        dynamic_img_size=True,
        **kwargs,
    ).eval()


_save, _load = state_dict_file("pickle")

register(
    Recipe(
        names=("pathology/mahmood_uni",),
        source="https://github.com/mahmoodlab/UNI/blob/main/README.md (model card "
        "https://huggingface.co/MahmoodLab/UNI @ b55a5ec6cade1a39edfe6534189a9b8ca7a022f0)",
        how="package",
        build=_uni,
        # transforms.Compose([Resize(224), CenterCrop(224), ToTensor(), Normalize(ImageNet)]):
        # torchvision's Resize defaults to bilinear.
        preprocess=torchvision_eval(
            224, 224, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        embed=lambda net, x: net(x),
        filename="pytorch_model.bin",
        save=_save,
        load=_load,
        reduce={"depth": 2},
    )
)
