"""PLIP (Huang et al., Nature Medicine 2023): OpenAI's CLIP ViT-B/32 fine-tuned on OpenPath,
published as a transformers ``CLIPModel`` (vinid/plip).

The authors' plip.py (https://github.com/PathologyFoundation/plip/blob/
f010f3d0bef20f4e8cc64cc26c301cbd26305fa1/plip.py, ``PLIP._load_model`` and ``encode_images``)
loads ``CLIPModel.from_pretrained(name)`` and ``CLIPProcessor.from_pretrained(name)`` and returns
``model.get_image_features(**processor(images=...))``. The network is transformers' CLIP with the
configuration of openai/clip-vit-base-patch32, which PLIP was fine-tuned from (``CLIPConfig()``'s
defaults are that model's); the processor is CLIP's image processor with OpenAI's defaults.
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._hf import load_folder, processed, save_folder


def _clip(reduced: bool) -> Any:
    from transformers import CLIPConfig, CLIPModel

    layers: dict[str, Any] = {"num_hidden_layers": 2} if reduced else {}
    config = CLIPConfig(text_config=dict(layers), vision_config=dict(layers))
    return CLIPModel(config).eval()


def _processor() -> Any:
    # The PIL backend: transformers' CLIPProcessor as the authors ran it (transformers 4's
    # CLIPImageProcessor resized with PIL; transformers 5 defaults to a torchvision backend).
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return CLIPImageProcessorPil()


def _cls() -> Any:
    from transformers import CLIPModel

    return CLIPModel


_SOURCE = (
    "https://github.com/PathologyFoundation/plip/blob/f010f3d0bef20f4e8cc64cc26c301cbd26305fa1/"
    "plip.py (CLIPModel, CLIPProcessor, get_image_features; weights https://huggingface.co/"
    "vinid/plip @ 67ade53ddd32195868f422585f72698ef5d15094)"
)

for suffix, embed in (
    ("", lambda net, x: net.get_image_features(pixel_values=x).pooler_output),
    ("_unprojected", lambda net, x: net.vision_model(pixel_values=x).pooler_output),
):
    register(
        Recipe(
            names=(f"pathology/stanford_plip{suffix}",),
            source=_SOURCE,
            how="package",
            build=_clip,
            preprocess=processed(_processor),
            embed=embed,
            filename="",
            save=save_folder,
            load=load_folder(_cls),
            reduce={"num_hidden_layers": 2},
            note=""
            if not suffix
            else "The vision model's pooler output (the class token after "
            "post_layernorm), the input of visual_projection; the authors' embedding is the "
            "projected one.",
        )
    )
