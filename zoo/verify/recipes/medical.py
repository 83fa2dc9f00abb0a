"""General medical image-text encoders: BiomedCLIP (Microsoft) and MedSigLIP (Google)."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, gap, register
from zoo.verify.recipes._layout import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, state_dict_file

# --- BiomedCLIP -----------------------------------------------------------------------------
# The model card (https://huggingface.co/microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224
# @ 9f341de24bfb00180f1b847274256e9b65a3a32e): model, preprocess =
# open_clip.create_model_from_pretrained("hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_
# patch16_224"), image features = model.encode_image(images). open_clip reads the repository's
# open_clip_config.json: model_cfg builds a CustomTextCLIP whose image tower is
# open_clip.model._build_vision_tower(embed_dim, vision_cfg); preprocess_cfg (CLIP mean and std)
# merges into open_clip's PreprocessCfg for image_transform_v2(..., is_train=False).
BIOMEDCLIP_SOURCE = (
    "https://huggingface.co/microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 @ "
    "9f341de24bfb00180f1b847274256e9b65a3a32e (model card: open_clip.create_model_from_pretrained"
    "('hf-hub:...'), encode_image; open_clip_config.json); open_clip 3.3.0 factory.py, model.py"
)

#: The repository's open_clip_config.json model_cfg, image part (the text tower, a PubMedBERT
#: from the Hub, is not built: its config is a Hub download).
BIOMEDCLIP_EMBED_DIM = 512
BIOMEDCLIP_VISION_CFG = {
    "timm_model_name": "vit_base_patch16_224",
    "timm_model_pretrained": False,
    "timm_pool": "",
    "timm_proj": "linear",
    "image_size": 224,
}


def _biomedclip(reduced: bool) -> Any:
    from open_clip.model import _build_vision_tower

    del reduced  # an open_clip tower has no depth override in zoo: always the full tower
    return _build_vision_tower(
        embed_dim=BIOMEDCLIP_EMBED_DIM, vision_cfg=dict(BIOMEDCLIP_VISION_CFG)
    ).eval()


def _biomedclip_preprocess(image: Any) -> Any:

    # create_model_from_pretrained: PreprocessCfg(size=vision_cfg.image_size) updated with the
    # config's preprocess_cfg; open_clip's defaults: bicubic, resize_mode "shortest", crop.
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = PreprocessCfg(size=224, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD)
    return image_transform_v2(cfg, is_train=False)(image)


# open_clip_pytorch_model.bin: the CLIP model's plain state dict (torch.save), image tower under
# "visual."; the text tower's keys ("text.*", "logit_scale") are not written (not built here).
_clip_save, _clip_load = state_dict_file("pickle", prefix="visual.")

_BIOMEDCLIP_NOTE = (
    "The released file also holds the PubMedBERT text tower (text.*) and logit_scale; the "
    "recipe builds and writes the image tower only (open_clip builds the text tower from a Hub "
    "config)."
)

register(
    Recipe(
        names=("medical/microsoft_biomedclip",),
        source=BIOMEDCLIP_SOURCE,
        how="package",
        build=_biomedclip,
        preprocess=_biomedclip_preprocess,
        # encode_image(normalize=False) == model.visual(x): the trunk's class token through the
        # 768 -> 512 linear head.
        embed=lambda net, x: net(x),
        filename="open_clip_pytorch_model.bin",
        save=_clip_save,
        load=_clip_load,
        note=_BIOMEDCLIP_NOTE,
    )
)

register(
    Recipe(
        names=("medical/microsoft_biomedclip_unprojected",),
        source=BIOMEDCLIP_SOURCE,
        how="package",
        build=_biomedclip,
        preprocess=_biomedclip_preprocess,
        # The input of the linear head: the timm trunk's pooled output (class token, final norm).
        embed=lambda net, x: net.trunk(x),
        filename="open_clip_pytorch_model.bin",
        save=_clip_save,
        load=_clip_load,
        note=_BIOMEDCLIP_NOTE,
    )
)


# --- MedSigLIP ------------------------------------------------------------------------------
gap(
    "medical/google_medsiglip_448",
    "zoo's input block cannot express the authors' preprocessing. The authors' serving code "
    "(https://github.com/Google-Health/medsiglip python/serving/predictor.py @ "
    "73530d5538405583c4a05cc55929d6928b222c77: _zero_pad_image_to_square, then "
    "transformers.SiglipImageProcessor(size 448x448, do_rescale=False)) zero-pads the image to a "
    "square first and resizes the padded square with the processor's default resampling "
    "(bicubic), mean/std 0.5; zoo resizes first and pads after (input.crop_mode border) with "
    "bilinear resampling (the model card's quick-start instead cites TensorFlow's bilinear resize "
    "for its evaluations). A recipe written from predictor.py differs from zoo's tensors by up to "
    "0.2 on the bundled images (0.07 on the square one: bicubic vs bilinear). The network and "
    "embedding agree: SiglipModel(So400m/14 at 448).get_image_features(x).pooler_output equals "
    "zoo's embedding on zoo's own tensors (relative difference 0.0, two blocks, random weights).",
)
