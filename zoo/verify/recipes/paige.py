"""Paige's Virchow and Virchow2 tile encoders (timm, SwiGLU MLP; Virchow2 adds 4 registers).

Both model cards build ``timm.create_model("hf-hub:paige-ai/Virchow[2]", pretrained=True,
mlp_layer=SwiGLUPacked, act_layer=torch.nn.SiLU)`` on the repository's config.json
(``architecture`` and ``model_args``), preprocess with ``create_transform(**resolve_data_config(
model.pretrained_cfg, model=model))`` and call ``output = model(image)`` (``global_pool=""``: the
whole token sequence after the final norm) the tile's tokens: the class token is ``output[:, 0]``
and the recommended embedding concatenates it with the mean of the patch tokens, ``output[:, 1:]``
for Virchow (no registers) and ``output[:, 5:]`` for Virchow2 (tokens 1-4 are registers).
"""

from __future__ import annotations

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import IMAGENET_MEAN, IMAGENET_STD, state_dict_file
from zoo.verify.recipes._timm import (
    REDUCE,
    cls_and_patch_mean,
    cls_token,
    timm_model,
    timm_pretrained_cfg,
)

# config.json "model_args" of paige-ai/Virchow @ 19eebc84ae33e79f1b2d866e6ff90ae50e522f9a, plus
# the card's mlp_layer / act_layer.
_VIRCHOW = timm_model(
    "vit_huge_patch14_224",
    img_size=224,
    init_values=1e-5,
    num_classes=0,
    mlp_ratio=5.3375,
    global_pool="",
    dynamic_img_size=True,
    mlp_layer="timm.layers.SwiGLUPacked",
    act_layer="torch.nn.SiLU",
)
# config.json "model_args" of paige-ai/Virchow2 @ 3158645804b69e3f3bc4439d4116edddf0840a72: the
# same plus reg_tokens 4.
_VIRCHOW2 = timm_model(
    "vit_huge_patch14_224",
    img_size=224,
    init_values=1e-5,
    num_classes=0,
    reg_tokens=4,
    mlp_ratio=5.3375,
    global_pool="",
    dynamic_img_size=True,
    mlp_layer="timm.layers.SwiGLUPacked",
    act_layer="torch.nn.SiLU",
)
# Both config.json "pretrained_cfg": input_size [3, 224, 224], interpolation bicubic, crop_pct 1.0,
# crop_mode center, ImageNet mean and std.
_PREPROCESS = timm_pretrained_cfg(
    224, interpolation="bicubic", crop_pct=1.0, mean=IMAGENET_MEAN, std=IMAGENET_STD
)
_save, _load = state_dict_file("safetensors")

_V1 = (
    "https://huggingface.co/paige-ai/Virchow @ 19eebc84ae33e79f1b2d866e6ff90ae50e522f9a (README.md "
    "snippet; config.json as transcribed verbatim in public code); the same calls in TRIDENT, "
    "https://github.com/mahmoodlab/TRIDENT/blob/"
    "a91fa8490e0210ebbbe58452c3babe009e0ab7ca/trident/patch_encoder_models/load.py)"
)
_V2 = (
    "https://huggingface.co/paige-ai/Virchow2 @ 3158645804b69e3f3bc4439d4116edddf0840a72 "
    "(README.md snippet; config.json as transcribed verbatim in public code); the same calls in "
    "TRIDENT, "
    "https://github.com/mahmoodlab/TRIDENT/blob/"
    "a91fa8490e0210ebbbe58452c3babe009e0ab7ca/trident/patch_encoder_models/load.py)"
)

for names, source, build, embed in (
    (("pathology/paige_virchow",), _V1, _VIRCHOW, cls_and_patch_mean(1)),
    (("pathology/paige_virchow_cls",), _V1, _VIRCHOW, cls_token),
    (("pathology/paige_virchow2",), _V2, _VIRCHOW2, cls_token),
    (("pathology/paige_virchow2_cls_mean",), _V2, _VIRCHOW2, cls_and_patch_mean(5)),
):
    register(
        Recipe(
            names=names,
            source=source,
            how="package",
            build=build,
            preprocess=_PREPROCESS,
            embed=embed,
            filename="model.safetensors",
            save=_save,
            load=_load,
            reduce=REDUCE,
        )
    )
