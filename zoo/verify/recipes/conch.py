"""The Mahmood Lab's CONCH v1: a CoCa-style vision-language model with a ViT-B/16 image tower.

The authors' package is GitHub-only (https://github.com/mahmoodlab/CONCH at
141cc09c7d4ff33d8eda562bd75169b457f71a62), so this recipe re-expresses its image tower in
this project's own code from reading conch/open_clip_custom/coca_model.py
(``_build_vision_tower``, ``encode_image``), vision_tower.py (``VisualModel``),
transformer.py (``AttentionalPooler``), transform.py (``image_transform``), factory.py
(``create_model_from_pretrained``, ``read_state_dict``) and model_configs/conch_ViT-B-16.json.
The trunk is timm's ``VisionTransformer(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4,
img_size=448, patch_size=16, num_classes=0, dynamic_img_size=True)`` run through
``forward_features``; two attention poolers read its tokens (contrast: one 512-d query;
caption: 256 768-d queries; 8 heads; each a ``torch.nn.MultiheadAttention`` with LayerNorms on
the queries and on the tokens), ``ln_contrast`` and the 512x512 ``proj_contrast``.
``encode_image(proj_contrast=False, normalize=False)`` is ``ln_contrast`` of the pooled query;
with ``proj_contrast=True`` it is multiplied by ``proj_contrast``. The transform:
``Resize(448, bicubic)``, ``CenterCrop(448)``, ``ToTensor``, OpenAI CLIP ``Normalize``.
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    state_dict_file,
    torchvision_eval,
)


def _visual(reduced: bool) -> Any:
    import torch
    from timm.models.vision_transformer import VisionTransformer
    from torch import nn

    class Pooler(nn.Module):
        """Learned queries over the tokens: LayerNorm both, sequence-first multi-head attention."""

        def __init__(self, width: int, context: int, queries: int) -> None:
            super().__init__()
            self.query = nn.Parameter(torch.randn(queries, width))
            self.attn = nn.MultiheadAttention(width, 8, kdim=context, vdim=context)
            self.ln_q = nn.LayerNorm(width)
            self.ln_k = nn.LayerNorm(context)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            keys = self.ln_k(tokens).permute(1, 0, 2)
            q = self.ln_q(self.query).unsqueeze(1).repeat(1, keys.shape[1], 1)
            return self.attn(q, keys, keys, need_weights=False)[0].permute(1, 0, 2)

    class Visual(nn.Module):
        """The image tower, with the checkpoint's names under ``visual.``."""

        def __init__(self) -> None:
            super().__init__()
            self.trunk = VisionTransformer(
                embed_dim=768,
                depth=2 if reduced else 12,
                num_heads=12,
                mlp_ratio=4,
                img_size=448,
                patch_size=16,
                num_classes=0,
                dynamic_img_size=True,
            )
            self.attn_pool_contrast = Pooler(512, 768, 1)
            self.ln_contrast = nn.LayerNorm(512)
            self.proj_contrast = nn.Parameter(768**-0.5 * torch.randn(512, 512))
            self.attn_pool_caption = Pooler(768, 768, 256)
            self.ln_caption = nn.LayerNorm(768)

        def pooled(self, x: torch.Tensor) -> torch.Tensor:
            tokens = self.trunk.forward_features(x)
            return self.ln_contrast(self.attn_pool_contrast(tokens)[:, 0])

    return Visual().eval()


#: The Hub's pytorch_model.bin is the whole CoCa model's flat state dict (visual.*, text.*,
#: text_decoder.*, logit_scale); only the image tower (visual.*) is written here.
_save, _load = state_dict_file("pickle", prefix="visual.")

_SOURCE = (
    "https://github.com/mahmoodlab/CONCH/tree/141cc09c7d4ff33d8eda562bd75169b457f71a62 "
    "(conch/open_clip_custom: coca_model.py, vision_tower.py, transformer.py, transform.py; "
    "weights https://huggingface.co/MahmoodLab/CONCH @ f9ca9f877171a28ade80228fb195ac5d79003357)"
)
_NOTE = (
    "Re-expression (the conch package is not on the package index). The served file holds the "
    "visual.* keys only (the text tower and decoder are not built)."
)

for suffix, embed in (
    ("", lambda net, x: net.pooled(x)),
    ("_projected", lambda net, x: net.pooled(x) @ net.proj_contrast),
):
    register(
        Recipe(
            names=(f"pathology/mahmood_conch{suffix}",),
            source=_SOURCE,
            how="re-expression",
            build=_visual,
            preprocess=torchvision_eval(
                448, 448, interpolation="bicubic", mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD
            ),
            embed=embed,
            filename="pytorch_model.bin",
            save=_save,
            load=_load,
            reduce={"depth": 2},
            note=_NOTE,
        )
    )
