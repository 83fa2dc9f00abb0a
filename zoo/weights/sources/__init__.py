"""THE one dispatch over checkpoint kinds: every question about a manifest's weights asks here.

A manifest's ``checkpoint`` is one of five kinds, and :func:`source_of` is the only place
that branches on which:

=========  ==========================  ==============================================
kind       manifest field              bytes come from (:mod:`zoo.weights.locations`)
=========  ==========================  ==============================================
path       ``checkpoint.path``         a local file or folder (or the mirror's copy)
url        ``checkpoint.url``          zoo's download cache, else the URL
hf_file    ``checkpoint.hf.filename``  the Hugging Face cache, else the Hub
hf_repo    ``checkpoint.hf`` (no file) the Hugging Face cache, else the Hub (a snapshot)
timm       ``checkpoint.timm``         where timm's registry says: a Hub file or a URL
=========  ==========================  ==============================================

Each :class:`Source` answers the same questions: where the bytes are locally
(:meth:`Source.locate`, disk only), fetching them (:meth:`Source.fetch`, verified),
which files they are with their hashes (:meth:`Source.files`), what the manifest
declares (:meth:`Source.identity`, :meth:`Source.advice`). Loaders, ``zoo pull``,
``zoo doctor``, ``zoo embed``'s provenance and validation all ask a source; none of them
looks at the kind itself. No torch here (the timm kind asks timm's registry, on demand).
"""

from __future__ import annotations

from zoo.manifest import Manifest
from zoo.problems import Problem
from zoo.weights.sources.base import Located, Source, WeightsFile, manifests_declaring
from zoo.weights.sources.kinds import HfFileSource, HfRepoSource, PathSource, UrlSource
from zoo.weights.sources.timm_tags import TimmSource

__all__ = [
    "HfFileSource",
    "HfRepoSource",
    "Located",
    "PathSource",
    "Source",
    "TimmSource",
    "UrlSource",
    "WeightsFile",
    "advice",
    "identity",
    "manifests_declaring",
    "source_of",
]


def source_of(manifest: Manifest) -> Source | None:
    """The source of a manifest's weights (``None``: random initialization). THE dispatch."""
    ckpt = manifest.checkpoint
    if ckpt is None:
        return None
    if ckpt.timm is not None:
        return TimmSource(manifest)
    if ckpt.url is not None:
        return UrlSource(manifest)
    if ckpt.hf is not None:
        return HfFileSource(manifest) if ckpt.hf.filename else HfRepoSource(manifest)
    return PathSource(manifest)


def identity(manifest: Manifest) -> str | None:
    """A string equal for two manifests that declare the same weights (``None``: random init)."""
    source = source_of(manifest)
    return source.identity() if source is not None else None


def advice(manifest: Manifest) -> list[Problem]:
    """What a reviewer would say about a manifest's checkpoint declaration."""
    source = source_of(manifest)
    return source.advice() if source is not None else []
