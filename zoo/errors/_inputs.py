"""Inputs zoo refuses before doing the work: images, volumes, output files."""

from __future__ import annotations

from zoo.errors._base import ZooError
from zoo.errors._usage import UsageError


class ImageSizeError(UsageError):
    """An image is too elongated or too large to resize within zoo's pixel budget
    (``zoo.loading.preprocess.MAX_ASPECT``, ``MAX_PIXELS``); ``zoo embed`` skips and counts it."""


class ImageValueError(UsageError):
    """An image's pixels have a type or range zoo does not know how to scale: float pixels
    outside [0, 1] or NaN, 32-bit integers; ``zoo embed`` skips and counts it."""


class VolumeSizeError(UsageError):
    """A volume would be larger than ``zoo.loading.preprocess_volume.MAX_VOXELS`` as stored or
    once resampled (a sheared or huge-spacing header); refused before allocation."""


class VolumeValueError(UsageError):
    """A volume holds NaN or inf; ``zoo embed`` skips and counts it."""


class TileBagError(UsageError):
    """A bag of tile features (and coordinates) that a slide encoder cannot take: the wrong
    shape or width, NaN or inf, coordinates missing where the encoder places tiles on a grid,
    or tiles outside the grid the encoder was trained with."""


class OutputWriteError(ZooError, OSError):
    """zoo could not write into an output folder (``zoo embed --out``, ``zoo site --out``): the
    disk is full, the folder is read-only or a parent is a file, or a link is in the way.

    Attributes:
        path: The file or folder zoo was writing.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"cannot write {path}: {reason}")
