"""Shared base model and constrained types of the manifest format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints
from pydantic_core import PydanticCustomError

MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*/[a-z0-9][a-z0-9_.\-]*$"
DOTTED_PATH_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"

#: Limits that keep every manifest, and all work done per name, small (the longest real name is
#: about 70 characters, the longest description under 3,000, no entry has more than a few aliases).
MAX_NAME = 128
MAX_ALIASES = 32
MAX_DESCRIPTION = 8000

ModelName = Annotated[
    str,
    StringConstraints(pattern=MODEL_NAME_PATTERN, max_length=MAX_NAME),
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
Md5 = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{32}$"),
    Field(description="MD5 of the file: 32 lowercase hexadecimal digits."),
]
ALIAS_PATTERN = r"^([a-z0-9][a-z0-9_.\-]*/)?[a-z0-9][a-z0-9_.\-]*$"
AliasName = Annotated[
    str,
    StringConstraints(pattern=ALIAS_PATTERN, max_length=MAX_NAME),
    Field(
        description="Another name for the entry: `<namespace>/<name>` (`trident/uni_v1`, "
        "`lazyslide/conch_v1.5`, `radiology/voco_b`), or a bare name without a slash where "
        "another library's users type names without a namespace (eva's `segresnet_encoder`, "
        "mmpretrain's `beit-l-p14_eva-pre_3rdparty_in1k-196px`). No name or alias may be "
        "claimed twice in a catalogue.",
        examples=["trident/uni_v1", "segresnet_encoder", "beit-l-p14_eva-pre_3rdparty_in1k-196px"],
    ),
]


def _at_most(limit: int, what: str) -> Callable[[Any], Any]:
    """A before-validator refusing a list longer than ``limit`` as one error, before its items
    are validated (5,000 aliases give one message, not 5,000)."""

    def check(value: Any) -> Any:
        if isinstance(value, list) and len(value) > limit:
            raise PydanticCustomError(
                "too_long",
                "{count} {what}; a manifest may have at most {limit}",
                {"count": len(value), "what": what, "limit": limit},
            )
        return value

    return check


Aliases = Annotated[
    list[AliasName],
    Field(max_length=MAX_ALIASES),
    BeforeValidator(_at_most(MAX_ALIASES, "aliases")),
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
DottedPath = Annotated[
    str,
    StringConstraints(pattern=DOTTED_PATH_PATTERN),
    Field(description="A dotted Python path such as `timm.layers.SwiGLUPacked`."),
]


def _typed(code: str, expected: str, *refused: type) -> Callable[[Any], Any]:
    """A before-validator refusing values that YAML typed otherwise than the schema says.

    pydantic's lax mode would turn ``"192"`` into 192, ``yes`` into 1 and ``16.0`` into 16: a
    manifest that validates must also match its JSON Schema, so these are errors (of pydantic
    type ``code``) that say what YAML read.
    """

    def refuse(got: str) -> PydanticCustomError:
        return PydanticCustomError(
            code, "expected {expected}, got {got}", {"expected": expected, "got": got}
        )

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            if bool in refused:
                shown = str(value).lower()
                raise refuse(
                    f"the boolean {shown} (YAML reads yes/no, true/false and on/off as booleans)"
                )
        elif isinstance(value, str) and str in refused:
            raise refuse(f"the text {value!r} (write it without quotes)")
        elif isinstance(value, int | float) and type(value) in refused:
            raise refuse(f"the number {value!r}")
        return value

    return check


# Strict scalars: every number and flag of a manifest is read as YAML typed it, never coerced.
# The bounds come before the check so that they stay in the JSON Schema (minimum, ...).
_INTEGER = BeforeValidator(_typed("int_type", "an integer", bool, str, float))
_NUMBER = BeforeValidator(_typed("float_type", "a number", bool, str))
PositiveInteger = Annotated[int, Strict(), Field(gt=0), _INTEGER]
NonNegativeInteger = Annotated[int, Strict(), Field(ge=0), _INTEGER]
#: A real number: an integer is accepted (``crop_pct: 1``), text and booleans are not.
Number = Annotated[float, Strict(), _NUMBER]
PositiveNumber = Annotated[float, Strict(), Field(gt=0), _NUMBER]
#: A fraction in (0, 1].
Fraction = Annotated[float, Strict(), Field(gt=0, le=1), _NUMBER]
Flag = Annotated[
    bool, Strict(), BeforeValidator(_typed("bool_type", "true or false", str, int, float))
]
SchemaVersion = Annotated[
    Literal[1], BeforeValidator(_typed("literal_error", "the integer 1", bool, str, float))
]

REQUIREMENT_PATTERN = (
    r"^[A-Za-z0-9]([A-Za-z0-9._\-]*[A-Za-z0-9])?"
    r"(\s*(==|!=|<=|>=|<|>|~=)\s*[0-9][0-9A-Za-z.+!*]*"
    r"(\s*,\s*(==|!=|<=|>=|<|>|~=)\s*[0-9][0-9A-Za-z.+!*]*)*)?$"
)
Requirement = Annotated[
    str,
    StringConstraints(pattern=REQUIREMENT_PATTERN, max_length=100),
    Field(
        description="A Python package and the versions that work: `name>=version` (PEP 508 "
        "name and version specifiers, no extras, URLs or markers).",
        examples=["musk>=1.0", "einops>=0.6,<1"],
    ),
]
#: The validation warnings a manifest may declare as known gaps (``known_gaps``).
GapField = Literal["checkpoint.sha256", "checkpoint.hf.revision", "paper"]
#: Why a gap cannot be closed: a sentence, with the source that was checked.
Reason = Annotated[str, StringConstraints(min_length=20, strip_whitespace=True)]
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

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class Mpp(StrictModel):
    """The physical scale of the tiles an encoder was trained on (microns per pixel)."""

    value: PositiveNumber
    """Microns per pixel (0.5 is 20x, 0.25 is 40x, 1.0 is 10x)."""
    basis: Literal["stated", "inferred"]
    """`stated`: the authors say it (cite where in `source`); `inferred`: derived from what they
    say (the magnification, the tile size in microns), with the reasoning in `source`."""
    source: NonEmptyStr
    """Where the value comes from: the URL (and commit) with the authors' words, or the
    inference."""
