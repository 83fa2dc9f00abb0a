"""Shared pieces of recipes: released checkpoint layouts and torchvision evaluation transforms.

Each recipe still states its own values (file name, prefix, sizes, statistics, interpolation)
from its authors' source; these functions only spell the common shapes once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def state_dict_file(
    fmt: Literal["pickle", "safetensors"] = "pickle",
    *,
    prefix: str = "",
    wrap: str | None = None,
    of: Callable[[Any], Any] | None = None,
) -> tuple[Callable[[Any, Path], None], Callable[[Any, Path], None]]:
    """``(save, load)`` for a released state dict: keys with ``prefix``, nested under ``wrap``
    (``{"state_dict": {...}}``) when given, of the module ``of(net)`` (default: ``net``)."""

    def target(net: Any) -> Any:
        return of(net) if of is not None else net

    def save(net: Any, path: Path) -> None:
        import torch

        state = {
            prefix + k: v.detach().clone().contiguous() for k, v in target(net).state_dict().items()
        }
        if fmt == "safetensors":
            from safetensors.torch import save_file

            save_file(state, str(path))
            return
        torch.save({wrap: state} if wrap else state, path)

    def load(net: Any, path: Path) -> None:
        import torch

        if fmt == "safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if wrap:
                state = state[wrap]
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        target(net).load_state_dict(state, strict=True)

    return save, load


def torchvision_eval(
    resize: int | Sequence[int],
    crop: int | Sequence[int] | None,
    *,
    interpolation: Literal["bilinear", "bicubic", "nearest"],
    mean: Sequence[float],
    std: Sequence[float],
) -> Callable[[Any], Any]:
    """``Resize(resize) -> [CenterCrop(crop)] -> ToTensor -> Normalize``, the torchvision snippet
    most model cards give (an int ``resize`` resizes the short side; a pair squashes)."""

    def preprocess(image: Any) -> Any:
        from torchvision import transforms as T

        mode = getattr(T.InterpolationMode, interpolation.upper())
        steps: list[Any] = [
            T.Resize(resize if isinstance(resize, int) else list(resize), interpolation=mode)
        ]
        if crop is not None:
            steps.append(T.CenterCrop(crop if isinstance(crop, int) else list(crop)))
        steps += [T.ToTensor(), T.Normalize(list(mean), list(std))]
        return T.Compose(steps)(image.convert("RGB"))

    return preprocess


def timm_data_config(net: Any, image: Any) -> Any:
    """timm's own evaluation transform for a model: ``create_transform(**resolve_data_config(
    model=net))``, the snippet of most timm-based model cards."""
    from timm.data import create_transform, resolve_data_config

    return create_transform(**resolve_data_config({}, model=net))(image.convert("RGB"))
