"""Lunit's benchmark-ssl-pathology weights: DINO ViT-S/16 and ViT-S/8, and ResNet-50 trunks
trained with Barlow Twins, MoCo v2 and SwAV.

The authors' README builds timm's ``VisionTransformer(img_size=224, patch_size=p, embed_dim=384,
num_heads=6, num_classes=0)`` and a torchvision ``ResNet(Bottleneck, [3, 4, 6, 3])`` whose ``fc``
is deleted and whose forward stops after ``layer4`` (the ``ResNetTrunk`` class, re-expressed in
:func:`_trunk_pooled`), and loads each release file as a flat state dict (strict). The README gives
no preprocessing and no pooling: the normalization is Lunit's training statistics as kaiko's eva
states them (eva's Lunit backbone module), the resize is torchvision's default eval transform
(short side 224, centre crop), and the ResNet embedding is the global average of ``layer4`` (the
linear-evaluation protocol of the paper).
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import state_dict_file, torchvision_eval
from zoo.verify.recipes._timm import DEPTH, REDUCE, forward

_SOURCE = (
    "https://github.com/lunit-io/benchmark-ssl-pathology/blob/"
    "d0288debae457da22868bf54d60cd99fe5b0f837/README.md (ViT/S-based and ResNet-50 snippets); "
    "normalization from https://github.com/kaiko-ai/eva src/eva/vision/models/networks/backbones/"
    "pathology/lunit.py"
)
_MEAN = (0.70322989, 0.53606487, 0.66096631)
_STD = (0.21716536, 0.26081574, 0.20723464)
_PREPROCESS = torchvision_eval(224, 224, interpolation="bilinear", mean=_MEAN, std=_STD)
_save, _load = state_dict_file("pickle")


def _vit(patch_size: int) -> Any:
    def build(reduced: bool) -> Any:
        from timm.models.vision_transformer import VisionTransformer

        extra: dict[str, Any] = {"depth": DEPTH} if reduced else {}
        return VisionTransformer(
            img_size=224, patch_size=patch_size, embed_dim=384, num_heads=6, num_classes=0, **extra
        ).eval()

    return build


def _resnet(reduced: bool) -> Any:
    from torchvision.models.resnet import Bottleneck, ResNet

    net = ResNet(Bottleneck, [3, 4, 6, 3])
    del net.fc  # ResNetTrunk: "remove FC layer"
    return net.eval()


def _trunk_pooled(net: Any, x: Any) -> Any:
    # ResNetTrunk.forward: conv1, bn1, relu, maxpool, layer1..layer4; then the global average.
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
    return x.mean(dim=(2, 3))


for name, filename, patch in (
    ("lunit_vits16", "dino_vit_small_patch16_ep200.torch", 16),
    ("lunit_vits8", "dino_vit_small_patch8_ep200.torch", 8),
):
    register(
        Recipe(
            names=(f"pathology/{name}",),
            source=_SOURCE,
            how="package",
            build=_vit(patch),
            preprocess=_PREPROCESS,
            # model(x): timm's token pooling, the class token after the final norm (384-d).
            embed=forward,
            filename=filename,
            save=_save,
            load=_load,
            reduce=REDUCE,
        )
    )

for name, filename in (
    ("lunit_resnet50_bt", "bt_rn50_ep200.torch"),
    ("lunit_resnet50_mocov2", "mocov2_rn50_ep200.torch"),
    ("lunit_resnet50_swav", "swav_rn50_ep200.torch"),
):
    register(
        Recipe(
            names=(f"pathology/{name}",),
            source=_SOURCE,
            how="package",
            build=_resnet,
            preprocess=_PREPROCESS,
            embed=_trunk_pooled,
            filename=filename,
            save=_save,
            load=_load,
        )
    )
