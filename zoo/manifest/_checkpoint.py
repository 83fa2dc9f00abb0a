"""The ``checkpoint:`` block: where the weights live and how their keys map onto the model."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from zoo.manifest._base import Flag, Md5, NonEmptyStr, Sha256, StrictModel
from zoo.text import unsafe_name, unsafe_revision

Source = Literal["hf", "url", "local", "timm", "none"]

#: The JSON Schema's picture of :func:`unsafe_name` (pydantic's own patterns have no lookahead).
RELATIVE_NAME_PATTERN = (
    r"^(?![A-Za-z]:)(?!\.\.?(/|$))(?!.*/\.\.?(/|$))[^/\\\x00-\x1f]+(/[^/\\\x00-\x1f]+)*$"
)
#: A commit sha, or a branch or tag name that stays one path segment.
REVISION_PATTERN = r"^(?!\.)(?!.*\.\.)[^/\\\x00-\x1f]+$"


class HfLocation(StrictModel):
    """A file (or the whole repository) on the Hugging Face Hub."""

    repo: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    ]
    """Repository id, `owner/name`."""
    revision: (
        Annotated[NonEmptyStr, Field(json_schema_extra={"pattern": REVISION_PATTERN})] | None
    ) = None
    """Commit sha (best) or tag. Without it the weights can change under you."""
    filename: (
        Annotated[NonEmptyStr, Field(json_schema_extra={"pattern": RELATIVE_NAME_PATTERN})] | None
    ) = None
    """File inside the repository; omit for the whole repository (transformers needs that).
    Relative to the repository's root, `/` between folders, no `..`."""

    @field_validator("filename")
    @classmethod
    def _stays_inside(cls, value: str | None) -> str | None:
        why = None if value is None else unsafe_name(value)
        if why is not None:
            raise ValueError(f"the file name {value!r} {why}")
        return value

    @field_validator("revision")
    @classmethod
    def _one_segment(cls, value: str | None) -> str | None:
        why = None if value is None else unsafe_revision(value)
        if why is not None:
            raise ValueError(f"the revision {value!r} {why}")
        return value


class Remap(StrictModel):
    """Key rewrites applied to the state dict before loading, in this order."""

    strip_prefix: list[NonEmptyStr] = []
    """Prefixes removed from the start of every key (each tried in order)."""
    rename: dict[str, str] = {}
    """Regular expression -> replacement (Python `re.sub` syntax), applied in order."""
    drop: list[NonEmptyStr] = []
    """Glob patterns (fnmatch) of keys to drop, e.g. `head.*`."""
    keep: list[NonEmptyStr] = []
    """Glob patterns (fnmatch) of the keys to keep, all others dropped (after `rename`, before
    `drop`), e.g. `[swinViT.*, encoder*]` for the encoder of a segmentation checkpoint."""

    @field_validator("rename")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"rename pattern {pattern!r} is not a regular expression: {exc}"
                ) from None
        return value


class Checkpoint(StrictModel):
    """Where the weights live. Exactly one of `path`, `url`, `hf`, `timm`."""

    path: NonEmptyStr | None = None
    """A local file or folder, relative to the manifest's folder unless absolute."""
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    """An http(s) URL; give `sha256` so the download is verified."""
    hf: HfLocation | None = None
    """A Hugging Face Hub location."""
    timm: Annotated[str, Field(pattern=r"^[a-z0-9_]+$", examples=["dino"])] | None = None
    """A timm pretrained tag: the weights of `<architecture>.<tag>`, resolved by timm's registry."""
    sha256: Sha256 | None = None
    """SHA-256 of the weights file, verified on download and at load time."""
    md5: Md5 | None = None
    """MD5 of a `url` download where its publisher states only that (eva's pins, Zenodo): verified
    like `sha256`, which detects damage but not a forged file; give `sha256` when one is public."""
    format: Literal["auto", "safetensors", "pickle"] = "auto"
    """File format; `auto` goes by the extension. Pickles load with `torch.load(weights_only=True)`."""
    key: Annotated[str, Field(pattern=r"^[^.\s]+(\.[^.\s]+)*$")] | None = None
    """Dotted key of the nested dict that holds the state dict (`state_dict`, `model`, `teacher`).
    A part that is no nested dict selects the flat keys under that prefix, prefix removed:
    `visual` takes the image tower `visual.*` out of a full CLIP state dict."""
    remap: Remap = Remap()
    """Key rewrites applied before loading."""
    strict: Flag = True
    """Every parameter of the architecture must be in the checkpoint and no other key may be."""

    @model_validator(mode="after")
    def _one_location(self) -> Self:
        given = [k for k in ("path", "url", "hf", "timm") if getattr(self, k) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of path, url, hf, timm (found: {found})")
        if self.hf is not None and self.hf.filename is None and self.sha256 is not None:
            raise ValueError("sha256 needs a single file: set hf.filename or remove sha256")
        if self.md5 is not None and self.url is None:
            raise ValueError("md5 is checked on url downloads only: give sha256 instead")
        return self

    @property
    def source(self) -> Source:
        """Where the weights come from: `hf`, `url`, `local` or `timm`."""
        if self.hf is not None:
            return "hf"
        if self.url is not None:
            return "url"
        if self.timm is not None:
            return "timm"
        return "local"
