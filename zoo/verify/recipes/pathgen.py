"""PathGen-CLIP (Sun et al., ICLR 2025): a CLIP ViT-B/16 trained with open_clip on PathGen-1.6M.

The authors' README ("Usage of Trained PathGen-CLIP model",
https://github.com/PathFoundation/PathGen-1.6M/blob/308b5a2ccf284fce14bf8bbea48f5d5066613a92/README.md) loads it with
``open_clip.create_model_and_transforms('ViT-B-16', pretrained='path/pathgen-clip.pt')`` and
computes ``model.encode_image(preprocess(image))``; ``pretrained=`` a local file is open_clip's
``load_checkpoint``: a flat state dict of the whole CLIP model, loaded strictly.
"""

from __future__ import annotations

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._openclip import (
    class_token,
    create,
    eval_transform,
    load_whole,
    projected,
    save_whole,
)

_SOURCE = (
    "https://github.com/PathFoundation/PathGen-1.6M/blob/308b5a2ccf284fce14bf8bbea48f5d5066613a92/README.md (open_clip."
    "create_model_and_transforms('ViT-B-16', pretrained=...), encode_image; weights "
    "https://huggingface.co/jamessyx/PathGen-CLIP @ fb80c40436e3d8ba7f624ae17117fce3a2d63471)"
)

for suffix, embed in (("", projected), ("_unprojected", class_token)):
    register(
        Recipe(
            names=(f"pathology/pathfoundation_pathgen_clip{suffix}",),
            source=_SOURCE,
            how="package",
            build=create("ViT-B-16"),
            preprocess=eval_transform("ViT-B-16"),
            embed=embed,
            filename="pathgenclip.pt",
            save=save_whole,
            load=load_whole,
            note=""
            if not suffix
            else "The authors' embedding is the projected one; this variant is the class token "
            "after ln_post, the projection's input.",
        )
    )
