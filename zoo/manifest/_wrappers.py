"""The ``wrapper:`` block: which library builds the ``nn.Module``, one model per type."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from zoo.manifest._base import DOTTED_PATH_PATTERN, DottedPath, Flag, NonEmptyStr, StrictModel
from zoo.manifest._refs import OBJECT_MODULES, current, hub_code_keys, reference_problem

#: The key that marks a Python object named by dotted path inside ``kwargs``.
OBJECT_KEY = "$object"

#: Keyword arguments the loader sets itself; a manifest may not set them.
RESERVED_TIMM_KWARGS = frozenset(
    {
        "num_classes",
        "pretrained",
        "features_only",
        "out_indices",
        "pretrained_cfg",
        "pretrained_cfg_overlay",
        "checkpoint_path",
        "model_name",
    }
)

_DOTTED = re.compile(DOTTED_PATH_PATTERN)


@dataclass(frozen=True)
class Traits:
    """What a wrapper type is, as facts every layer may ask without importing torch.

    Each wrapper model below carries one (``TimmWrapper.traits``); the loading side of the
    same type is its row in :data:`zoo.loading.wrappers.WRAPPERS`. Nothing else in zoo
    branches on ``wrapper.type``.

    Attributes:
        extra: The ``pip install 'zoo-backbones[extra]'`` that brings what it builds with.
        modules: Top-level modules it imports to build (``zoo doctor`` looks for them).
        runs_repository_code: Building it always runs code from a repository (a ``hubconf.py``),
            so ``zoo validate --build`` builds it only with ``--trust-remote-code``.
        builds_on_meta: It can be built on the ``meta`` device (no memory, no weights).
        weights_file_is_model: The checkpoint file is the model (an ONNX graph): nothing builds
            without it, and its side files travel with it.
        takes_overrides: Caller keyword arguments (``img_size``...) can change what it builds.
    """

    extra: str
    modules: tuple[str, ...]
    runs_repository_code: bool = False
    builds_on_meta: bool = True
    weights_file_is_model: bool = False
    takes_overrides: bool = True


def check_object_refs(value: Any, where: str = "kwargs") -> Any:
    """Check every ``{$object: dotted.path}`` inside a kwargs value, recursively; returns the
    value with old module paths under their current name (:func:`~zoo.manifest._refs.current`).

    Nothing is imported here: the path's form, private names and the deny-list are checked
    (:func:`~zoo.manifest._refs.reference_problem`); the loader resolves it, under the
    allow-list.
    """
    if isinstance(value, dict):
        if OBJECT_KEY in value:
            if len(value) != 1:
                raise ValueError(f"{where}: a {{{OBJECT_KEY}: ...}} mapping takes no other keys")
            target = value[OBJECT_KEY]
            if not isinstance(target, str) or not _DOTTED.match(target):
                raise ValueError(
                    f"{where}: {OBJECT_KEY} must be a dotted path such as torch.nn.SiLU, "
                    f"got {target!r}"
                )
            target = current(target)
            problem = reference_problem(target)
            if problem is not None:
                raise ValueError(f"{where}: {OBJECT_KEY} {problem}")
            return {OBJECT_KEY: target}
        return {key: check_object_refs(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [check_object_refs(item, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


Kwargs = Annotated[
    dict[str, Any],
    Field(
        description=(
            "Keyword arguments for the builder. A Python object (a class or function) is written "
            f"`{{{OBJECT_KEY}: module.Name}}` and imported at load time only: a class or function "
            f"defined in {', '.join(OBJECT_MODULES)} (or a package the manifest `requires`, only "
            "with the user's `--trust-remote-code`, or in `ZOO_TRUSTED_MODULES`)."
        )
    ),
]


class _KwargsMixin(StrictModel):
    @field_validator("kwargs", "arguments", mode="after", check_fields=False)
    @classmethod
    def _object_refs(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return check_object_refs(value, info.field_name or "kwargs")


class TimmWrapper(_KwargsMixin):
    """Build with `timm.create_model(architecture, num_classes=0, **kwargs)`."""

    traits: ClassVar[Traits] = Traits("timm", ("torch", "safetensors", "timm"))

    type: Literal["timm"]
    """Wrapper type."""
    architecture: Annotated[str, Field(pattern=r"^[a-z0-9_]+$", examples=["vit_small_patch16_224"])]
    """timm architecture name, without a pretrained tag (the tag goes in `checkpoint.timm`)."""
    kwargs: Kwargs = {}
    """Extra `timm.create_model` keyword arguments (`img_size`, `dynamic_img_size`, `reg_tokens`, ...).
    `num_classes`, `pretrained`, `features_only` and `out_indices` are set by zoo."""

    @field_validator("architecture", mode="before")
    @classmethod
    def _no_tag(cls, value: Any) -> Any:
        if isinstance(value, str) and "." in value:
            arch, _, tag = value.partition(".")
            raise ValueError(
                f"architecture takes no pretrained tag: write architecture: {arch} "
                f"and checkpoint: {{timm: {tag}}}"
            )
        return value

    @field_validator("kwargs", mode="after")
    @classmethod
    def _not_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_TIMM_KWARGS & value.keys())
        if reserved:
            raise ValueError(f"{', '.join(reserved)} is set by zoo and cannot be given in kwargs")
        return value


class TransformersWrapper(_KwargsMixin):
    """Build with Hugging Face transformers (`from_pretrained`, or `from_config` without weights)."""

    traits: ClassVar[Traits] = Traits("transformers", ("torch", "safetensors", "transformers"))

    type: Literal["transformers"]
    """Wrapper type."""
    model_class: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "AutoModel"
    """A transformers class name, e.g. `AutoModel`, `Dinov2Model`, `ViTModel`."""
    config: dict[str, Any] = {}
    """Inline configuration. With `model_type` it builds the architecture offline; with weights it
    overrides the repository's `config.json` field by field."""
    trust_remote_code: Flag = False
    """The repository's own Python code is needed. Runs only if the caller also passes
    `trust_remote_code=True` (CLI `--trust-remote-code`)."""
    kwargs: Kwargs = {}
    """Extra keyword arguments for `from_pretrained` / `from_config` (e.g. `add_pooling_layer`).
    Hub and remote-code keys (`trust_remote_code`, `revision`, `code_revision`, ...) are refused
    here and in `config`: remote code is asked for with `trust_remote_code` above only."""

    @field_validator("kwargs", "config", mode="after")
    @classmethod
    def _no_hub_code(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        found = hub_code_keys(value, info.field_name or "kwargs")
        if found:
            raise ValueError(
                f"{found[0]}: transformers hub and remote-code keys (trust_remote_code, auto_map, "
                "code_revision, revision, name_or_path, `_`-prefixed keys, ...) cannot be set here; "
                "a model that needs its repository's code says wrapper.trust_remote_code: true"
            )
        return value


class OnnxWrapper(StrictModel):
    """Run an ONNX file with onnxruntime; the file is the checkpoint (`path`, `url` or `hf`)."""

    traits: ClassVar[Traits] = Traits(
        "onnx",
        ("torch", "onnxruntime"),
        builds_on_meta=False,
        weights_file_is_model=True,
        takes_overrides=False,
    )

    type: Literal["onnx"]
    """Wrapper type."""
    providers: list[NonEmptyStr] | None = None
    """Execution providers in order of preference; default: CUDA when a GPU is present, else CPU."""
    output: NonEmptyStr | None = None
    """Name of the graph output holding the final tokens `[B, N, C]` or the embedding `[B, D]`;
    default: the first output."""
    hidden_states: list[NonEmptyStr] = []
    """Graph outputs holding each block's tokens `[B, N, C]`, in block order (for `out_indices`)."""


class TorchHubWrapper(_KwargsMixin):
    """Build with `torch.hub.load(repo, entry, **kwargs)`."""

    traits: ClassVar[Traits] = Traits("torch", ("torch", "safetensors"), runs_repository_code=True)

    type: Literal["torchhub"]
    """Wrapper type."""
    repo: NonEmptyStr
    """`owner/name[:ref]` on GitHub, or a local folder with a `hubconf.py` (`source: local`)."""
    entry: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    """The entry point defined in the repository's `hubconf.py`."""
    source: Literal["github", "local"] = "github"
    """Where `repo` lives. A local folder is relative to the manifest's folder unless absolute."""
    kwargs: Kwargs = {}
    """Keyword arguments for the entry point."""
    trust_repo: Flag = False
    """A remote repository runs its own code: required for `source: github`."""


class FunctionWrapper(_KwargsMixin):
    """Call a Python function that returns an `nn.Module`."""

    traits: ClassVar[Traits] = Traits("torch", ("torch", "safetensors"))

    type: Literal["function"]
    """Wrapper type."""
    path: DottedPath
    """`module.Name` of the callable, imported at load time only (never while validating): a class
    or function defined in an allowed module (torch.nn, torchvision.models, timm.models,
    timm.layers, monai.networks, zoo's blocks), or in a package the manifest `requires`, only with
    the user's `--trust-remote-code` (or `ZOO_TRUSTED_MODULES`)."""
    arguments: Kwargs = {}
    """Keyword arguments for the call."""

    @field_validator("path", mode="after")
    @classmethod
    def _allowed(cls, value: str) -> str:
        value = current(value)
        problem = reference_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class MonaiWrapper(_KwargsMixin):
    """Build the encoder of a MONAI network (`monai.networks.nets.<network>(**kwargs)`, decoder
    removed): its feature maps are addressable by `out_indices` and pooled into the embedding."""

    traits: ClassVar[Traits] = Traits(
        "monai", ("torch", "safetensors", "monai", "einops", "nibabel")
    )

    type: Literal["monai"]
    """Wrapper type."""
    network: Literal["SwinUNETR", "SegResNet", "SegResEncoder"]
    """The MONAI network class. zoo keeps its encoder: SwinUNETR's `swinViT` and `encoder1-4, 10`
    (6 maps at strides 1..32), SegResNet's `convInit` and `down_layers` (one map per stage);
    `SegResEncoder` (`monai.networks.nets.segresnet_ds`, the encoder of SegResNetDS, e.g. CT-FM)
    is an encoder already: `conv_init`, then one map per level of `layers`."""
    kwargs: Kwargs = {}
    """Constructor keyword arguments (`in_channels`, `feature_size`, `use_v2`, `init_filters`...).
    `out_channels` only sizes the decoder, which zoo removes; it defaults to 1."""


class OpenClipWrapper(StrictModel):
    """Build the image tower of an open_clip model from an inline model config (offline)."""

    traits: ClassVar[Traits] = Traits("open_clip", ("torch", "safetensors", "timm", "open_clip"))

    type: Literal["open_clip"]
    """Wrapper type."""
    config: Annotated[dict[str, Any], Field(min_length=1)]
    """The open_clip model config, as in open_clip's `model_configs/*.json` or a Hub repository's
    `open_clip_config.json` `model_cfg`: `embed_dim` (the projection width), `vision_cfg` (the
    image tower: `width`, `layers`, `patch_size`, `image_size`, ..., or `timm_model_name`) and
    optionally `quick_gelu`. `text_cfg` may be kept for reference; the text tower is never built.
    Only the image tower is built, so the checkpoint's `visual.*` keys are selected with
    `checkpoint.key: visual`."""

    @field_validator("config")
    @classmethod
    def _image_tower(cls, value: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in ("embed_dim", "vision_cfg") if k not in value]
        if missing:
            raise ValueError(
                f"config needs {' and '.join(missing)} (open_clip's model_cfg: embed_dim, "
                "vision_cfg, text_cfg)"
            )
        if not isinstance(value["vision_cfg"], dict):
            raise ValueError("config.vision_cfg must be a mapping (open_clip's CLIPVisionCfg)")
        if not isinstance(value["embed_dim"], int) or value["embed_dim"] < 1:
            raise ValueError("config.embed_dim must be a positive integer (the projection width)")
        return value


Wrapper = Annotated[
    TimmWrapper
    | TransformersWrapper
    | OnnxWrapper
    | TorchHubWrapper
    | FunctionWrapper
    | MonaiWrapper
    | OpenClipWrapper,
    Field(discriminator="type"),
]


WRAPPER_TYPES: tuple[str, ...] = (
    "timm",
    "transformers",
    "onnx",
    "torchhub",
    "function",
    "monai",
    "open_clip",
)
