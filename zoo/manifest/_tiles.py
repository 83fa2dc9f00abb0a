"""Slide encoders in the manifest: a ``tiles`` input (a bag of tile features) and ``pairs_with``.

A slide encoder turns the features of a slide's tiles, made by one patch encoder at one scale,
into one slide embedding. Its input block says the width of those features, whether it reads
the tiles' coordinates, and the scale (microns per pixel, tile size) it was trained with; the
manifest's top-level ``pairs_with`` names the patch-encoder entries whose features it takes.
Features of another encoder or scale give a plausible but wrong vector, so validation checks
the pairing across the catalogue (:mod:`zoo.catalog.pairing`) and ``zoo embed --from-features``
checks it again on the features' own provenance.

The output of a slide encoder is the module's slide embedding (``output.pooling: none``,
``[B, embedding_dim]``); it has no tokens, prefix tokens, patches or feature levels.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from zoo.manifest._base import ModelName, Mpp, PositiveInteger, StrictModel

#: At most this many entries in ``pairs_with``.
MAX_PAIRS = 32

PairsWith = Annotated[list[ModelName], Field(max_length=MAX_PAIRS)]


class TilesInputSpec(StrictModel):
    """A slide encoder's input: a bag of tile features `[N, feature_dim]` (a batch is
    `[B, N, feature_dim]`) with the tiles' level-0 coordinates `[B, N, 2]`."""

    kind: Literal["tiles"]
    """Marks a slide encoder: its input is tile features, not pixels."""
    feature_dim: PositiveInteger
    """Width `D` of each tile feature: the `output.embedding_dim` of the patch encoders named in
    `pairs_with`."""
    coords: Literal["required", "unused"]
    """`required`: the encoder reads each tile's `(x, y)` level-0 pixel coordinates (positional
    encodings, spatial grids), so a bag without them is refused; `unused`: it ignores them
    (attention-MIL pooling)."""
    mpp: Mpp
    """Microns per pixel of the tiles whose features it was trained on (TRIDENT's target
    magnification: 0.5 is 20x)."""
    tile_size: PositiveInteger
    """Tile width and height in pixels at `mpp`, as cut from the slide (TRIDENT's `patch_size`);
    the patch encoder's own preprocessing then resizes each tile to its `input.size` (TITAN cuts
    512 px at 0.5 mpp, 256 um a side, which CONCH v1.5 sees at 448 px)."""


def input_kind(value: Any) -> str:
    """Which input spec a value is: ``volume`` or ``tiles`` as its ``kind`` says, ``image`` when it
    has no ``kind``; any other ``kind`` is returned as it is, so it is refused as an unknown kind
    (rather than read as an image with an extra key)."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return "image" if kind is None else str(kind)


def input_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema of ``input``: the volume spec when ``kind: volume``, the tiles spec when
    ``kind: tiles``, else the image spec.

    Nested if/then/else instead of ``oneOf``, so a validator reports the mistake inside the
    branch that applies (``input.size``) rather than "not valid under any of the given schemas".
    """
    image, volume, tiles = schema.pop("oneOf")
    schema["if"] = {"properties": {"kind": {"const": "volume"}}, "required": ["kind"]}
    schema["then"] = volume
    schema["else"] = {
        "if": {"properties": {"kind": {"const": "tiles"}}, "required": ["kind"]},
        "then": tiles,
        "else": image,
    }


def tiles_problems(manifest: Any) -> list[tuple[tuple[str, ...], str]]:
    """Checks of a slide encoder's manifest, and of ``pairs_with`` anywhere: ``(field path,
    message)`` for each problem. The pairing itself (names exist, widths and scales agree) is
    checked across the catalogue, in :mod:`zoo.catalog.pairing`."""
    spec, out, pairs = manifest.input, manifest.output, manifest.pairs_with
    if not isinstance(spec, TilesInputSpec):
        if pairs:
            return [
                (
                    ("pairs_with",),
                    "pairs_with names the patch encoders whose features a slide encoder takes: it "
                    "needs input.kind: tiles",
                )
            ]
        return []
    problems: list[tuple[tuple[str, ...], str]] = []
    if manifest.wrapper.type != "function":
        problems.append(
            (
                ("wrapper", "type"),
                f"a slide encoder is built by a function taking (features, coords, "
                f"patch_size_level0) such as zoo.nn.slide's builders: wrapper.type: function, not "
                f"{manifest.wrapper.type}",
            )
        )
    if not pairs:
        problems.append(
            (
                ("pairs_with",),
                "a slide encoder names the patch encoder entries whose features it was trained on "
                "(pairs_with: [group/name])",
            )
        )
    if manifest.name in pairs:
        problems.append((("pairs_with",), "pairs_with names this entry itself"))
    if len(set(pairs)) != len(pairs):
        problems.append((("pairs_with",), "pairs_with lists a name twice"))
    if out.pooling != "none":
        problems.append(
            (
                ("output", "pooling"),
                f"pooling {out.pooling} pools tokens of an image; a slide encoder returns its own "
                "slide embedding: pooling: none",
            )
        )
    extra = [
        name
        for name, given in (
            ("prefix_tokens", out.prefix_tokens != 0),
            ("patch_size", out.patch_size is not None),
            ("feature_levels", out.feature_levels != 0),
            ("feature_dim", out.feature_dim is not None),
            ("grid", out.grid is not None),
        )
        if given
    ]
    if extra:
        problems.append(
            (
                ("output", extra[0]),
                f"output.{extra[0]} describes the tokens or maps of an image or volume encoder; a "
                "slide encoder has none: remove it",
            )
        )
    return problems
