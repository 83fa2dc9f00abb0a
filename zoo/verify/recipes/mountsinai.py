"""Mount Sinai's SP22M (Campanella et al.): a DINO ViT-S/16 tile encoder."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._dinov2 import dinov2
from zoo.verify.recipes._layout import IMAGENET_MEAN, IMAGENET_STD, state_dict_file
from zoo.verify.recipes._timm import DEPTH, REDUCE


def _build(reduced: bool) -> Any:
    # example.py: SP22M(nn.Module, PyTorchModelHubMixin) holding
    # self.encoder = vision_transformer.vit_small(num_classes=0), the repository's copy of DINO's
    # ViT (patch 16, width 384, 12 blocks, 6 heads, qkv bias, LayerNorm eps 1e-6, no LayerScale,
    # no registers, img_size 224), re-expressed in zoo/verify/recipes/_dinov2.py.
    return dinov2(
        "vit_small", patch_size=16, img_size=224, layerscale=False, depth=DEPTH if reduced else None
    )


def _preprocess(image: Any) -> Any:
    from torchvision import transforms as T

    # The card: ToTensor() -> Normalize(ImageNet) on a 224x224 tile, no resize. The bundled images
    # are first brought to 224x224 (short side, bicubic, centre crop), which leaves a 224x224 tile
    # unchanged.
    steps = [
        T.Resize(224, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]
    return T.Compose(steps)(image.convert("RGB"))


# PyTorchModelHubMixin's pytorch_model.bin: the wrapper's state dict, the ViT under "encoder.".
_save, _load = state_dict_file("pickle", prefix="encoder.")

register(
    Recipe(
        names=("pathology/mountsinai_sp22m",),
        source="https://huggingface.co/MountSinaiCompPath/SP22M @ "
        "0be8d2bd345e55e2817778197ea817109dfee6b4 (example.py; README.md @ 8f636e5 gives the same "
        "code) and its vision_transformer.py (DINO's ViT)",
        how="re-expression",
        build=_build,
        preprocess=_preprocess,
        # model(img) = encoder(img): DINO's ViT returns the class token after the final norm.
        embed=lambda net, x: net(x),
        filename="pytorch_model.bin",
        save=_save,
        load=_load,
        reduce=REDUCE,
        note="The card feeds 224x224 tiles with no resize; the recipe brings the bundled "
        "non-square images to 224x224 first (bicubic short side, centre crop, as zoo's input "
        "block), which leaves a 224x224 tile unchanged.",
    )
)
