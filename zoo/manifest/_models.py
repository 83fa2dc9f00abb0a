"""The manifest: identity, weights, input and output contract of one backbone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, PrivateAttr, field_validator, model_validator
from pydantic import Tag as UnionTag
from typing_extensions import Self

from zoo.manifest._base import (
    REQUIREMENT_PATTERN,
    Aliases,
    Description,
    FieldError,
    Flag,
    GapField,
    Metrics,
    ModelName,
    NonEmptyStr,
    NonNegativeInteger,
    PositiveInteger,
    Reason,
    Requirement,
    SchemaVersion,
    StrictModel,
    Tag,
)
from zoo.manifest._checkpoint import Checkpoint, Remap, Source
from zoo.manifest._image import InputSpec
from zoo.manifest._tiles import PairsWith, TilesInputSpec, input_kind, input_schema, tiles_problems
from zoo.manifest._volume import VolumeGrid, VolumeInputSpec, volume_problems
from zoo.manifest._wrappers import OnnxWrapper, TimmWrapper, TransformersWrapper, Wrapper
from zoo.text import first_refusal

SCHEMA_VERSION = 1

Pooling = Literal["cls", "mean", "cls+mean", "pooler", "projection", "none"]
Dtype = Literal["float32", "bfloat16", "float16"]


class License(StrictModel):
    """Terms under which the weights may be used."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9.+\-]+$", examples=["MIT", "CC-BY-NC-ND-4.0"])]
    """An SPDX license identifier, or `other`."""
    commercial: Flag
    """Whether commercial use is allowed."""
    url: NonEmptyStr | None = None
    """Where the license text or terms are."""


class Paper(StrictModel):
    """The publication that introduced the model."""

    title: NonEmptyStr
    """Title of the paper."""
    url: NonEmptyStr | None = None
    """Link to the paper (arXiv, DOI, ...)."""


def _number_or_list(value: Any) -> str:
    return "list" if isinstance(value, list | tuple) else "number"


#: One channel count for every level, or one per level. Tagged by the value's YAML type, so a
#: wrong value gets one error (from the branch it was meant for), not one per branch.
FeatureDim = Annotated[
    Annotated[PositiveInteger, UnionTag("number")]
    | Annotated[list[PositiveInteger], UnionTag("list")],
    Discriminator(_number_or_list),
]


class OutputSpec(StrictModel):
    """The output contract: what `model(x)` and `out_indices` return."""

    embedding_dim: PositiveInteger
    """`D` of the embedding `model(x) -> [B, D]`."""
    pooling: Pooling
    """How the embedding is made: `cls` (final token 0), `mean` (mean of the patch tokens),
    `cls+mean` (both concatenated; registers never averaged in), `pooler` (the model's own pooled
    output, before any projection), `projection` (a vision-language image tower's projected
    image embedding, the one compared with text embeddings: `embedding_dim` is the projection's
    output width, checked against the built projection), `none` (what the model returns)."""
    prefix_tokens: NonNegativeInteger = 0
    """Tokens before the patch grid: class token plus register tokens."""
    patch_size: PositiveInteger | None = None
    """Patch size of a ViT (feature maps are `H/patch x W/patch`); null for CNNs."""
    feature_levels: NonNegativeInteger = 0
    """Number of blocks addressable by `out_indices` (0: no feature maps)."""
    feature_dim: FeatureDim | None = None
    """Channels of each feature map: one number (the token dim of a ViT) or one per level."""
    grid: VolumeGrid | None = None
    """3-D encoders (`input.kind: volume`): the stride of each feature map `[B, C, d, h, w]`, the
    input size multiple, and the levels the embedding pools."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.pooling in ("cls", "cls+mean") and self.prefix_tokens < 1:
            raise ValueError(f"pooling {self.pooling} needs a class token: prefix_tokens >= 1")
        if self.pooling in ("mean", "cls+mean") and self.patch_size is None and self.grid is None:
            raise ValueError(
                f"pooling {self.pooling} averages patch tokens: set patch_size "
                "(a 3-D encoder sets output.grid instead)"
            )
        if isinstance(self.feature_dim, list) and len(self.feature_dim) != self.feature_levels:
            raise ValueError(
                f"feature_dim lists {len(self.feature_dim)} values for "
                f"{self.feature_levels} feature_levels"
            )
        if isinstance(self.feature_dim, int) and self.grid is None:
            factor = {"cls": 1, "mean": 1, "cls+mean": 2}.get(self.pooling)
            if factor and self.embedding_dim != factor * self.feature_dim:
                what = "twice the token dim" if factor == 2 else "the token dim"
                raise ValueError(
                    f"pooling {self.pooling} makes embedding_dim {what} "
                    f"({factor * self.feature_dim}), not {self.embedding_dim}"
                )
        return self


class Precision(StrictModel):
    """Numeric precision."""

    default: Dtype = "float32"
    """The dtype the model is loaded in unless the caller asks otherwise."""
    safe: list[Dtype] = ["float32"]
    """Dtypes known to give the authors' results."""


