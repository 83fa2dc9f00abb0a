"""CTransPath (Wang et al., 2022): timm's Swin-T with a convolutional stem.

The authors' ctran.py builds ``timm.create_model('swin_tiny_patch4_window7_224',
embed_layer=ConvStem, pretrained=False)`` on a modified timm 0.5.4 (not installable from the
package index), sets ``head = nn.Identity()`` and loads ``torch.load('ctranspath.pth')['model']``
strictly. The recipe re-expresses their ``ConvStem`` (two 3x3 stride-2 conv + BN + ReLU with
``embed_dim / 8`` then ``/ 4`` channels, a 1x1 conv to ``embed_dim``, no norm) for today's timm
Swin, which takes NHWC tokens; the Swin itself is timm's (the same blocks, names and patch-merging
order as 0.5.4's). Written from reading ctran.py at the commit below, never copied.
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import IMAGENET_MEAN, IMAGENET_STD, torchvision_eval

_COMMIT = "26c61940312dbb239351eff46fe08c884e9e5c3e"


def _build(reduced: bool) -> Any:
    import timm
    from torch import nn

    class ConvStem(nn.Module):
        def __init__(
            self,
            img_size: int = 224,
            patch_size: int = 4,
            in_chans: int = 3,
            embed_dim: int = 768,
            norm_layer: Any = None,
            **_: Any,
        ) -> None:
            super().__init__()
            assert patch_size == 4
            assert embed_dim % 8 == 0
            self.img_size = (img_size, img_size) if isinstance(img_size, int) else img_size
            self.patch_size = (4, 4)
            self.grid_size = (self.img_size[0] // 4, self.img_size[1] // 4)
            self.num_patches = self.grid_size[0] * self.grid_size[1]
            layers: list[nn.Module] = []
            channels, width = in_chans, embed_dim // 8
            for _step in range(2):
                layers += [
                    nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels, width = width, width * 2
            layers.append(nn.Conv2d(channels, embed_dim, 1))
            self.proj = nn.Sequential(*layers)
            self.norm = norm_layer(embed_dim) if norm_layer else nn.Identity()

        def forward(self, x: Any) -> Any:
            return self.norm(self.proj(x).permute(0, 2, 3, 1))  # NHWC, as timm's Swin takes

    # head = nn.Identity(): the pooled 768-d feature (timm >= 0.9: num_classes=0).
    return timm.create_model(
        "swin_tiny_patch4_window7_224", embed_layer=ConvStem, pretrained=False, num_classes=0
    ).eval()


def _released(net: Any) -> dict[str, Any]:
    """The released keys (timm 0.5.4's Swin, as in the conversion zoo pins): each stage's patch
    merging stored at the end of the previous stage (``layers.<i-1>.downsample``)."""
    import re

    state = {}
    for key, value in net.state_dict().items():
        key = re.sub(
            r"layers\.(\d+)\.downsample", lambda m: f"layers.{int(m[1]) - 1}.downsample", key
        )
        state[key] = value.detach().clone().contiguous()
    return state


def _save(net: Any, path: Any) -> None:
    from safetensors.torch import save_file

    save_file(_released(net), str(path))


def _load(net: Any, path: Any) -> None:
    from safetensors.torch import load_file
    from timm.models.swin_transformer import checkpoint_filter_fn

    net.load_state_dict(checkpoint_filter_fn(load_file(str(path)), net), strict=True)


register(
    Recipe(
        names=("pathology/wang_ctranspath",),
        source=f"https://github.com/Xiyue-Wang/TransPath/blob/{_COMMIT}/ctran.py (ConvStem, "
        "ctranspath()) and get_features_CTransPath.py (transform, head, strict load)",
        how="re-expression",
        build=_build,
        # trnsfrms_val: Resize(224) (bilinear) -> ToTensor -> Normalize(ImageNet); the recipe adds
        # CenterCrop(224) (see the note).
        preprocess=torchvision_eval(
            224, 224, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        # features = model(batch): the final norm, the mean of the 7x7 tokens, Identity head.
        embed=lambda net, x: net(x),
        filename="model.safetensors",
        save=_save,
        load=_load,
        note="The authors resize the short side to 224 with no crop: their Swin asserts a 224x224 "
        "input, so only square tiles run; zoo centre-crops. The recipe adds the centre crop so "
        "that the bundled non-square images compare.",
    )
)


def _save_chief(net: Any, path: Any) -> None:
    """CHIEF_CTransPath.pth: ``torch.save({"model": state_dict})`` with the same Swin keys."""
    import torch

    torch.save({"model": _released(net)}, path)


def _load_chief(net: Any, path: Any) -> None:
    import torch
    from timm.models.swin_transformer import checkpoint_filter_fn

    state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    net.load_state_dict(checkpoint_filter_fn(state, net), strict=True)


register(
    Recipe(
        names=("pathology/chief_ctranspath",),
        source="https://github.com/hms-dbmi/CHIEF/blob/1abed334/Get_CHIEF_patch_feature.py "
        "(ctranspath() from models/ctran.py, head Identity, torch.load(...)['model'] loaded "
        "strictly, trnsfrms_val)",
        how="re-expression",
        build=_build,
        # trnsfrms_val: Resize(224) (bilinear) -> ToTensor -> Normalize(ImageNet), as TransPath's.
        preprocess=torchvision_eval(
            224, 224, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        embed=lambda net, x: net(x),
        filename="CHIEF_CTransPath.pth",
        save=_save_chief,
        load=_load_chief,
        note="CHIEF's own CTransPath weights in TransPath's network. The authors resize the short "
        "side to 224 with no crop (their Swin takes 224x224 only); the recipe adds the centre "
        "crop zoo makes so that the bundled non-square images compare.",
    )
)
