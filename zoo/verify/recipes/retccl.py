"""RetCCL (Wang et al., Medical Image Analysis 2023): a ResNet-50 trunk."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)


def _build(reduced: bool) -> Any:
    from torch import nn
    from torchvision.models.resnet import Bottleneck, ResNet

    # ResNet.resnet50(num_classes=128, mlp=False, two_branch=False, normlinear=True) from the
    # authors' ResNet.py: with mlp, two_branch and attention off it is torchvision's ResNet-50
    # (the same Bottleneck with the stride on conv2, the same parameter names) and a plain
    # nn.Linear fc, which get_feature.py replaces with nn.Identity() before the strict load.
    net = ResNet(Bottleneck, [3, 4, 6, 3], num_classes=128)
    net.fc = nn.Identity()
    return net.eval()


_save, _load = state_dict_file("pickle")

register(
    Recipe(
        names=("pathology/retccl_resnet50",),
        source="https://github.com/Xiyue-Wang/RetCCL/blob/a85b97226b62853b64143e8d535f5e10dae6cc89/"
        "get_feature.py (model, transform, strict load) and ResNet.py (the network)",
        how="re-expression",
        build=_build,
        # trnsfrms_val: Resize(256) -> ToTensor -> Normalize(ImageNet): bilinear, no crop (the
        # recipe centre-crops 256, see the note).
        preprocess=torchvision_eval(
            256, 256, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        # model(x): layer4, global average pool, flatten, fc = Identity: 2048-d.
        embed=lambda net, x: net(x),
        filename="retccl.pth",
        save=_save,
        load=_load,
        note="get_feature.py resizes the short side to 256 and feeds the whole image (the "
        "average pool takes any size); zoo centre-crops to 256x256. Both agree on square tiles, "
        "the authors' use; the recipe adds the centre crop so that the bundled non-square "
        "images compare.",
    )
)
