"""Opening whole-slide images with OpenSlide (the ``slides`` extra) and reading their scale.

OpenSlide reads Aperio (``.svs``, ``.tif``), Hamamatsu (``.ndpi``, ``.vms``, ``.vmu``), MIRAX
(``.mrxs``), Leica (``.scn``), Ventana (``.bif``, ``.tif``), Philips (``.tiff``), Sakura
(``.svslide``), DICOM (``.dcm``) and generic tiled TIFF files. A ``.tif``/``.tiff`` may as well
be an ordinary image, so it is read as a slide only in a slide run (see
:func:`zoo.embed.slides.collect.is_slide_run`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import require

#: Extensions only whole-slide images have: finding one makes a run a slide run.
WSI_ONLY = frozenset({".svs", ".ndpi", ".vms", ".vmu", ".mrxs", ".scn", ".bif", ".svslide", ".dcm"})
#: Every extension a slide may have (``.tif``/``.tiff`` are slides only in a slide run).
SLIDE_EXTENSIONS = WSI_ONLY | {".tif", ".tiff"}


def openslide() -> Any:
    """The ``openslide`` module (``openslide-python``, with the library from ``openslide-bin``).

    Raises:
        MissingExtraError: It is not installed.
    """
    return require(
        "openslide",
        package="openslide-python",
        extra="slides",
        purpose="reading whole-slide images",
    )


class SlideError(Exception):
    """A slide zoo cannot embed: unreadable, without a scale, or without tissue. Its message is
    the reason recorded for the slide (the other slides of the run go on)."""


@dataclass(frozen=True)
class SlideInfo:
    """What tiling needs to know about a slide.

    Attributes:
        vendor: OpenSlide's name for the format (``aperio``, ``generic-tiff``...).
        width: Level-0 width in pixels.
        height: Level-0 height in pixels.
        mpp: Level-0 microns per pixel (``mpp_source`` says where it comes from).
        mpp_source: ``openslide.mpp-x`` (the slide's own) or ``--slide-mpp``.
        downsamples: Each pyramid level's downsample from level 0.
    """

    vendor: str | None
    width: int
    height: int
    mpp: float
    mpp_source: str
    downsamples: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "width": self.width,
            "height": self.height,
            "mpp": self.mpp,
            "mpp_source": self.mpp_source,
            "levels": len(self.downsamples),
            "downsamples": [round(d, 6) for d in self.downsamples],
        }


def open_slide(path: Path) -> Any:
    """An ``OpenSlide`` of ``path``.

    Raises:
        SlideError: OpenSlide cannot open it (not a slide, an unsupported format, a damaged file).
    """
    module = openslide()
    try:
        return module.OpenSlide(str(path))
    except module.OpenSlideUnsupportedFormatError:
        raise SlideError(
            "OpenSlideUnsupportedFormatError: OpenSlide does not recognise this file as a "
            "whole-slide image"
        ) from None
    except (module.OpenSlideError, OSError) as exc:
        raise SlideError(f"{type(exc).__name__}: {exc}") from None


def slide_info(slide: Any, slide_mpp: float | None) -> SlideInfo:
    """The slide's level-0 size, pyramid and microns per pixel.

    The scale is ``openslide.mpp-x`` (OpenSlide's normalised property, from the vendor's own
    metadata: Aperio's ``MPP``, a TIFF resolution in centimetres...); ``slide_mpp`` replaces it.

    Raises:
        SlideError: The slide states no scale and ``slide_mpp`` is not given.
    """
    width, height = (int(v) for v in slide.dimensions)
    vendor = slide.properties.get("openslide.vendor")
    downsamples = tuple(float(d) for d in slide.level_downsamples)
    if slide_mpp is not None:
        return SlideInfo(vendor, width, height, float(slide_mpp), "--slide-mpp", downsamples)
    raw = slide.properties.get("openslide.mpp-x")
    try:
        mpp = float(raw) if raw is not None else math.nan
    except ValueError:
        mpp = math.nan
    if not math.isfinite(mpp) or mpp <= 0:
        raise SlideError(
            "NoMppError: the slide does not state its microns per pixel (no openslide.mpp-x "
            f"property; vendor {vendor}); pass --slide-mpp if you know it"
        )
    return SlideInfo(vendor, width, height, mpp, "openslide.mpp-x", downsamples)
