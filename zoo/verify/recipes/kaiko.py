"""kaiko.ai's pathology ViTs (towards_large_pathology_fms: ViT-S/16, S/8, B/16, B/8, L/14)."""

from __future__ import annotations

from typing import Any

from zoo.verify.recipe import Recipe, register
from zoo.verify.recipes._layout import state_dict_file
from zoo.verify.recipes._timm import REDUCE, forward, timm_model

_COMMIT = "bfcde171e2003e862f9f821226788da9ee571a13"
_SOURCE = (
    f"https://github.com/kaiko-ai/towards_large_pathology_fms/blob/{_COMMIT}/hubconf.py "
    "(the torch.hub entry points) and README.md (the preprocessing of the end-to-end example)"
)
_RELEASE = "https://github.com/kaiko-ai/towards_large_pathology_fms/releases/download/0.0.1/"


def _preprocess(image: Any) -> Any:
    import torch
    from torchvision.transforms import v2

    # The README's v2 pipeline: the resize runs on the uint8 tensor (bilinear, antialiased).
    steps = [
        v2.ToImage(),
        v2.Resize(size=224),
        v2.CenterCrop(size=224),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    ]
    return v2.Compose(steps)(image.convert("RGB"))


#: The README resizes the uint8 tensor (torchvision v2's tensor kernel, antialiased), as the
#: entries do (input.resize_on: tensor).
_TOLERANCE = 1e-5
_NOTE = ""
_save, _load = state_dict_file("pickle")


def _save_dinov2(net: Any, path: Any) -> None:
    """vitl14.pth is in DINOv2's own layout (timm's checkpoint filter converts it on load, see
    ``_convert_dinov2`` in timm/models/vision_transformer.py): ``register_tokens``, a
    ``mask_token``, and the class token's position folded into ``pos_embed`` (its first row)."""
    import torch

    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    position = torch.full_like(state["cls_token"], 0.01)  # any class position: folded back on load
    state["cls_token"] = state["cls_token"] - position
    state["pos_embed"] = torch.cat([position, state["pos_embed"]], dim=1)
    state["register_tokens"] = state.pop("reg_token")
    state["mask_token"] = torch.zeros(1, state["cls_token"].shape[-1])
    torch.save(state, path)


def _load_dinov2(net: Any, path: Any) -> None:
    """timm's pretrained loader: its checkpoint filter (DINOv2 layout, position table resampled
    to the model's grid), then a strict load."""
    import torch
    from timm.models.vision_transformer import checkpoint_filter_fn

    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(checkpoint_filter_fn(state, net), strict=True)


for entry, architecture in (
    ("vits16", "vit_small_patch16_224"),
    ("vits8", "vit_small_patch8_224"),
    ("vitb16", "vit_base_patch16_224"),
    ("vitb8", "vit_base_patch8_224"),
    ("vitl14", "vit_large_patch14_reg4_dinov2"),
):
    register(
        Recipe(
            names=(f"pathology/kaiko_{entry}",),
            source=f"{_SOURCE}; entry point {entry}",
            how="package",
            # timm.create_model(model_name=..., dynamic_img_size=True, pretrained_cfg={"url":
            # <release>/<entry>.pth, "num_classes": 0}, pretrained=True): the release file is a
            # flat state dict loaded strictly; num_classes 0 leaves the pooled class token.
            build=timm_model(
                architecture,
                dynamic_img_size=True,
                pretrained_cfg={"url": f"{_RELEASE}{entry}.pth", "num_classes": 0},
            ),
            preprocess=_preprocess,
            # features = model(image_tensor.unsqueeze(0)): [1, width].
            embed=forward,
            filename=f"{entry}.pth",
            save=_save_dinov2 if entry == "vitl14" else _save,
            load=_load_dinov2 if entry == "vitl14" else _load,
            reduce=REDUCE,
            tolerance=_TOLERANCE,
            note=_NOTE,
        )
    )
