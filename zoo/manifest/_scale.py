"""Physical scale: the microns per pixel of the tiles a pathology encoder was trained on."""

from __future__ import annotations

from typing import Literal

from zoo.manifest._base import NonEmptyStr, PositiveNumber, StrictModel


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
