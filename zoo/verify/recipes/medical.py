"""General medical image-text encoders: BiomedCLIP (Microsoft) and MedSigLIP (Google)."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, state_dict_file
from zoo.verify.recipes.radiology import load_pretrained, save_pretrained

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
# The authors' serving code (https://github.com/Google-Health/medsiglip python/serving/
# predictor.py @ 73530d5538405583c4a05cc55929d6928b222c77): the image as float32 in [0, 1]
# (8 bits / 255), zero-padded to a square ("method performed in training": the smaller half of
# the margin on top/left), then transformers.SiglipImageProcessor(do_rescale=False, size 448x448)
# with its defaults (bicubic resize of both sides, mean and std 0.5), and the image tower's
# pooler_output (SiglipModel.get_image_features). Their requirements pin transformers 4.51.3,
# whose SiglipImageProcessor resizes with PIL: transformers 5 calls that backend
# SiglipImageProcessorPil. The padding is re-expressed here from predictor.py (it is not a
# package); the processor and the network are transformers'.
MEDSIGLIP_SOURCE = (
    "https://github.com/Google-Health/medsiglip @ 73530d5538405583c4a05cc55929d6928b222c77 "
    "(python/serving/predictor.py: _zero_pad_image_to_square, SiglipImageProcessor; "
    "python/serving/requirements.txt: transformers 4.51.3); https://huggingface.co/google/"
    "medsiglip-448 (SiglipModel, get_image_features)"
)


def _medsiglip(reduced: bool) -> Any:
    from transformers import SiglipConfig, SiglipModel

    # The vision tower: the So400m/14 shape at 448 (the model card). The text tower is a small
    # stand-in: its keys (text_model.*) and logit_scale/bias are in the released file and are
    # written, but they do not take part in the image embedding, so their shape is not needed.
    config = SiglipConfig(
        vision_config={
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 2 if reduced else 27,
            "num_attention_heads": 16,
            "image_size": 448,
            "patch_size": 14,
            "hidden_act": "gelu_pytorch_tanh",
            "layer_norm_eps": 1e-6,
        },
        text_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "vocab_size": 64,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "pad_token_id": 0,
            "projection_size": 1152,
        },
    )
    return SiglipModel(config).eval()


def _medsiglip_preprocess(image: Any) -> Any:
    import numpy as np
    from transformers import SiglipImageProcessorPil

    pixels = np.asarray(image.convert("RGB"))
    norm = pixels.astype(np.float32) / float(np.iinfo(pixels.dtype).max)
    h, w = norm.shape[:2]
    margin = abs(h - w)
    before, after = margin // 2, margin - margin // 2
    pad = ((before, after), (0, 0), (0, 0)) if h < w else ((0, 0), (before, after), (0, 0))
    norm = np.pad(norm, pad)
    processor = SiglipImageProcessorPil(do_rescale=False, size={"height": 448, "width": 448})
    out = processor.preprocess(
        [norm], data_format="channels_first", input_data_format="channels_last", return_tensors="pt"
    )
    return out["pixel_values"][0]


register(
    Recipe(
        names=("medical/google_medsiglip_448",),
        source=MEDSIGLIP_SOURCE,
        how="package",
        build=_medsiglip,
        preprocess=_medsiglip_preprocess,
        embed=lambda net, x: net.vision_model(pixel_values=x).pooler_output,
        filename="",
        save=save_pretrained,
        load=load_pretrained,
        reduce={"num_hidden_layers": 2},
        note="The padding step is re-expressed from predictor.py (not a package). The model "
        "card's quick-start instead resizes with TensorFlow (bilinear, no antialiasing) and does "
        "not pad; zoo follows the serving code, which says it repeats the training preprocessing.",
    )
)
