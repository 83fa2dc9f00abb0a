"""kaiko.ai's Midnight-12k: a DINOv2 ViT-g/14 published as a transformers ``Dinov2Model``.

The model card (https://huggingface.co/kaiko-ai/midnight, "Usage"; the same snippet is in
github.com/kaiko-ai/midnight's README) builds ``AutoModel.from_pretrained('kaiko-ai/midnight')``
(no remote code), preprocesses with torchvision ``v2.Resize(224)``, ``v2.CenterCrop(224)``,
``v2.ToTensor()``, ``v2.Normalize(mean=(0.5,)*3, std=(0.5,)*3)``, and its classification
embedding is the class token concatenated with the mean of the patch tokens of
``last_hidden_state``. eva returns the class token alone (pathology/kaiko_midnight_12k_cls).
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._hf import load_folder, save_folder


def _midnight(reduced: bool) -> Any:
    from transformers import Dinov2Config, Dinov2Model

    # ViT-g/14: width 1536, 40 blocks, 24 heads, SwiGLU FFN, no registers.
    config = Dinov2Config(
        hidden_size=1536,
        num_hidden_layers=2 if reduced else 40,
        num_attention_heads=24,
        mlp_ratio=4,
        use_swiglu_ffn=True,
        patch_size=14,
        image_size=224,
        layer_norm_eps=1e-6,
    )
    return Dinov2Model(config).eval()


def _preprocess(image: Any) -> Any:
    # The card's transform; v2.ToTensor is deprecated, ToImage + ToDtype(scale=True) is the same.
    import torch
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.Resize(224),
            v2.CenterCrop(224),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        ]
    )(image.convert("RGB"))


def _cls_mean(net: Any, x: Any) -> Any:
    import torch

    tokens = net(x).last_hidden_state
    return torch.cat([tokens[:, 0, :], tokens[:, 1:, :].mean(1)], dim=-1)


def _dinov2() -> Any:
    from transformers import Dinov2Model

    return Dinov2Model


_SOURCE = (
    "https://huggingface.co/kaiko-ai/midnight (model card, Usage: AutoModel, v2 transform, "
    "extract_classification_embedding; weights @ adc6b15679c981cce6f9b018bbad09d16eeeda9f)"
)
_NOTE = (
    "The repository's config.json could not be read from here: image_size 224 is assumed "
    "(Dinov2 interpolates its position table for any input)."
)

for suffix, embed, note in (
    # The unsuffixed name returns the card's embedding, the class token and the patch mean
    # (CONTRIBUTING: one rule for which embedding a name returns); _cls is eva's.
    ("", _cls_mean, _NOTE),
    (
        "_cls",
        lambda net, x: net(x).last_hidden_state[:, 0, :],
        "The class token alone (eva's embedding). " + _NOTE,
    ),
):
    register(
        Recipe(
            names=(f"pathology/kaiko_midnight_12k{suffix}",),
            source=_SOURCE,
            how="package",
            build=_midnight,
            preprocess=_preprocess,
            embed=embed,
            filename="",
            save=save_folder,
            load=load_folder(_dinov2),
            reduce={"num_hidden_layers": 2},
            note=note,
        )
    )
