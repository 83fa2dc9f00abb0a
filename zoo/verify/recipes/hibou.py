"""HistAI's Hibou-B and Hibou-L: DINOv2 ViTs with 4 registers and a SwiGLU FFN.

The authors' README and example.ipynb (https://github.com/HistAI/hibou at
c453bbe4dab0fec6f7df343b09ea87048629c58d) load ``AutoModel.from_pretrained("histai/hibou-b",
trust_remote_code=True)``: Hub remote code, "a customized implementation of the DINOv2
architecture from the transformers library to add support for registers". transformers has
since gained that architecture as ``Dinov2WithRegistersModel``; the recipe builds it (the
package) with the repository's configuration. The notebook's own transform is
``Resize((224, 224), BICUBIC)`` (a square resize: it squashes), ``CenterCrop((224, 224))``,
``ToTensor``, ``Normalize(mean=[0.7068, 0.5755, 0.7220], std=[0.1950, 0.2316, 0.1816])``, and
it compares the local model's output with ``pooler_output`` (the class token after the final
LayerNorm, ``last_hidden_state[:, 0]``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._hf import load_folder, save_folder
from zoo.verify.recipes._layout import torchvision_eval


def _hibou(width: int, depth: int, heads: int, reduced: bool) -> Any:
    from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersModel

    config = Dinov2WithRegistersConfig(
        hidden_size=width,
        num_hidden_layers=2 if reduced else depth,
        num_attention_heads=heads,
        mlp_ratio=4,
        use_swiglu_ffn=True,
        num_register_tokens=4,
        patch_size=14,
        image_size=224,
        layerscale_value=1.0,
        layer_norm_eps=1e-6,
    )
    return Dinov2WithRegistersModel(config).eval()


def _cls() -> Any:
    from transformers import Dinov2WithRegistersModel

    return Dinov2WithRegistersModel


_NOTE = (
    "The Hub's remote modelling code and preprocessor_config.json could not be read from here: "
    "the recipe is transformers' own Dinov2WithRegistersModel (the same architecture, not "
    "checked against the remote code) and the notebook's torchvision transform. The random-"
    "weights run passes trust_remote_code=True to zoo.load (the entry asks for it; the served "
    "folder has no remote code)."
)

for entry, repo, rev, dims in (
    ("histai_hibou_b", "hibou-b", "5cc6343e7d777b4dd6e78954162b9772af27f274", (768, 12, 12)),
    ("histai_hibou_l", "hibou-L", "31a3b9fee16554c8552cb643d311733bce8faf7c", (1024, 24, 16)),
):
    register(
        Recipe(
            names=(f"pathology/{entry}",),
            source="https://github.com/HistAI/hibou/blob/c453bbe4dab0fec6f7df343b09ea87048629c58d/"
            f"example.ipynb (AutoModel, pooler_output, torchvision transform; weights "
            f"https://huggingface.co/histai/{repo} @ {rev})",
            how="package",
            build=partial(_hibou, *dims),
            preprocess=torchvision_eval(
                (224, 224),
                (224, 224),
                interpolation="bicubic",
                mean=(0.7068, 0.5755, 0.7220),
                std=(0.1950, 0.2316, 0.1816),
            ),
            embed=lambda net, x: net(pixel_values=x).pooler_output,
            filename="",
            save=save_folder,
            load=load_folder(_cls),
            reduce={"num_hidden_layers": 2, "trust_remote_code": True},
            note=_NOTE,
        )
    )
