"""Parse and validate one manifest: bytes in, a :class:`Manifest` (or every problem, with lines) out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from zoo.catalog._yaml import load_manifest_data, locate
from zoo.catalog.names import reserved
from zoo.errors import ManifestError
from zoo.manifest import WRAPPER_TYPES, Manifest
from zoo.manifest._base import FieldError
from zoo.problems import Problem


def _message(error: Any) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "field required"
    value = error.get("input")
    if (
        kind == "string_type"
        and error["loc"][-1:] == ("sha256",)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        return f"{msg}: YAML read this sha256 as a number; put it in quotes"
    if kind == "extra_forbidden":
        return "unknown key (not part of the manifest format; check the spelling)"
    if kind == "union_tag_invalid" and error["loc"][:1] == ("input",):
        return (
            f"unknown input kind {value.get('kind')!r}: expected image (no kind), volume or tiles"
        )
    if kind == "union_tag_invalid":
        return f"unknown wrapper type {error['input'].get('type')!r}: expected one of {', '.join(WRAPPER_TYPES)}"
    if kind == "union_tag_not_found":
        return f"field required: type (one of {', '.join(WRAPPER_TYPES)})"
    return str(msg).removeprefix("Value error, ")


def _problems_from(exc: ValidationError, raw: bytes, file: str) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc = (*loc, *cause.loc)
        if loc[:1] == ("input",) and loc[1:2] in (("image",), ("volume",), ("tiles",)):
            loc = ("input", *loc[2:])  # the input union's tag is no YAML key (images have no kind)
        line, column = locate(raw, loc)
        path = ".".join(str(p) for p in loc)
        problems.append(Problem(file, path, _message(error), line, column, code=error["type"]))
    return problems


def parse_manifest(raw: bytes, file: str | Path, *, check_name: bool = True) -> Manifest:
    """Parse and validate one manifest's bytes.

    Args:
        raw: The file's content.
        file: Its path; with ``check_name`` the manifest's ``name`` must equal
            ``<folder>/<file stem>``.
        check_name: Enforce that the name matches the file path.

    Raises:
        ManifestError: With every problem, each naming file, field and line.
    """
    shown = str(file)
    data, problems = load_manifest_data(raw, shown)
    if problems:
        raise ManifestError(problems)
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_problems_from(exc, raw, shown)) from None
    refusal = reserved(manifest.name)
    if refusal is not None:
        line, column = locate(raw, ("name",))
        raise ManifestError([Problem(shown, "name", refusal, line, column, code="reserved_name")])
    path = Path(file)
    expected = f"{path.parent.name}/{path.stem}"
    if check_name and manifest.name != expected:
        line, column = locate(raw, ("name",))
        raise ManifestError(
            [
                Problem(
                    shown,
                    "name",
                    f"name {manifest.name!r} does not match the file path: expected {expected!r} "
                    f"(a manifest lives at <root>/<group>/<name>.yaml)",
                    line,
                    column,
                    code="name_mismatch",
                )
            ]
        )
    return manifest.with_file(path)


def read_bytes(path: Path) -> bytes:
    """A manifest file's bytes; an unreadable file is a :class:`ManifestError`."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ManifestError(
            [Problem(str(path), "", f"cannot read: {exc.strerror or exc}", code="io")]
        ) from None


def read_manifest(file: str | Path, *, check_name: bool = True) -> Manifest:
    """Read and validate a manifest file (see :func:`parse_manifest`)."""
    path = Path(file)
    return parse_manifest(read_bytes(path), path, check_name=check_name)
