"""The manifest format (pydantic models only: never imports torch or yaml)."""

from zoo.manifest._base import MAX_ALIASES, MAX_DESCRIPTION, MAX_NAME
from zoo.manifest._checkpoint import Checkpoint, HfLocation, Remap
from zoo.manifest._models import (
    SCHEMA_VERSION,
    InputSpec,
    License,
    Manifest,
    Mpp,
    OutputSpec,
    Paper,
    Precision,
)
from zoo.manifest._schema import schema_text
from zoo.manifest._tiles import TilesInputSpec
from zoo.manifest._volume import Intensity, VolumeGrid, VolumeInputSpec
from zoo.manifest._wrappers import (
    OBJECT_KEY,
    WRAPPER_TYPES,
    FunctionWrapper,
    MonaiWrapper,
    OnnxWrapper,
    OpenClipWrapper,
    TimmWrapper,
    TorchHubWrapper,
    Traits,
    TransformersWrapper,
    Wrapper,
)

__all__ = [
    "MAX_ALIASES",
    "MAX_DESCRIPTION",
    "MAX_NAME",
    "OBJECT_KEY",
    "SCHEMA_VERSION",
    "WRAPPER_TYPES",
    "Checkpoint",
    "FunctionWrapper",
    "HfLocation",
    "InputSpec",
    "Intensity",
    "License",
    "Manifest",
    "MonaiWrapper",
    "Mpp",
    "OnnxWrapper",
    "OpenClipWrapper",
    "OutputSpec",
    "Paper",
    "Precision",
    "Remap",
    "TilesInputSpec",
    "TimmWrapper",
    "TorchHubWrapper",
    "Traits",
    "TransformersWrapper",
    "VolumeGrid",
    "VolumeInputSpec",
    "Wrapper",
    "schema_text",
]
