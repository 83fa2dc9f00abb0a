"""Radiology encoders in 2-D: RAD-DINO and PubMedCLIP (transformers). The 3-D MONAI encoders are
in :mod:`zoo.verify.recipes.radiology_3d`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD


def save_pretrained(net: Any, path: Path) -> None:
    """A transformers repository folder: config.json and model.safetensors."""
    net.save_pretrained(str(path))


def load_pretrained(net: Any, path: Path) -> None:
    """The authors' ``from_pretrained`` of the folder, into ``net`` (strict)."""
    loaded = type(net).from_pretrained(str(path))
    net.load_state_dict(loaded.state_dict(), strict=True)


# --- RAD-DINO -------------------------------------------------------------------------------
# The model card (https://huggingface.co/microsoft/rad-dino @
# 110cbc18d5133582e320b43d53bf5c44e410c936): model = AutoModel.from_pretrained(repo) (a
# Dinov2Model), processor = AutoImageProcessor.from_pretrained(repo) (a BitImageProcessor),
# outputs = model(**processor(images=image, return_tensors="pt")); the image embedding is
# outputs.pooler_output (the CLS token of the final layer norm), what the rad-dino package's
# RadDino.encode returns as its CLS embedding.
RAD_DINO_SOURCE = (
    "https://huggingface.co/microsoft/rad-dino @ 110cbc18d5133582e320b43d53bf5c44e410c936 (model "
    "card: AutoModel, AutoImageProcessor, pooler_output; config.json, preprocessor_config.json)"
)


def _rad_dino(reduced: bool) -> Any:
    from transformers import Dinov2Config, Dinov2Model

    # config.json: dinov2-base's shape (ViT-B/14, no registers, layer scale 1.0), image size 518.
    config = Dinov2Config(
        hidden_size=768,
        num_hidden_layers=2 if reduced else 12,
        num_attention_heads=12,
        mlp_ratio=4,
        image_size=518,
        patch_size=14,
        num_channels=3,
        qkv_bias=True,
        layerscale_value=1.0,
        layer_norm_eps=1e-6,
        hidden_act="gelu",
        use_swiglu_ffn=False,
    )
    return Dinov2Model(config).eval()


def _rad_dino_preprocess(image: Any) -> Any:
    from transformers import BitImageProcessorPil
    from transformers.image_utils import PILImageResampling

    # preprocessor_config.json: BitImageProcessor, shortest edge 518 (bicubic), centre crop 518,
    # rescale 1/255, mean 0.5307 and std 0.2583 on every channel, grey images to RGB. The PIL
    # backend: the one transformers used when the card was written (before v5).
    processor = BitImageProcessorPil(
        do_resize=True,
        size={"shortest_edge": 518},
        resample=PILImageResampling.BICUBIC,
        do_center_crop=True,
        crop_size={"height": 518, "width": 518},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.5307, 0.5307, 0.5307],
        image_std=[0.2583, 0.2583, 0.2583],
        do_convert_rgb=True,
    )
    return processor(images=image, return_tensors="pt")["pixel_values"][0]


register(
    Recipe(
        names=("radiology/microsoft_rad_dino",),
        source=RAD_DINO_SOURCE,
        how="package",
        build=_rad_dino,
        preprocess=_rad_dino_preprocess,
        embed=lambda net, x: net(pixel_values=x).pooler_output,
        filename="",
        save=save_pretrained,
        load=load_pretrained,
        reduce={"num_hidden_layers": 2},
        note="transformers' center_crop puts the crop at floor(margin / 2), torchvision (zoo) at "
        "round(margin / 2) (half to even): one pixel apart when the margin is odd and its half "
        "rounds up (he_wide.png: 336x240 resized to 725x518, margin 207: the authors' crop "
        "starts at column 103, zoo's at 104). zoo's input block has no setting for it.",
    )
)


# --- PubMedCLIP -----------------------------------------------------------------------------
# The model card (https://huggingface.co/flaviagiammarino/pubmed-clip-vit-base-patch32 @
# 32494c072a1f2fc6341c7c29697ed6a151d0e573): model = CLIPModel.from_pretrained(repo),
# processor = CLIPProcessor.from_pretrained(repo), model(**processor(text=..., images=image)):
# the image embedding is CLIPModel.get_image_features (the class token after post_layernorm
# through visual_projection, 512-d); the unprojected twin is the pooled class token (768-d).
PUBMEDCLIP_SOURCE = (
    "https://huggingface.co/flaviagiammarino/pubmed-clip-vit-base-patch32 @ "
    "32494c072a1f2fc6341c7c29697ed6a151d0e573 (model card: CLIPModel, CLIPProcessor; "
    "config.json, preprocessor_config.json)"
)


def _pubmedclip(reduced: bool) -> Any:
    from transformers import CLIPConfig, CLIPModel

    # config.json: openai/clip-vit-base-patch32's shape (ViT-B/32 at 224, quick_gelu, projection
    # 512); the text tower keeps CLIP's text defaults.
    vision = {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 2 if reduced else 12,
        "num_attention_heads": 12,
        "num_channels": 3,
        "image_size": 224,
        "patch_size": 32,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
    }
    text = {"num_hidden_layers": 2 if reduced else 12}
    return CLIPModel(CLIPConfig(vision_config=vision, text_config=text, projection_dim=512)).eval()


def _pubmedclip_preprocess(image: Any) -> Any:
    from transformers import CLIPImageProcessorPil
    from transformers.image_utils import PILImageResampling

    # preprocessor_config.json (openai/clip-vit-base-patch32's): shortest edge 224 (bicubic),
    # centre crop 224, rescale 1/255, CLIP mean and std, RGB. The PIL backend, as above.
    processor = CLIPImageProcessorPil(
        do_resize=True,
        size={"shortest_edge": 224},
        resample=PILImageResampling.BICUBIC,
        do_center_crop=True,
        crop_size={"height": 224, "width": 224},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(OPENAI_CLIP_MEAN),
        image_std=list(OPENAI_CLIP_STD),
        do_convert_rgb=True,
    )
    return processor(images=image, return_tensors="pt")["pixel_values"][0]


def _features(out: Any) -> Any:
    # transformers 5 returns the model output; 4.x returned the tensor.
    return out if hasattr(out, "shape") else out.pooler_output


def _pubmedclip_save(net: Any, path: Path) -> None:
    """The repository's layout: config.json and pytorch_model.bin (a pickle of CLIPModel's
    state dict; transformers 5's save_pretrained writes safetensors only)."""
    import torch

    path.mkdir(parents=True, exist_ok=True)
    net.config.save_pretrained(str(path))
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    torch.save(state, path / "pytorch_model.bin")


register(
    Recipe(
        names=("radiology/pubmedclip_vit_b32",),
        source=PUBMEDCLIP_SOURCE,
        how="package",
        build=_pubmedclip,
        preprocess=_pubmedclip_preprocess,
        embed=lambda net, x: _features(net.get_image_features(pixel_values=x)),
        filename="",
        save=_pubmedclip_save,
        load=load_pretrained,
        reduce={"num_hidden_layers": 2},
    )
)

register(
    Recipe(
        names=("radiology/pubmedclip_vit_b32_unprojected",),
        source=PUBMEDCLIP_SOURCE,
        how="package",
        build=_pubmedclip,
        preprocess=_pubmedclip_preprocess,
        # The vision tower's pooler_output: the class token after post_layernorm (768-d).
        embed=lambda net, x: net.vision_model(pixel_values=x).pooler_output,
        filename="",
        save=_pubmedclip_save,
        load=load_pretrained,
        reduce={"num_hidden_layers": 2},
    )
)
