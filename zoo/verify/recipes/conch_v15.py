"""The Mahmood Lab's CONCH v1.5, TITAN's patch encoder, as TRIDENT builds and feeds it.

TRIDENT's model_zoo/conchv1_5/conchv1_5.py (https://github.com/mahmoodlab/TRIDENT at
a91fa8490e0210ebbbe58452c3babe009e0ab7ca: ``CONCHVisionTower``, ``vit_large``,
``VisionTransformer.interpolate_pos_encoding``, ``AttentionalPooler``,
``create_model_from_pretrained``) is GitHub-only code, re-expressed here in this project's own
code from reading it. Its trunk is a ViT-L/16 "adapted entirely from timm" (``vit_large(
init_values=1.0)``: width 1024, 24 blocks, 16 heads, qkv bias, LayerNorm eps 1e-6, built at
224x224, so 14x14 + 1 position entries): the recipe builds timm's own ``VisionTransformer`` with
those arguments and re-expresses only what differs, the position embedding of another input size
(the DINO recipe: the patch table resized by ``scale_factor = (28 + 0.1) / 14`` with bicubic
``F.interpolate``). The pooler is one learned 768-d query over the LayerNorm'd tokens with
bias-free q, kv and output projections (8 heads), then ``ln_contrast``. The transform:
``Resize(448, bilinear)``, ``CenterCrop(448)``, ``ToTensor``, ImageNet ``Normalize``; the
released pytorch_model_vision.bin is the tower's flat state dict, loaded strictly.
"""

from __future__ import annotations

import math
from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    state_dict_file,
    torchvision_eval,
)


def _tower(reduced: bool) -> Any:
    import torch
    import torch.nn.functional as F
    from timm.models.vision_transformer import VisionTransformer
    from torch import nn

    class Pooler(nn.Module):
        """One learned query, bias-free projections, a max-subtracted softmax per head."""

        def __init__(self) -> None:
            super().__init__()
            self.heads = 8
            self.query = nn.Parameter(torch.randn(1, 768))
            self.ln_k = nn.LayerNorm(1024)
            self.ln_q = nn.LayerNorm(768)
            self.to_q = nn.Linear(768, 768, bias=False)
            self.to_kv = nn.Linear(1024, 2 * 768, bias=False)
            self.to_out = nn.Linear(768, 768, bias=False)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            b = tokens.shape[0]
            q = self.to_q(self.ln_q(self.query)).expand(b, -1, -1)
            k, v = self.to_kv(self.ln_k(tokens)).chunk(2, dim=-1)

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.reshape(b, t.shape[1], self.heads, -1).permute(0, 2, 1, 3)

            q, k, v = split(q) * (768 // self.heads) ** -0.5, split(k), split(v)
            sim = torch.einsum("bhid,bhjd->bhij", q, k)
            attn = (sim - sim.amax(dim=-1, keepdim=True)).softmax(dim=-1)
            out = torch.einsum("bhij,bhjd->bhid", attn, v).permute(0, 2, 1, 3).reshape(b, -1, 768)
            return self.to_out(out)

    class Tower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = VisionTransformer(
                img_size=224,
                patch_size=16,
                embed_dim=1024,
                depth=2 if reduced else 24,
                num_heads=16,
                mlp_ratio=4,
                qkv_bias=True,
                init_values=1.0,
                num_classes=0,
            )
            # TRIDENT's PatchEmbed takes any size (no size assertion): timm's checks it unless told.
            self.trunk.patch_embed.strict_img_size = False
            self.attn_pool_contrast = Pooler()
            self.ln_contrast = nn.LayerNorm(768)

        def positions(self, w: int, h: int) -> torch.Tensor:
            """``interpolate_pos_encoding``: the 14x14 table resized by (grid + 0.1) / 14."""
            table: Any = self.trunk.pos_embed
            count = table.shape[1] - 1
            grid_w, grid_h = w // 16, h // 16
            if grid_w * grid_h == count and w == h:
                return table
            side = int(math.sqrt(count))
            dim = table.shape[-1]
            patch = table[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
            patch = F.interpolate(
                patch,
                scale_factor=((grid_w + 0.1) / math.sqrt(count), (grid_h + 0.1) / math.sqrt(count)),
                mode="bicubic",
            )
            patch = patch.permute(0, 2, 3, 1).reshape(1, -1, dim)
            return torch.cat((table[:, :1], patch), dim=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            trunk: Any = self.trunk
            _, _, w, h = x.shape
            tokens = trunk.patch_embed(x)
            tokens = torch.cat((trunk.cls_token.expand(x.shape[0], -1, -1), tokens), dim=1)
            tokens = trunk.norm(trunk.blocks(tokens + self.positions(w, h)))
            return self.ln_contrast(self.attn_pool_contrast(tokens)[:, 0])

    return Tower().eval()


_save, _load = state_dict_file("pickle")

register(
    Recipe(
        names=("pathology/mahmood_conch_v15",),
        source="https://github.com/mahmoodlab/TRIDENT/blob/a91fa8490e0210ebbbe58452c3babe009e0ab7ca/"
        "trident/patch_encoder_models/model_zoo/conchv1_5/conchv1_5.py (CONCHVisionTower, "
        "create_model_from_pretrained; weights https://huggingface.co/MahmoodLab/conchv1_5, "
        "unpinned)",
        how="re-expression",
        build=_tower,
        preprocess=torchvision_eval(
            448, 448, interpolation="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD
        ),
        embed=lambda net, x: net(x),
        filename="pytorch_model_vision.bin",
        save=_save,
        load=_load,
        reduce={"depth": 2},
        # zoo's tower resizes the table the same way (pooled_tower positions: dino); with
        # timm's exact 28x28 resize instead, the random-weights embeddings moved by up to 4.3e-4
        # of their largest value on the bundled images (the tolerance this recipe needed).
    )
)
