"""DinoBloom (marrlab): DINOv2 ViT-S/B/L/g14 fine-tuned on blood-cell images."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._dinov2 import dinov2, dinov2_training_checkpoint, dinov2_training_load
from zoo.verify.recipes._layout import IMAGENET_MEAN, IMAGENET_STD
from zoo.verify.recipes._timm import DEPTH, REDUCE

_SOURCE = (
    "https://github.com/marrlab/DinoBloom/blob/6c5e86de45a1c40649b61ed0b8b6d50afa363bfc/"
    "dinov2/eval/models/return_model.py (get_dino_finetuned_downloaded, get_transforms); the "
    "network is torch.hub facebookresearch/dinov2 (hub/backbones.py), re-expressed in "
    "zoo/verify/recipes/_dinov2.py"
)


def _build(arch: str, ffn_layer: str) -> Any:
    def build(reduced: bool) -> Any:
        # torch.hub.load("facebookresearch/dinov2", "dinov2_vit?14"), whose pos_embed is then
        # replaced by a 257-position one (224 / 14 = 16, squared, plus the class position)
        # before the strict load of teacher["backbone.*"].
        return dinov2(
            arch,
            patch_size=14,
            img_size=224,
            ffn_layer=ffn_layer,
            depth=DEPTH if reduced else None,
        )

    return build


def _preprocess(image: Any) -> Any:
    from torchvision import transforms as T

    # get_transforms: size = (224, 224); Resize(size) squashes (bilinear), ImageNet statistics.
    steps = [
        T.Resize((224, 224)),
        T.ToTensor(),
        T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]
    return T.Compose(steps)(image.convert("RGB"))


for size, arch, ffn in (
    ("s", "vit_small", "mlp"),
    ("b", "vit_base", "mlp"),
    ("l", "vit_large", "mlp"),
    # dinov2_vitg14 is built with ffn_layer="swiglufused" (hub/backbones.py).
    ("g", "vit_giant2", "swiglufused"),
):
    register(
        Recipe(
            names=(f"pathology/marrlab_dinobloom_{size}",),
            source=_SOURCE,
            how="re-expression",
            build=_build(arch, ffn),
            preprocess=_preprocess,
            # model(x): the hub model's forward, head(x_norm_clstoken) with an identity head.
            embed=lambda net, x: net(x),
            filename=f"DinoBloom-{size.upper()}.pth",
            save=dinov2_training_checkpoint(),
            load=dinov2_training_load(),
            reduce=REDUCE,
        )
    )
