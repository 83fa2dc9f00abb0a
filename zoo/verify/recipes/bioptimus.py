"""Bioptimus's H-optimus-0, H-optimus-1 and H0-mini (timm ViT with 4 registers, SwiGLU MLP).

H-optimus-0 and H-optimus-1's cards build ``timm.create_model("hf-hub:bioptimus/H-optimus-N",
pretrained=True, init_values=1e-5, dynamic_img_size=False)`` on the repository's config.json
(``vit_giant_patch14_reg4_dinov2``, ``img_size`` 224, ``num_classes`` 0, token pooling) and read
``model(x)``, the class token, 1536-d. Their transform is ``ToTensor()`` and ``Normalize`` with the
H-optimus statistics on 224x224 tiles, with no resize. H0-mini's card builds
``timm.create_model("hf-hub:bioptimus/H0-mini", pretrained=True, mlp_layer=SwiGLUPacked,
act_layer=SiLU)``, preprocesses with ``create_transform(**resolve_data_config(model.pretrained_cfg,
model=model))`` and reads ``output[:, 0]`` (CLS) or ``cat([output[:, 0],
output[:, model.num_prefix_tokens:].mean(1)])`` (CLS and the mean of the patch tokens, the 4
registers excluded).
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import state_dict_file
from zoo.verify.recipes._timm import (
    HOPTIMUS_MEAN,
    HOPTIMUS_STD,
    REDUCE,
    cls_and_patch_mean,
    cls_token,
    forward,
    timm_model,
    timm_pretrained_cfg,
)

# config.json of H-optimus-0 / H-optimus-1 (img_size 224, num_classes 0, global_pool token) and
# the card's init_values=1e-5, dynamic_img_size=False; the rest are the architecture's defaults
# (ViT-g/14: width 1536, 40 blocks, 24 heads, SwiGLUPacked + SiLU, 4 registers, no class position).
_HOPTIMUS = timm_model(
    "vit_giant_patch14_reg4_dinov2",
    img_size=224,
    num_classes=0,
    global_pool="token",
    init_values=1e-5,
    dynamic_img_size=False,
)


def _hoptimus_preprocess(image: Any) -> Any:
    from torchvision import transforms as T

    # The cards' transform is ToTensor() -> Normalize(H-optimus statistics) on a 224x224 tile at
    # 0.5 um/px. The bundled images are not 224x224, so they are first brought to 224x224 the way
    # the repository's pretrained_cfg says (bicubic, crop_pct 1: resize the short side, centre
    # crop); on a 224x224 tile both steps leave it unchanged, and what remains is the card's.
    steps = [
        T.Resize(224, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD),
    ]
    return T.Compose(steps)(image.convert("RGB"))


_HOPTIMUS_NOTE = (
    "The card feeds 224x224 tiles with no resize; the recipe brings the bundled non-square images "
    "to 224x224 with the repository's pretrained_cfg (bicubic, crop_pct 1) first, which leaves a "
    "224x224 tile unchanged."
)
_pickle, _pickle_load = state_dict_file("pickle")
_safetensors, _safetensors_load = state_dict_file("safetensors")

register(
    Recipe(
        names=("pathology/bioptimus_h_optimus_0",),
        source="https://huggingface.co/bioptimus/H-optimus-0 @ "
        "7bb31657b49434acc78732d9e2f393b846619393 (README.md snippet, config.json); the same "
        "build in TRIDENT, https://github.com/mahmoodlab/TRIDENT/blob/"
        "a91fa8490e0210ebbbe58452c3babe009e0ab7ca/trident/patch_encoder_models/load.py "
        "(HOptimus0InferenceEncoder)",
        how="package",
        build=_HOPTIMUS,
        preprocess=_hoptimus_preprocess,
        embed=forward,
        filename="pytorch_model.bin",
        save=_pickle,
        load=_pickle_load,
        reduce=REDUCE,
        note=_HOPTIMUS_NOTE,
    )
)
register(
    Recipe(
        names=("pathology/bioptimus_h_optimus_1",),
        source="https://huggingface.co/bioptimus/H-optimus-1 @ "
        "3592cb220dec7a150c5d7813fb56e68bd57473b9 (README.md snippet, config.json); the same "
        "build in TRIDENT, https://github.com/mahmoodlab/TRIDENT/blob/"
        "a91fa8490e0210ebbbe58452c3babe009e0ab7ca/trident/patch_encoder_models/load.py "
        "(HOptimus1InferenceEncoder)",
        how="package",
        build=_HOPTIMUS,
        preprocess=_hoptimus_preprocess,
        embed=forward,
        filename="model.safetensors",
        save=_safetensors,
        load=_safetensors_load,
        reduce=REDUCE,
        note=_HOPTIMUS_NOTE,
    )
)

# H0-mini's card: create_model("hf-hub:bioptimus/H0-mini", mlp_layer=SwiGLUPacked,
# act_layer=SiLU) and output (1, 261, 768), i.e. no pooling, 4 registers, 224 input. config.json
# itself was not readable here: mlp_ratio 5.33334, init_values 1e-5 and the pretrained_cfg
# (224, bicubic, crop_pct 1, H-optimus statistics; the card uses create_transform on it) are the
# values the catalogue states for it, and random weights cannot tell another mlp_ratio apart.
_H0_MINI = timm_model(
    "vit_base_patch14_reg4_dinov2",
    img_size=224,
    num_classes=0,
    global_pool="",
    init_values=1e-5,
    mlp_ratio=5.33334,
    mlp_layer="timm.layers.SwiGLUPacked",
    act_layer="torch.nn.SiLU",
)
_H0_SOURCE = (
    "https://huggingface.co/bioptimus/H0-mini @ 5b5cc0505d19ae558270045eb0df8c34df4d9609 "
    "(README.md snippet, config.json)"
)
for names, embed in (
    (("pathology/bioptimus_h0_mini",), cls_token),
    # output[:, model.num_prefix_tokens:] with num_prefix_tokens = 1 + 4 registers.
    (("pathology/bioptimus_h0_mini_cls_mean",), cls_and_patch_mean(5)),
):
    register(
        Recipe(
            names=names,
            source=_H0_SOURCE,
            how="package",
            build=_H0_MINI,
            preprocess=timm_pretrained_cfg(
                224, interpolation="bicubic", crop_pct=1.0, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD
            ),
            embed=embed,
            filename="model.safetensors",
            save=_safetensors,
            load=_safetensors_load,
            reduce=REDUCE,
        )
    )
