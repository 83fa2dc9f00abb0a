"""Owkin's Phikon (iBOT ViT-B/16) and Phikon-v2 (DINOv2 ViT-L/16), transformers models.

Phikon's card (https://huggingface.co/owkin/phikon) loads ``AutoImageProcessor.from_pretrained``
and ``ViTModel.from_pretrained("owkin/phikon", add_pooling_layer=False)`` and takes
``outputs.last_hidden_state[:, 0, :]``; its preprocessor_config.json (commit d493926, read at
revision 54b83783cd9397c32c9b4676ea94417faa3cee3f) names no processor type, so the model type's
``ViTImageProcessor`` reads it: ``size: 224`` (a square 224x224, squashing), ImageNet statistics,
ViT's default bilinear resampling. Phikon-v2's card (https://huggingface.co/owkin/phikon-v2) loads
``AutoModel`` (a ``Dinov2Model``) and the same CLS token.
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._hf import load_folder, processed, save_folder
from zoo.verify.recipes._layout import IMAGENET_MEAN, IMAGENET_STD


def _phikon(reduced: bool) -> Any:
    from transformers import ViTConfig, ViTModel

    # The repository's config.json: ViT-B/16 (transformers' ViTConfig defaults) with
    # layer_norm_eps 1e-6 (the repository fixed it from 1e-12 to match iBOT).
    config = ViTConfig(layer_norm_eps=1e-6, num_hidden_layers=2 if reduced else 12)
    return ViTModel(config, add_pooling_layer=False).eval()


def _phikon_processor() -> Any:
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    # PIL backend: the processor as transformers 4 ran it (transformers 5 defaults to torchvision).
    return ViTImageProcessorPil(size=224, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)


def _vit() -> Any:
    from transformers import ViTModel

    return ViTModel


register(
    Recipe(
        names=("pathology/owkin_phikon",),
        source="https://huggingface.co/owkin/phikon (model card; preprocessor_config.json @ "
        "54b83783cd9397c32c9b4676ea94417faa3cee3f; weights @ "
        "9ac2cf45ac1d886df085046126bf85af9bdcc3c5)",
        how="package",
        build=_phikon,
        preprocess=processed(_phikon_processor),
        embed=lambda net, x: net(pixel_values=x).last_hidden_state[:, 0, :],
        filename="",
        save=save_folder,
        load=load_folder(_vit),
        reduce={"num_hidden_layers": 2},
    )
)


def _phikon_v2(reduced: bool) -> Any:
    from transformers import Dinov2Config, Dinov2Model

    # The card's Dinov2Model: ViT-L/16, GELU MLP (no SwiGLU), LayerScale, no registers.
    config = Dinov2Config(
        hidden_size=1024,
        num_hidden_layers=2 if reduced else 24,
        num_attention_heads=16,
        patch_size=16,
        image_size=224,
        layer_norm_eps=1e-6,
    )
    return Dinov2Model(config).eval()


def _phikon_v2_processor() -> Any:
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

    # AutoImageProcessor of a Dinov2Model is BitImageProcessor: short side to 224 (bicubic),
    # center crop 224, ImageNet statistics (PIL backend, as transformers 4 ran it).
    return BitImageProcessorPil(
        size={"shortest_edge": 224},
        crop_size={"height": 224, "width": 224},
        resample=3,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )


def _dinov2() -> Any:
    from transformers import Dinov2Model

    return Dinov2Model


register(
    Recipe(
        names=("pathology/owkin_phikon_v2",),
        source="https://huggingface.co/owkin/phikon-v2 (model card: AutoImageProcessor, AutoModel, "
        "last_hidden_state[:, 0, :]; weights @ 2ae989a9c40cffaa27f0a6cb29cc94d1d6f9a5fd)",
        how="package",
        build=_phikon_v2,
        preprocess=processed(_phikon_v2_processor),
        embed=lambda net, x: net(pixel_values=x).last_hidden_state[:, 0, :],
        filename="",
        save=save_folder,
        load=load_folder(_dinov2),
        reduce={"num_hidden_layers": 2},
        note="The repository's preprocessor_config.json and config.json could not be read from "
        "here: the processor is BitImageProcessor with a 224 short side and crop, and "
        "image_size 224 (Dinov2 interpolates its position table for any input).",
    )
)
