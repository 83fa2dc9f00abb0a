"""``checkpoint.timm``: a timm pretrained tag, whose bytes live where timm's registry says.

timm's registry (``<architecture>.<tag>``) names a Hub repository (usually
``timm/<architecture>.<tag>``, file ``model.safetensors``, older ones
``pytorch_model.bin``) or a URL. The tag source asks the registry and then behaves as
that Hub file or URL, with every message naming ``checkpoint.timm``: the field the
manifest really uses.
"""

from __future__ import annotations

from pathlib import Path

from zoo.catalog.timm import registry as timm_registry
from zoo.errors import WeightsNotAvailableError, ZooError
from zoo.manifest import HfLocation, Manifest
from zoo.problems import Problem
from zoo.weights.sources.base import Located, Source, WeightsFile, in_mirror
from zoo.weights.sources.kinds import HfFileSource, UrlSource
from zoo.weights.transport import hub, mirror

#: The file names timm publishes on the Hub, newest first.
HUB_FILES = ("model.safetensors", "pytorch_model.bin")


class TimmSource(Source):
    """``checkpoint.timm``: the weights of ``<wrapper.architecture>.<checkpoint.timm>``."""

    kind, field = "timm", "checkpoint.timm"

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest)
        self.arch = str(getattr(manifest.wrapper, "architecture", ""))
        self.tag = self.checkpoint.timm or ""
        self._where: tuple[str, str, str | None] | None = None

    @property
    def full(self) -> str:
        """``<architecture>.<tag>``."""
        return f"{self.arch}.{self.tag}"

    def describe(self) -> str:
        where = ""
        if self._where is not None:
            kind, location, _ = self._where
            where = f", hosted at {location}" + (" on the Hub" if kind == "hf" else "")
        return f"timm's {self.full}{where}"

    def _identity(self) -> str | None:
        return f"timm:{self.full}"

    def advice(self) -> list[Problem]:
        return []

    def where(self) -> tuple[str, str, str | None]:
        """``("hf", repo, filename or None)`` or ``("url", url, None)`` from timm's registry, read
        from zoo's index of it (:mod:`zoo.catalog.timm.index`; timm is not imported here)."""
        if self._where is None:
            self._where = timm_registry.pretrained_location(self.arch, self.tag)
        return self._where

    def _inner(self, filename: str | None = None) -> Source:
        kind, location, published = self.where()
        inner: Source
        if kind == "url":
            inner = UrlSource(self.manifest, location)
        else:
            loc = HfLocation(
                repo=location, revision=None, filename=filename or published or HUB_FILES[0]
            )
            inner = HfFileSource(self.manifest, loc)
        inner.field = self.field
        return inner

    def locate(self) -> Located | None:
        """Where the registry says the tag's weights are, looked up in the mirror and the caches
        (no timm, no torch); without timm installed, timm's usual Hub layout
        (``timm/<architecture>.<tag>``) is looked in, and a miss is ``unknown``."""
        try:
            kind, _, published = self.where()
        except ZooError:
            return self._guess()
        if kind == "url" or published:
            return self._inner().locate()
        for name in HUB_FILES:
            if (found := self._inner(name).locate()) is not None:
                return found
        return None

    def _guess(self) -> Located:
        active = mirror.active()
        for name in HUB_FILES:
            loc = HfLocation(repo=f"timm/{self.full}", revision=None, filename=name)
            if active is not None and (entry := active.find_hf_file(loc)) is not None:
                return in_mirror(active, [entry], active.path_of(entry))
            if (found := hub.cached(loc)) is not None:
                return Located("cached", found)
        return Located("unknown", None)

    def _fetch(self) -> Path:
        kind, _, published = self.where()
        if kind == "url" or published:
            return self._inner()._fetch()
        try:
            return self._inner(HUB_FILES[0])._fetch()
        except WeightsNotAvailableError as first:
            # Older timm repositories publish pytorch_model.bin only; anything but "not there"
            # (a timeout, a refusal) is final.
            if not first.absent:
                raise
            try:
                return self._inner(HUB_FILES[1])._fetch()
            except WeightsNotAvailableError:
                raise first from None

    def _files(self, main: Path) -> list[WeightsFile]:
        kind, _, published = self.where()
        inner = self._inner((published or main.name) if kind == "hf" else None)
        return inner._files(main)
