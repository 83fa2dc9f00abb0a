"""THE table of wrapper types: one object per type owns its overrides and its build.

Its torch-free facts (extra, modules, runs repository code, builds on meta, the weights file is
the model) are the manifest model's ``traits`` (:class:`zoo.manifest.Traits`). A new wrapper
type is one manifest model, one module here and one row below; ``tests/loading`` checks that
the rows are exactly :data:`zoo.manifest.WRAPPER_TYPES`. Importing this module imports torch,
not the libraries (timm, transformers, onnxruntime, MONAI, open_clip), which each type imports
when it builds.
"""

from __future__ import annotations

from zoo.loading.wrappers import function, monai, onnx, open_clip, timm, torchhub, transformers
from zoo.loading.wrappers._base import Adapter, BuildContext, Mode, WrapperType

WRAPPERS: dict[str, WrapperType] = {
    "timm": timm.WRAPPER,
    "transformers": transformers.WRAPPER,
    "onnx": onnx.WRAPPER,
    "torchhub": torchhub.WRAPPER,
    "function": function.WRAPPER,
    "monai": monai.WRAPPER,
    "open_clip": open_clip.WRAPPER,
}

__all__ = ["WRAPPERS", "Adapter", "BuildContext", "Mode", "WrapperType"]
