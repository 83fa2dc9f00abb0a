"""EVA and EVA-02 (BAAI) as timm publishes them: one recipe per ``<architecture>.<tag>``.

The authors' usage for these weights is timm itself (each Hub repository ``timm/<name>`` is
timm's own conversion, and its model card's snippet is timm's):
``timm.create_model("<architecture>.<tag>", pretrained=True)``, the evaluation transform
``timm.data.create_transform(**timm.data.resolve_data_config(model=net))`` and the pooled
pre-logits features ``net.forward_head(net.forward_features(x), pre_logits=True)`` (what the
card's "Image Embeddings" snippet returns with ``num_classes=0``). timm resolves every value
(input size, crop_pct, crop_mode, interpolation, mean, std) from the tag's pretrained_cfg
(timm/models/eva.py). The released file is ``model.safetensors``: the whole model's state dict,
classifier included, with timm's key names.
"""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import state_dict_file, timm_data_config

#: Source of every entry below: timm's model definitions and pretrained configs, and the
#: model cards of the Hub repositories timm/<architecture>.<tag>.
TIMM_SOURCE = (
    "https://github.com/huggingface/pytorch-image-models/blob/v1.0.31/timm/models/{module}.py "
    "(timm 1.0.31: create_model('{name}'), resolve_data_config + create_transform; model card "
    "https://huggingface.co/timm/{name})"
)

#: Every timm-tagged EVA entry: ``(catalogue entry, timm model name)``; each calls
#: ``timm.create_model(<timm name>)`` with no other argument, as the model card does.
TIMM_TAGS: tuple[tuple[str, str], ...] = (
    (
        "universal/eva02_base_patch14_448.mim_in22k_ft_in1k",
        "eva02_base_patch14_448.mim_in22k_ft_in1k",
    ),
    (
        "universal/eva02_base_patch14_448.mim_in22k_ft_in22k_in1k",
        "eva02_base_patch14_448.mim_in22k_ft_in22k_in1k",
    ),
    (
        "universal/eva02_large_patch14_448.mim_in22k_ft_in1k",
        "eva02_large_patch14_448.mim_in22k_ft_in1k",
    ),
    (
        "universal/eva02_large_patch14_448.mim_in22k_ft_in22k_in1k",
        "eva02_large_patch14_448.mim_in22k_ft_in22k_in1k",
    ),
    (
        "universal/eva02_large_patch14_448.mim_m38m_ft_in1k",
        "eva02_large_patch14_448.mim_m38m_ft_in1k",
    ),
    (
        "universal/eva02_large_patch14_448.mim_m38m_ft_in22k_in1k",
        "eva02_large_patch14_448.mim_m38m_ft_in22k_in1k",
    ),
    (
        "universal/eva02_small_patch14_336.mim_in22k_ft_in1k",
        "eva02_small_patch14_336.mim_in22k_ft_in1k",
    ),
    (
        "universal/eva02_tiny_patch14_336.mim_in22k_ft_in1k",
        "eva02_tiny_patch14_336.mim_in22k_ft_in1k",
    ),
    ("universal/eva_giant_patch14_224.clip_ft_in1k", "eva_giant_patch14_224.clip_ft_in1k"),
    ("universal/eva_giant_patch14_336.clip_ft_in1k", "eva_giant_patch14_336.clip_ft_in1k"),
    (
        "universal/eva_giant_patch14_336.m30m_ft_in22k_in1k",
        "eva_giant_patch14_336.m30m_ft_in22k_in1k",
    ),
    (
        "universal/eva_giant_patch14_560.m30m_ft_in22k_in1k",
        "eva_giant_patch14_560.m30m_ft_in22k_in1k",
    ),
    ("universal/eva_large_patch14_196.in22k_ft_in1k", "eva_large_patch14_196.in22k_ft_in1k"),
    (
        "universal/eva_large_patch14_196.in22k_ft_in22k_in1k",
        "eva_large_patch14_196.in22k_ft_in22k_in1k",
    ),
    ("universal/eva_large_patch14_336.in22k_ft_in1k", "eva_large_patch14_336.in22k_ft_in1k"),
    (
        "universal/eva_large_patch14_336.in22k_ft_in22k_in1k",
        "eva_large_patch14_336.in22k_ft_in22k_in1k",
    ),
)


#: The reduced networks' depth: one block keeps the largest (EVA-g at 560) within seconds.
REDUCED_DEPTH = 1


def timm_build(timm_name: str) -> Any:
    """``build(reduced)``: ``timm.create_model(timm_name)`` (random weights), one block when
    reduced (timm's ``depth`` argument, what ``reduce`` passes to ``zoo.load``)."""

    def build(reduced: bool) -> Any:
        import timm

        kwargs: dict[str, Any] = {"depth": REDUCED_DEPTH} if reduced else {}
        return timm.create_model(timm_name, pretrained=False, **kwargs).eval()

    return build


def timm_pre_logits(net: Any, x: Any) -> Any:
    """timm's image embedding: the pooled features before the classifier."""
    return net.forward_head(net.forward_features(x), pre_logits=True)


def timm_preprocess(timm_name: str) -> Any:
    """timm's evaluation transform for the tag: ``create_transform(**resolve_data_config(
    model=net))``, the network built once on the meta device (only its pretrained_cfg is read)."""
    nets: list[Any] = []

    def preprocess(image: Any) -> Any:
        if not nets:
            import timm
            import torch

            with torch.device("meta"):
                nets.append(timm.create_model(timm_name, pretrained=False, depth=1))
        return timm_data_config(nets[0], image)

    return preprocess


def timm_source(timm_name: str, module: str = "eva") -> str:
    """The source line of a timm-tag recipe."""
    return TIMM_SOURCE.format(module=module, name=timm_name)


# timm's Hub files: safetensors, the model's own state dict (head included).
_save, _load = state_dict_file("safetensors")

for _entry, _timm_name in TIMM_TAGS:
    register(
        Recipe(
            names=(_entry,),
            source=timm_source(_timm_name),
            how="package",
            build=timm_build(_timm_name),
            preprocess=timm_preprocess(_timm_name),
            embed=timm_pre_logits,
            filename="model.safetensors",
            save=_save,
            load=_load,
            reduce={"depth": REDUCED_DEPTH},
            reduced_levels=REDUCED_DEPTH,
        )
    )
