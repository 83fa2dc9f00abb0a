"""Shared base model and constrained types of the manifest format."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*/[a-z0-9][a-z0-9_.\-]*$"
DOTTED_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"

ModelName = Annotated[
    str,
    StringConstraints(pattern=MODEL_NAME_PATTERN, max_length=200),
    Field(
        description="`<group>/<name>`: lowercase letters, digits, `_`, `-` and `.`, one slash.",
        examples=["pathology/kaiko_vits16"],
    ),
]
Sha256 = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="SHA-256 of the file: 64 lowercase hexadecimal digits."),
]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
DottedPath = Annotated[
    str,
    StringConstraints(pattern=DOTTED_PATH_PATTERN),
    Field(description="A dotted Python path such as `timm.layers.SwiGLUPacked`."),
]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-.+]*$", max_length=64)]


class StrictModel(BaseModel):
    """Base of every manifest model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=True,
        allow_inf_nan=False,
    )


class FieldError(ValueError):
    """A model-level check that blames one field: ``loc`` is its path from the model."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
