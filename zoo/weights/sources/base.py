"""What every checkpoint kind answers (the :class:`Source` protocol) and the records it returns.

The kinds themselves are in :mod:`zoo.weights.sources.kinds` and :mod:`zoo.weights.sources.timm_tags`; which
kind a manifest has is decided in one place, :func:`zoo.weights.sources.source_of`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from zoo.catalog.roots import default_roots, manifest_files
from zoo.errors import DownloadError
from zoo.manifest import Manifest
from zoo.problems import Problem
from zoo.weights import locations
from zoo.weights.locations import Context
from zoo.weights.sources.onnx import external_data_locations
from zoo.weights.transport import integrity, mirror

WARNING = "warning"


@dataclass(frozen=True)
class WeightsFile:
    """One file of a checkpoint, as a mirror's lock and a provenance record describe it.

    Attributes:
        source: ``url``, ``hf`` or ``local`` (the lock's vocabulary).
        location: The URL, the Hub repository, or the manifest's ``checkpoint.path``.
        filename: The file inside a repository or folder (``None`` for a single URL/local file).
        revision: The Hub commit the file belongs to.
        requested_revision: The revision the manifest asked for (a branch, tag or commit).
        path: Where the file is on this machine.
        sha256: Its verified sha256.
        mirror_path: Where a mirror keeps it (relative to the mirror's root).
    """

    source: str
    location: str
    filename: str | None
    revision: str | None
    requested_revision: str | None
    path: Path
    sha256: str
    mirror_path: str


@dataclass(frozen=True)
class Located:
    """Where a checkpoint is on this machine: ``mirrored``, ``cached`` or ``local``; ``damaged``
    when the active mirror lists it but lacks a file or has one of another size; or
    ``unknown`` when that cannot be told without importing a library (a timm tag's host)."""

    state: str
    path: Path | None


def in_mirror(active: mirror.Mirror, entries: Sequence[mirror.LockEntry], path: Path) -> Located:
    """A mirror's file or folder: ``mirrored`` when each of its files is there with the size
    the lock gives (no hashing: the doctor stays fast), else ``damaged``."""
    return Located("mirrored" if all(map(active.intact, entries)) else "damaged", path)


class Source:
    """A manifest's checkpoint, of one kind."""

    kind: ClassVar[str] = ""
    #: The manifest field the weights are declared in (a timm tag's Hub file says checkpoint.timm).
    field: str = "checkpoint"

    def __init__(self, manifest: Manifest) -> None:
        assert manifest.checkpoint is not None
        self.manifest = manifest
        self.checkpoint = manifest.checkpoint

    # -- what the manifest says (no I/O) ----------------------------------------------------------

    @property
    def name(self) -> str:
        """The model's name."""
        return self.manifest.name

    def describe(self) -> str:
        """What the checkpoint field names, in words."""
        raise NotImplementedError

    def identity(self) -> str | None:
        """A string equal for two manifests that declare the same weights (``None``: cannot tell)."""
        if self.checkpoint.sha256:
            return f"sha256:{self.checkpoint.sha256}"
        return self._identity()

    def _identity(self) -> str | None:
        raise NotImplementedError

    def advice(self) -> list[Problem]:
        """Warnings (and errors) a reviewer would raise about this checkpoint declaration."""
        return []

    def _warn(self, path: str, message: str, code: str) -> Problem:
        return Problem(str(self.manifest.file), path, message, severity=WARNING, code=code)

    # -- bytes --------------------------------------------------------------------------------------

    def context(self) -> Context:
        """Who asks, for messages."""
        return Context(
            name=self.name,
            field=self.field,
            what=self.describe(),
            declared_by=f"{self.name} ({self.manifest.file or 'in memory'})",
            manifests_declaring=manifests_declaring,
        )

    def locate(self) -> Located | None:
        """Where the checkpoint is on this machine, looking at the disk only (no network, no hashing)."""
        raise NotImplementedError

    def fetch(self) -> Path:
        """The checkpoint's file (or folder), verified; fetched first when needed and allowed.

        For an ONNX model the external-data files it names are fetched next to it.

        Raises:
            WeightsNotAvailableError: Not here and not fetchable (offline, gated, not found).
            DownloadError: The host failed or did not answer in time (the message names the
                endpoint, the timeout, this manifest field and the offline alternatives).
            IntegrityError: A file is not what its declared hash says.
        """
        try:
            main = self._fetch()
            if self.manifest.wrapper.traits.weights_file_is_model and main.is_file():
                self.side_files(main)
            return main
        except DownloadError as exc:
            raise exc.with_fix(
                f"{self.name}: {self.field} ({self.describe()})", self.alternatives()
            ) from None

    def _fetch(self) -> Path:
        raise NotImplementedError

    def alternatives(self) -> str:
        """How to get the weights without this network path."""
        return (
            f"Offline alternatives: a mirror made where there is network with `zoo pull {self.name} "
            f"--to DIR`, used with ZOO_MIRROR=DIR (or `zoo load --mirror DIR`); or fetch the files "
            "yourself into the caches zoo reads (`zoo doctor` shows where)."
        )

    def side_files(self, main: Path) -> list[tuple[str, Path]]:
        """The external-data files an ONNX model file names, fetched next to it."""
        ctx = self.context()
        return [
            (rel, self._sibling(rel, main))
            for rel in (locations.side_name(n, ctx) for n in external_data_locations(main))
        ]

    def _sibling(self, rel: str, main: Path) -> Path:
        raise NotImplementedError

    def files(self) -> list[WeightsFile]:
        """Every file of the checkpoint with its verified sha256 (fetched first when needed)."""
        main = self.fetch()
        found = self._files(main)
        if self.manifest.wrapper.traits.weights_file_is_model and main.is_file():
            found += [self._side_record(rel, path, main) for rel, path in self.side_files(main)]
        return found

    def records(self, main: Path) -> list[WeightsFile]:
        """The records of the checkpoint's files already at ``main`` (a file, or a repository's
        folder), each checked against the declared sha256: what a mirror lists for them."""
        return self._files(main)

    def _files(self, main: Path) -> list[WeightsFile]:
        raise NotImplementedError

    def _side_record(self, rel: str, path: Path, main: Path) -> WeightsFile:
        raise NotImplementedError

    def _sha(self, path: Path, expected: str | None = None) -> str:
        if expected:
            integrity.check(path, expected, declared_by=self.context().declared_by)
            return expected
        return integrity.file_sha256(path)


def manifests_declaring(sha256: str) -> list[str]:
    """Manifests of the catalogue (bundled and ``ZOO_CATALOG_PATH``) that declare this sha256.

    Read only when a hash mismatch needs it, straight from the YAML text (a declared hash is
    a quoted 64-digit string), so that nothing is validated or imported.
    """
    found = []
    for file in manifest_files(default_roots()):
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if sha256 in text:
            found.append(f"{file.parent.name}/{file.stem} ({file})")
    return found


def hf_endpoint() -> str:
    """The Hub endpoint, for messages."""
    from zoo import settings

    return settings.hf_endpoint()
