"""DINO ViTs (Caron et al. 2021) as timm publishes them (tag ``dino``), RGB and one-channel.

The weights are Meta's DINO checkpoints converted by timm (``timm/<architecture>.dino``, file
``model.safetensors``, timm's key names, no classifier). The network and its loading are timm's:
``timm.create_model("<architecture>.dino", pretrained=True[, in_chans=1])``; with ``in_chans=1``
timm's ``load_pretrained`` adapts the RGB patch embedding (``adapt_input_conv``: the three input
kernels summed). The embedding is the class token after the final norm, what DINO's own
evaluation (eval_knn.py, eval_linear.py with one block) and timm's pre-logits (``global_pool
'token'``) return.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)
from zoo.verify.recipes.eva import REDUCED_DEPTH, timm_build, timm_pre_logits

#: DINO's evaluation transform: facebookresearch/dino @ 7c446df5b9f45747937fb0d72314eb9f7b66930a,
#: eval_linear.py (and eval_knn.py): Resize(256, interpolation=3 (bicubic)), CenterCrop(224),
#: ToTensor, Normalize(ImageNet mean, std).
DINO_EVAL = (
    "https://github.com/facebookresearch/dino/blob/7c446df5b9f45747937fb0d72314eb9f7b66930a/"
    "eval_linear.py"
)

_save, _load = state_dict_file("safetensors")


def _one_channel(timm_name: str) -> Any:
    """``embed(net, x)`` through timm's own one-channel loading: the RGB network's weights are
    written to a file and loaded by ``timm.create_model(timm_name, pretrained=True,
    in_chans=1)`` (timm's load_pretrained and adapt_input_conv), as a user would."""
    built: dict[int, Any] = {}

    def embed(net: Any, x: Any) -> Any:
        key = id(net)
        if key not in built:
            import timm

            with tempfile.TemporaryDirectory(prefix="zoo-recipe-") as tmp:
                path = Path(tmp, "model.safetensors")
                _save(net, path)
                built.clear()
                built[key] = timm.create_model(
                    timm_name,
                    pretrained=True,
                    in_chans=1,
                    depth=len(net.blocks),  # the reduced network's depth when reduced
                    pretrained_cfg_overlay={"file": str(path), "hf_hub_id": None, "url": None},
                ).eval()
        return timm_pre_logits(built[key], x)

    return embed


def _grey(size: int, mean: float, std: float) -> Any:
    def preprocess(image: Any) -> Any:
        from torchvision import transforms as T

        bicubic = T.InterpolationMode.BICUBIC
        steps = [T.Resize(size, interpolation=bicubic), T.CenterCrop(size)]
        steps += [T.ToTensor(), T.Normalize([mean], [std])]
        return T.Compose(steps)(image.convert("L"))

    return preprocess


register(
    Recipe(
        names=("universal/vit_small_patch16_224_dino",),
        source=f"{DINO_EVAL} (preprocessing); https://huggingface.co/timm/vit_small_patch16_224.dino "
        "(timm 1.0.31: create_model('vit_small_patch16_224.dino'), timm/models/vision_transformer.py)",
        how="package",
        build=timm_build("vit_small_patch16_224.dino"),
        # DINO's evaluation transform, not timm's (timm's pretrained_cfg says crop_pct 0.9).
        preprocess=torchvision_eval(
            256, 224, interpolation="bicubic", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        embed=timm_pre_logits,
        filename="model.safetensors",
        save=_save,
        load=_load,
        reduce={"depth": REDUCED_DEPTH},
        reduced_levels=REDUCED_DEPTH,
        note="Preprocessing is DINO's own evaluation transform (eval_linear.py: resize 256, crop "
        "224, bicubic), not timm's pretrained_cfg (crop_pct 0.9).",
    )
)

for _entry, _timm_name in (
    ("universal/vit_small_patch16_224_dino_1chan", "vit_small_patch16_224.dino"),
    ("universal/vit_base_patch16_224_dino_1chan", "vit_base_patch16_224.dino"),
):
    register(
        Recipe(
            names=(_entry,),
            source=f"https://huggingface.co/timm/{_timm_name} (timm 1.0.31: "
            f"create_model('{_timm_name}', pretrained=True, in_chans=1): load_pretrained, "
            f"adapt_input_conv); {DINO_EVAL} (statistics)",
            how="package",
            build=timm_build(_timm_name),
            # No authors' one-channel pipeline exists: the grey image resized to 224 (bicubic,
            # no crop margin) and normalised with the channel averages of DINO's ImageNet
            # statistics (mean 0.449, std 0.226).
            preprocess=_grey(224, 0.449, 0.226),
            embed=_one_channel(_timm_name),
            filename="model.safetensors",
            save=_save,
            load=_load,
            reduce={"depth": REDUCED_DEPTH},
            reduced_levels=REDUCED_DEPTH,
            note="The released file is the RGB network; timm's in_chans=1 loading adapts it. The "
            "preprocessing is the entry's own (no authors' one-channel pipeline exists): a grey "
            "image, resize and crop 224 bicubic, DINO's ImageNet statistics averaged over channels.",
        )
    )