class Manifest(StrictModel):
    """One backbone of the catalogue."""

    schema_version: SchemaVersion
    """Version of this format."""
    name: ModelName
    """`<group>/<name>`; equal to the file's path under its catalogue root, minus `.yaml`."""
    aliases: Aliases = []
    """Other names for this entry: other libraries' names, namespaced (`trident/uni_v1`) or bare
    where that library's users type bare names (mmpretrain's model names); at most 32."""
    description: Description = ""
    """What the model is, what it was trained on and which embedding this entry returns
    (at most 8,000 characters)."""
    tags: list[Tag] = []
    """Free-form lowercase labels (`pathology`, `vit`, `dinov2`)."""
    license: License | None = None
    """License of the weights."""
    paper: Paper | None = None
    """Publication."""
    gated: Flag = False
    """The weights need an access token (a gated Hugging Face repository)."""
    wrapper: Wrapper
    """Which library builds the `nn.Module`."""
    requires: list[Requirement] = []
    """Python packages beyond zoo's extras that building this model needs (`pkg>=version`).
    `zoo doctor` reports the missing ones; loading without them is one error naming the install
    command. A `function` path or `$object` from such a package is imported only when the user
    trusts it (`ZOO_TRUSTED_MODULES`, or `trust_remote_code=True` / `--trust-remote-code`)."""
    checkpoint: Checkpoint | None = None
    """Where the weights live; omit for random initialization."""
    input: Annotated[
        Annotated[InputSpec, UnionTag("image")]
        | Annotated[VolumeInputSpec, UnionTag("volume")]
        | Annotated[TilesInputSpec, UnionTag("tiles")],
        Discriminator(input_kind),
        Field(json_schema_extra=input_schema),
    ]
    """Input size and preprocessing: an image (`[C, H, W]`), a volume (`kind: volume`,
    `[C, D, H, W]`), or a slide encoder's bag of tile features (`kind: tiles`, `[N, D]`)."""
    output: OutputSpec
    """The output contract."""
    precision: Precision = Precision()
    """Default and safe dtypes."""
    metrics: Metrics = {}
    """Figures: `params` (the built network's, checked by `--build`), `imagenet_top1`, ..."""
    pairs_with: PairsWith = []
    """Slide encoders (`input.kind: tiles`): the patch-encoder entries whose features it takes,
    each the exact entry (pooling included) whose `output.embedding_dim` is `input.feature_dim`."""
    same_weights_as: ModelName | None = None
    """Another entry that declares the same weights (e.g. the same model with another pooling)."""
    known_gaps: dict[GapField, Reason] = {}
    """Validation warnings this entry cannot fix, each with the reason a reviewer can check
    (`checkpoint.sha256: No public source states ...`). `zoo validate` shows them as known and
    `--strict` passes them; a gap that no longer draws its warning is an error."""

    _file: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, data: Any) -> Any:
        # The YAML reader refuses these with a line and column already; this catches manifests
        # built in Python (zoo.compat, timm names, overrides).
        found = first_refusal(data) if isinstance(data, dict) else None
        if found is not None:
            raise FieldError(*found)
        return data

    @field_validator("requires", mode="before")
    @classmethod
    def _requirements(cls, value: Any) -> Any:
        pattern = re.compile(REQUIREMENT_PATTERN)
        for item in value if isinstance(value, list) else []:
            if isinstance(item, str) and not pattern.match(item):
                raise ValueError(
                    f"{item!r} is not a package requirement: write `name` or `name>=version` "
                    "(PEP 508 names and version specifiers; no extras, URLs or markers)"
                )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        ckpt, wrapper = self.checkpoint, self.wrapper
        if ckpt is not None and ckpt.timm is not None and not isinstance(wrapper, TimmWrapper):
            raise FieldError(("checkpoint", "timm"), "checkpoint.timm needs wrapper.type: timm")
        if isinstance(wrapper, OnnxWrapper):
            if ckpt is None or ckpt.timm is not None:
                raise FieldError(
                    ("checkpoint",),
                    "an onnx wrapper needs its model file in checkpoint.path, url or hf.filename",
                )
            if ckpt.hf is not None and not ckpt.hf.filename:
                raise FieldError(
                    ("checkpoint", "hf"),
                    "an onnx wrapper needs its model file in checkpoint.path, url or hf.filename",
                )
            ignored = [
                name
                for name, given in (
                    ("key", ckpt.key is not None),
                    ("remap", ckpt.remap != Remap()),
                    ("strict", not ckpt.strict),
                    ("format", ckpt.format != "auto"),
                )
                if given
            ]
            if ignored:
                raise FieldError(
                    ("checkpoint", ignored[0]),
                    f"checkpoint.{ignored[0]} cannot apply to an onnx wrapper: the ONNX file is run "
                    "as it is (its weights are inside the graph); remove it",
                )
            if self.output.feature_levels > len(wrapper.hidden_states):
                raise FieldError(
                    ("output", "feature_levels"),
                    f"output.feature_levels is {self.output.feature_levels} but wrapper.hidden_states "
                    f"names {len(wrapper.hidden_states)} outputs",
                )
        if isinstance(wrapper, TransformersWrapper) and ckpt is not None:
            if ckpt.url is not None:
                raise FieldError(
                    ("checkpoint", "url"),
                    "a transformers checkpoint is a folder: use checkpoint.hf or checkpoint.path",
                )
            if ckpt.hf is not None and ckpt.hf.filename is not None:
                raise FieldError(
                    ("checkpoint", "hf", "filename"),
                    "a transformers checkpoint is a whole repository: remove hf.filename",
                )
        if (
            ckpt is not None
            and ckpt.hf is not None
            and ckpt.hf.filename is None
            and not isinstance(wrapper, TransformersWrapper)
        ):
            raise FieldError(
                ("checkpoint", "hf", "filename"),
                f"a {wrapper.type} wrapper loads one weights file: set checkpoint.hf.filename "
                "(only a transformers wrapper takes a whole repository)",
            )
        if isinstance(wrapper, TimmWrapper) and not isinstance(self.input, TilesInputSpec):
            in_chans = wrapper.kwargs.get("in_chans", 3)
            if in_chans != self.input.in_chans:
                raise FieldError(
                    ("wrapper", "kwargs", "in_chans"),
                    f"wrapper.kwargs.in_chans is {in_chans} but input has {self.input.in_chans} "
                    "channels (one mean/std value per channel)",
                )
        for loc, message in volume_problems(self) + tiles_problems(self):
            raise FieldError(loc, message)
        if self.same_weights_as == self.name:
            raise FieldError(("same_weights_as",), "same_weights_as names this entry itself")
        if self.name in self.aliases:
            raise FieldError(("aliases",), "aliases repeat the entry's own name")
        if len(set(self.aliases)) != len(self.aliases):
            raise FieldError(("aliases",), "aliases list a name twice")
        for alias in self.aliases:
            if alias.endswith((".yaml", ".yml")) or alias.startswith("timm/"):
                raise FieldError(
                    ("aliases",),
                    f"alias {alias!r} would be read as a manifest file or a timm name: rename it",
                )
        names = [
            re.split(r"[\s=!<>~]", r, maxsplit=1)[0].lower().replace("_", "-")
            for r in self.requires
        ]
        if len(set(names)) != len(names):
            raise FieldError(
                ("requires",),
                "requires names a package twice: join its version specifiers with a comma",
            )
        return self

    @property
    def group(self) -> str:
        """The part of the name before the slash."""
        return self.name.split("/", 1)[0]

    @property
    def source(self) -> Source:
        """Where the weights come from: `hf`, `url`, `local`, `timm` or `none` (random init)."""
        return self.checkpoint.source if self.checkpoint is not None else "none"

    @property
    def file(self) -> Path | None:
        """The YAML file this manifest was read from, if any."""
        return self._file

    def with_file(self, file: Path | None) -> Self:
        """Record the file this manifest came from."""
        self._file = file
        return self

    def summary(self) -> dict[str, Any]:
        """The fields `zoo list --json` prints."""
        return {
            "name": self.name,
            "group": self.group,
            "wrapper": self.wrapper.type,
            "source": self.source,
            "embedding_dim": self.output.embedding_dim,
            "kind": input_kind(self.input),
            "input_size": list(self.input.size) if hasattr(self.input, "size") else None,
            "mpp": mpp.value if (mpp := getattr(self.input, "mpp", None)) else None,
            "mpp_basis": mpp.basis if mpp else None,
            "pooling": self.output.pooling,
            "prefix_tokens": self.output.prefix_tokens,
            "patch_size": self.output.patch_size,
            "license": self.license.id if self.license else None,
            "commercial": self.license.commercial if self.license else None,
            "gated": self.gated,
            "tags": list(self.tags),
            "aliases": list(self.aliases),
            "same_weights_as": self.same_weights_as,
            "pairs_with": list(self.pairs_with),
        }
