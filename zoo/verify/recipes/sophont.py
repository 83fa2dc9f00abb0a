"""OpenMidnight (Sophont / MedARC): a DINOv2 ViT-g/14 with 4 registers trained on TCGA."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._dinov2 import dinov2
from zoo.verify.recipes._layout import IMAGENET_MEAN, IMAGENET_STD, state_dict_file
from zoo.verify.recipes._timm import DEPTH, REDUCE


def _build(reduced: bool) -> Any:
    # torch.hub.load('facebookresearch/dinov2', 'dinov2_vitg14_reg') (vit_giant2, swiglufused,
    # 4 registers, antialiased interpolation without offset), whose pos_embed is replaced by the
    # checkpoint's (257 positions: trained at 224) before the strict load.
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
    from torchvision import transforms as T

    # HEST_evaluation.py: ToTensor() -> Normalize(ImageNet) on the 224x224 tiles, no resize (its
    # Resize(224) / CenterCrop(224) lines are commented out). The bundled images are first brought
    # to 224x224 (short side, bilinear, centre crop), which leaves a 224x224 tile unchanged.
    steps = [
        T.Resize(224),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]
    return T.Compose(steps)(image.convert("RGB"))


_save, _load = state_dict_file("pickle")

register(
    Recipe(
        names=("pathology/sophont_openmidnight",),
        source="https://github.com/MedARC-AI/OpenMidnight/blob/"
        "f7d5a6457d7f34c0a7be194ed8d0b1199e5360ca/HEST_evaluation.py (model, checkpoint, "
        "transform); the network is torch.hub facebookresearch/dinov2 dinov2_vitg14_reg, "
        "re-expressed in zoo/verify/recipes/_dinov2.py",
        how="re-expression",
        build=_build,
        preprocess=_preprocess,
        # dinov2(x): head(x_norm_clstoken), the class token after the final norm (1536-d).
        embed=lambda net, x: net(x),
        # teacher_checkpoint_load.pt: the teacher backbone as a flat DINOv2 state dict.
        filename="teacher_checkpoint_load.pt",
        save=_save,
        load=_load,
        reduce=REDUCE,
        note="The authors feed 224x224 tiles with no resize; the recipe brings the bundled "
        "non-square images to 224x224 first (short side, centre crop), which leaves a 224x224 "
        "tile unchanged. TRIDENT's OpenMidnight encoder squashes instead (Resize((224, 224))), "
        "which the authors' code does not do.",
    )
)
