"""Inputs zoo refuses before doing the work: images, volumes, tile features, output files."""

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


class TilesError(UsageError):
    """A bag of tile features a slide encoder cannot take: the wrong shape or width, no
    coordinates where it reads them, or features of another patch encoder or scale than it was
    trained on (``zoo embed --from-features``).

    Attributes:
        model: The slide encoder's name.
        expected: What it takes (``768-d features of pathology/mahmood_conch_v15``).
    """

    def __init__(self, model: str, message: str, expected: str = "") -> None:
        self.model, self.expected = model, expected
        super().__init__(f"{model}: {message}")


class OutputWriteError(ZooError, OSError):
    """zoo could not write into an output folder (``zoo embed --out``, ``zoo site --out``): the
    disk is full, the folder is read-only or a parent is a file, or a link is in the way.

    Attributes:
        path: The file or folder zoo was writing.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"cannot write {path}: {reason}")
