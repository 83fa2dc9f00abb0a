"""KEEP (Zhou et al., Cancer Cell 2026), MAGIC-AI4Med's knowledge-enhanced vision-language model.

The authors' quick start (https://github.com/MAGIC-AI4Med/KEEP/blob/
a346a703ba6186f715a45ec62748c08967a4791b/quick_start/keep_inference.py, ``KEEPModel``) builds
``visual = timm.create_model("vit_large_patch16_224", pretrained=False, img_size=224,
patch_size=16, init_values=1e-5, num_classes=0, dynamic_img_size=True)``, ``visual_head =
Sequential(Linear(1024, 768), GELU(), Linear(768, 768))``, a BERT text tower ``text`` and a
``logit_scale``; ``encode_image`` is ``normalize(visual_head(visual(x)), dim=-1)``. The
transform: ``Resize(224, bicubic)``, ``CenterCrop((224, 224))``, ``ToTensor``, ImageNet
``Normalize``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import IMAGENET_MEAN, IMAGENET_STD, torchvision_eval


def _keep(reduced: bool) -> Any:
    import math

    import timm
    import torch
    from torch import nn
    from transformers import BertConfig, BertModel

    class Keep(nn.Module):
        """``KEEPModel.__init__``'s modules, named as in the checkpoint."""

        def __init__(self) -> None:
            super().__init__()
            depth: dict[str, Any] = {"depth": 2} if reduced else {}
            self.visual = timm.create_model(
                "vit_large_patch16_224",
                pretrained=False,
                img_size=224,
                patch_size=16,
                init_values=1e-5,
                num_classes=0,
                dynamic_img_size=True,
                **depth,
            )
            # Linear(visual.num_features, projection_dim): ViT-L's 1024 features, 768.
            self.visual_head = nn.Sequential(nn.Linear(1024, 768), nn.GELU(), nn.Linear(768, 768))
            # The text tower's config is the repository's config.json (not read here): a BERT,
            # kept small; zoo drops it.
            self.text = BertModel(BertConfig(num_hidden_layers=2), add_pooling_layer=True)
            self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.04))

    return Keep().eval()


def _encode_image(net: Any, x: Any) -> Any:
    import torch.nn.functional as F

    return F.normalize(net.visual_head(net.visual(x)), dim=-1)


def _released(key: str) -> str:
    """The Hub file names timm's LayerScale ``gamma`` ``weight`` (its remote code's LayerScale)."""
    for i in ("1", "2"):
        key = key.replace(f".ls{i}.gamma", f".ls{i}.weight")
    return key


def _save(net: Any, path: Path) -> None:
    from safetensors.torch import save_file

    state = {_released(k): v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path))


def _load(net: Any, path: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(path))
    ours = {_released(k): k for k in net.state_dict()}
    net.load_state_dict({ours[k]: v for k, v in state.items() if k in ours}, strict=True)


_SOURCE = (
    "https://github.com/MAGIC-AI4Med/KEEP/blob/a346a703ba6186f715a45ec62748c08967a4791b/"
    "quick_start/keep_inference.py (KEEPModel, encode_image, transform; weights "
    "https://huggingface.co/Astaxanthin/KEEP @ 28a25d95cc6ba27a7e6fab3f144e13dbafd8b21e)"
)
_NOTE = (
    "The text tower is a small BERT (the repository's text config was not read here); the "
    "image tower and its head are the authors' exactly."
)

for suffix, embed in (("", _encode_image), ("_unprojected", lambda net, x: net.visual(x))):
    register(
        Recipe(
            names=(f"pathology/magic_keep{suffix}",),
            source=_SOURCE,
            how="package",
            build=_keep,
            preprocess=torchvision_eval(
                224, (224, 224), interpolation="bicubic", mean=IMAGENET_MEAN, std=IMAGENET_STD
            ),
            embed=embed,
            filename="model.safetensors",
            save=_save,
            load=_load,
            reduce={"depth": 2},
            note=_NOTE
            if not suffix
            else _NOTE + " This variant is visual(x), the class token before visual_head.",
        )
    )
