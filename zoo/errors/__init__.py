"""Every exception zoo raises.

Each class also subclasses the built-in exception a caller would naturally catch
(``LookupError`` for an unknown model, ``FileNotFoundError`` for missing weights,
...), carries structured attributes, and its message ends with the fix where
there is one. The CLI turns any ``ZooError`` into one short message and exit 1.
"""

from zoo.errors._base import (
    DuplicateNameError,
    ManifestError,
    MissingExtraError,
    MissingPackageError,
    ModelNotFoundError,
    TagNotFoundError,
    ZooError,
)
from zoo.errors._inputs import (
    ImageSizeError,
    ImageValueError,
    OutputWriteError,
    TilesError,
    VolumeSizeError,
    VolumeValueError,
)
from zoo.errors._loading import (
    CheckpointMismatchError,
    ContractError,
    LoadError,
    TrustError,
)
from zoo.errors._require import require
from zoo.errors._usage import (
    ArgumentError,
    EmbeddingsError,
    EmbedInterruptedError,
    GitError,
    ManifestExistsError,
    OutIndicesError,
    OutputFolderError,
    RegistryLookupError,
    SiteOutputError,
    UsageError,
)
from zoo.errors._weights import (
    DownloadError,
    EndpointTimeoutError,
    IntegrityError,
    MirrorError,
    PathEscapeError,
    WeightsNotAvailableError,
)

__all__ = [
    "ArgumentError",
    "CheckpointMismatchError",
    "ContractError",
    "DownloadError",
    "DuplicateNameError",
    "EmbedInterruptedError",
    "EmbeddingsError",
    "EndpointTimeoutError",
    "GitError",
    "ImageSizeError",
    "ImageValueError",
    "IntegrityError",
    "LoadError",
    "ManifestError",
    "ManifestExistsError",
    "MirrorError",
    "MissingExtraError",
    "MissingPackageError",
    "ModelNotFoundError",
    "OutIndicesError",
    "OutputFolderError",
    "OutputWriteError",
    "PathEscapeError",
    "RegistryLookupError",
    "SiteOutputError",
    "TagNotFoundError",
    "TilesError",
    "TrustError",
    "UsageError",
    "VolumeSizeError",
    "VolumeValueError",
    "WeightsNotAvailableError",
    "ZooError",
    "require",
]
