"""Physical scale: the microns per pixel of the tiles a pathology encoder was trained on."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, StringConstraints

from zoo.manifest._base import _NUMBER, StrictModel

#: Microns per pixel: a slide's level is 0.1 to about 16 (40x to a thumbnail); 100 leaves room and
#: refuses a value in nanometres or a typo that would make a tiler read a whole slide as one tile.
MAX_MPP = 100.0
#: The longest ``input.mpp.source``: a URL, a commit, a quote and the reasoning fit in far less.
MAX_SOURCE = 2000


class Mpp(StrictModel):
    """The physical scale of the tiles an encoder was trained on (microns per pixel)."""

    value: Annotated[float, Strict(), Field(gt=0, le=MAX_MPP), _NUMBER]
    """Microns per pixel (0.5 is 20x, 0.25 is 40x, 1.0 is 10x)."""
    basis: Literal["stated", "inferred"]
    """`stated`: the authors say it (cite where in `source`); `inferred`: derived from what they
    say (the magnification, the tile size in microns), with the reasoning in `source`."""
    source: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_SOURCE, strip_whitespace=True)
    ]
    """Where the value comes from: the URL (and commit) with the authors' words, or the
    inference."""

    @property
    def short(self) -> str:
        """The value as tables show it: ``0.5``, or ``~0.5`` when inferred."""
        return f"{'~' if self.basis == 'inferred' else ''}{self.value:g}"
