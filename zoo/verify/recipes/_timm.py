"""Shared pieces of the timm-based recipes: a ``timm.create_model`` call (reduced to two blocks
when asked), timm's evaluation transform from a repository's ``pretrained_cfg``, and the token
embeddings model cards read off a ViT's output sequence.

Each recipe still states its own architecture, keyword arguments, transform values and
embedding from its authors' source; these functions only spell the common shapes once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

#: The note of a recipe whose authors resize the short side and feed the whole image.
NO_CROP_NOTE = (
    "The authors' transform resizes the short side and feeds the whole (possibly non-square) "
    "image to a ViT that takes any multiple of its patch; zoo centre-crops to the square size "
    "(input.crop_pct 1). Both agree on square tiles, the authors' use; the recipe adds the "
    "centre crop so that the bundled non-square images compare."
)

#: The reduced depth of every reduced ViT recipe (``zoo.load(..., depth=2)``).
DEPTH = 2
REDUCE: dict[str, Any] = {"depth": DEPTH}
HOPTIMUS_MEAN = (0.707223, 0.578729, 0.703617)
HOPTIMUS_STD = (0.211883, 0.230117, 0.177517)


def timm_model(architecture: str, **kwargs: Any) -> Callable[[bool], Any]:
    """``build(reduced)``: ``timm.create_model(architecture, pretrained=False, **kwargs)`` in eval
    mode; ``reduced`` adds ``depth=2``. Values given as ``"timm.layers.SwiGLUPacked"`` or
    ``"torch.nn.SiLU"`` are the classes of those names (the model cards pass the classes)."""

    def build(reduced: bool) -> Any:
        import timm
        import torch

        named = {
            "timm.layers.SwiGLUPacked": timm.layers.SwiGLUPacked,
            "torch.nn.SiLU": torch.nn.SiLU,
        }
        args: dict[str, Any] = {
            k: named.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()
        }
        if reduced:
            args["depth"] = DEPTH
        return timm.create_model(architecture, pretrained=False, **args).eval()

    return build


def timm_pretrained_cfg(
    size: int,
    *,
    interpolation: Literal["bilinear", "bicubic"],
    crop_pct: float,
    mean: Sequence[float],
    std: Sequence[float],
    crop_mode: str = "center",
) -> Callable[[Any], Any]:
    """The model cards' ``create_transform(**resolve_data_config(model.pretrained_cfg,
    model=model))`` for a repository whose ``pretrained_cfg`` has these values."""
    cfg = {
        "input_size": (3, size, size),
        "interpolation": interpolation,
        "crop_pct": crop_pct,
        "crop_mode": crop_mode,
        "mean": tuple(mean),
        "std": tuple(std),
    }

    def preprocess(image: Any) -> Any:
        from timm.data import create_transform, resolve_data_config

        return create_transform(**resolve_data_config({}, pretrained_cfg=cfg))(image.convert("RGB"))

    return preprocess


def cls_token(net: Any, x: Any) -> Any:
    """The class token of the output sequence (``output[:, 0]``)."""
    return net(x)[:, 0]


def cls_and_patch_mean(first_patch: int) -> Callable[[Any, Any], Any]:
    """``cat([output[:, 0], output[:, first_patch:].mean(1)], -1)``: the class token and the mean
    of the patch tokens (after ``first_patch`` prefix tokens: class and registers)."""

    def embed(net: Any, x: Any) -> Any:
        import torch

        output = net(x)
        return torch.cat([output[:, 0], output[:, first_patch:].mean(1)], dim=-1)

    return embed


def forward(net: Any, x: Any) -> Any:
    """The network's own output (a timm model with ``num_classes=0``: its pooled embedding)."""
    return net(x)
