"""Shared pieces of the open_clip recipes (QuiltNet, PathGen-CLIP): build with open_clip's own
factory, preprocess with its evaluation transform, read the projected or the pooled embedding.

Each recipe still names its own open_clip configuration from its authors' source.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from zoo.verify.recipes._layout import state_dict_file


def create(config: str) -> Callable[[bool], Any]:
    """``build``: ``open_clip.create_model_and_transforms(config)`` without pretrained weights
    (open_clip's own ViT; there is no reduced form, an open_clip tower takes only ``img_size``)."""

    def build(reduced: bool) -> Any:
        import open_clip

        model, _, _ = open_clip.create_model_and_transforms(config)
        return model.eval()

    return build


@cache
def _eval_transform(config: str) -> Any:
    import open_clip

    # The third value of create_model_and_transforms is the evaluation transform (preprocess_val).
    return open_clip.create_model_and_transforms(config)[2]


def eval_transform(config: str) -> Callable[[Any], Any]:
    """``preprocess``: the evaluation transform open_clip returns with the model."""

    def preprocess(image: Any) -> Any:
        return _eval_transform(config)(image.convert("RGB"))

    return preprocess


def projected(net: Any, x: Any) -> Any:
    """``model.encode_image(x)``: the projected image embedding (``normalize=False``)."""
    return net.encode_image(x)


def class_token(net: Any, x: Any) -> Any:
    """The class token after ``ln_post``, the input of the projection of open_clip's ViT (its
    ``pool_type`` is ``tok``): read with a forward hook on ``visual.ln_post``."""
    seen: list[Any] = []
    handle = net.visual.ln_post.register_forward_hook(lambda m, i, out: seen.append(out))
    try:
        net.encode_image(x)
    finally:
        handle.remove()
    return seen[-1][:, 0]


#: The released file of an open_clip training run: the whole CLIP model's state dict, pickled,
#: keys as ``model.state_dict()`` names them (``visual.*``, ``transformer.*``, ...).
save_whole, load_whole = state_dict_file("pickle")
