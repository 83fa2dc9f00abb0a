"""QuiltNet (University of Washington): CLIP models fine-tuned with open_clip on Quilt-1M.

The model cards' snippet (https://huggingface.co/wisdomik/QuiltNet-B-16, -B-32, -B-16-PMB) is
``open_clip.create_model_and_transforms('hf-hub:wisdomik/QuiltNet-B-...')`` and
``model.encode_image``. The ``hf-hub:`` name reads the repository's open_clip_config.json, which
cannot be read from here; the cards name the towers (ViT-B/32 and ViT-B/16 with the GPT77 text
tower: open_clip's ``ViT-B-32`` / ``ViT-B-16`` configurations; PMB: a timm ViT-B/16 with a linear
projection and a PubMedBERT text tower), so the recipes call open_clip with those configurations
and its default (OpenAI CLIP) preprocessing.
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, state_dict_file
from zoo.verify.recipes._openclip import (
    class_token,
    create,
    eval_transform,
    load_whole,
    projected,
    save_whole,
)

_CARD = (
    "https://huggingface.co/wisdomik/{repo} (model card: open_clip.create_model_and_transforms("
    "'hf-hub:wisdomik/{repo}'), encode_image; open_clip {config} configuration; Hub revision {rev})"
)
_NOTE = (
    "The hf-hub: name reads the repository's open_clip_config.json, which could not be read from "
    "here: the recipe uses open_clip's {config} configuration the card names."
)

for repo, config, rev, entry in (
    ("QuiltNet-B-16", "ViT-B-16", "a5a588b6cec62d610bfc25f64dfe1df30fa6af98", "uw_quiltnet_b16"),
    ("QuiltNet-B-32", "ViT-B-32", "8ce77289ce35a90b2f1db1137dfa4bc2df175e33", "uw_quiltnet_b32"),
):
    for suffix, embed in (("", projected), ("_unprojected", class_token)):
        register(
            Recipe(
                names=(f"pathology/{entry}{suffix}",),
                source=_CARD.format(repo=repo, config=config, rev=rev),
                how="package",
                build=create(config),
                preprocess=eval_transform(config),
                embed=embed,
                filename="open_clip_pytorch_model.bin",
                save=save_whole,
                load=load_whole,
                note=_NOTE.format(config=config),
            )
        )


# QuiltNet-B-16-PMB: open_clip builds a timm trunk (TimmModel) for this tower and a PubMedBERT
# text tower; the text tower needs the Hub (its transformers config), so the recipe builds the
# image tower with open_clip's TimmModel, as open_clip's factory does for this vision config.
def _pmb(reduced: bool) -> Any:
    from open_clip.timm_model import TimmModel

    return TimmModel(
        "vit_base_patch16_224", embed_dim=512, image_size=224, pool="", proj="linear"
    ).eval()


def _pmb_preprocess(image: Any) -> Any:
    import open_clip

    # create_model_and_transforms' evaluation transform for a 224 tower and OpenAI statistics:
    # shortest side to 224 (bicubic), center crop.
    return open_clip.image_transform(
        224, is_train=False, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD
    )(image.convert("RGB"))


#: The released file is the whole CustomTextCLIP's state dict; only its visual.* part is written
#: here (the PubMedBERT text tower cannot be built offline).
_pmb_save, _pmb_load = state_dict_file("pickle", prefix="visual.")


def _pmb_pooled(net: Any, x: Any) -> Any:
    """The timm trunk's pooled output (its class token after the final norm) before the
    projection head."""
    return net.trunk(x)


_PMB_SOURCE = (
    "https://huggingface.co/wisdomik/QuiltNet-B-16-PMB (model card: open_clip."
    "create_model_and_transforms('hf-hub:wisdomik/QuiltNet-B-16-PMB'), encode_image; unpinned)"
)
_PMB_NOTE = (
    "The image tower only (open_clip's TimmModel: vit_base_patch16_224, timm_pool '', linear "
    "projection to 512): the PubMedBERT text tower needs the Hub, so the served file holds the "
    "visual.* keys alone; the repository's open_clip_config.json could not be read from here."
)
for suffix, embed in (("", lambda net, x: net(x)), ("_unprojected", _pmb_pooled)):
    register(
        Recipe(
            names=(f"pathology/uw_quiltnet_b16_pmb{suffix}",),
            source=_PMB_SOURCE,
            how="package",
            build=_pmb,
            preprocess=_pmb_preprocess,
            embed=embed,
            filename="open_clip_pytorch_model.bin",
            save=_pmb_save,
            load=_pmb_load,
            note=_PMB_NOTE,
        )
    )
