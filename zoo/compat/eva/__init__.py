"""eva's Python API on zoo's loader: the backbone registries, the model wrappers, the output transforms.

Code and configs written for kaiko-ai/eva keep working with their imports (or
``class_path``) changed to ``zoo.compat.eva``, whichever eva they were written for::

    from zoo.compat.eva import backbone_registry            # eva >= 0.3

    model = backbone_registry.get("universal/vit_small_patch16_224_random")(out_indices=2)

    from zoo.compat.eva import BackboneModelRegistry        # eva 0.2.x

    model = BackboneModelRegistry.load_model(
        model_name="universal/vit_small_patch16_224_random", **{"out_indices": 2}
    )

Every model is built by zoo's loader: the registries serve the catalogue, timm and
functions registered in-process, and each wrapper describes its model as an in-memory
manifest (``model.model.manifest``) handed to :func:`zoo.load_manifest`. Constructor
arguments are eva's, including the older ``tensor_transforms`` and the newer
``transforms`` spelling of the output transform. The tests in ``tests/compat/`` re-express
eva's own tests (each cites the eva file and tag it mirrors); the README lists the
differences that remain on purpose.
"""

from __future__ import annotations

from zoo.compat.eva.base import BaseModel
from zoo.compat.eva.registry import (
    BackboneModelRegistry,
    BackboneRegistry,
    ModelFromRegistry,
    Registry,
    backbone_registry,
    register_model,
    timm_model,
)
from zoo.compat.eva.transforms import AsDiscrete, ExtractCLSFeatures, ExtractPatchFeatures
from zoo.compat.eva.wrappers import (
    HuggingFaceModel,
    ModelFromFunction,
    ONNXModel,
    TimmModel,
    TorchHubModel,
)

__all__ = [
    "AsDiscrete",
    "BackboneModelRegistry",
    "BackboneRegistry",
    "BaseModel",
    "ExtractCLSFeatures",
    "ExtractPatchFeatures",
    "HuggingFaceModel",
    "ModelFromFunction",
    "ModelFromRegistry",
    "ONNXModel",
    "Registry",
    "TimmModel",
    "TorchHubModel",
    "backbone_registry",
    "register_model",
    "timm_model",
]
