"""Which runs are slide runs, the slides of a run, and the names their outputs take.

A run reads slides when a slide option is given (``--mpp``, ``--slide-mpp``, ``--tile-size``,
``--overlap``, ``--format h5``) or when an input holds a file only whole-slide images have
(``.svs``, ``.ndpi``, ``.mrxs``... :data:`~zoo.embed.slides.open.WSI_ONLY`): a source that is
such a file, a list file naming one, or a folder holding one. A slide run then reads every
slide of its inputs (``.tif``/``.tiff`` included) and ignores other images in its folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zoo.embed.images import ImageList, _walk, collect_images, entry_key, list_entries, suffix
from zoo.embed.slides.open import SLIDE_EXTENSIONS, WSI_ONLY
from zoo.errors import UsageError


def is_slide_run(sources: Sequence[str], forced: bool) -> bool:
    """Whether the inputs are slides (see the module)."""
    if forced:
        return True
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            if _walk(path, WSI_ONLY):
                return True
        elif path.is_file():
            if suffix(path.name) in WSI_ONLY:
                return True
            try:
                entries = list_entries(path)
            except (OSError, UnicodeDecodeError):
                continue  # collect_images names the unreadable list
            if any(suffix(entry_key(e)) in WSI_ONLY for e in entries):
                return True
    return False


def collect_slides(sources: Sequence[str], *, skip_missing: bool = False) -> ImageList:
    """Every slide of the sources, sorted by key.

    Raises:
        UsageError: As :func:`~zoo.embed.images.collect_images`; or two slides would write
            outputs of the same name.
    """
    slides = collect_images(sources, skip_missing=skip_missing, slides=SLIDE_EXTENSIONS)
    slide_names(slides)
    return slides


def slide_name(key: str) -> str:
    """The name of a slide's outputs: its file name without the extension (``a/b/s1.svs`` ->
    ``s1``), as TRIDENT and Patho-Bench name a slide (``os.path.splitext`` of the file name)."""
    name = key.rsplit("/", 1)[-1]
    return name[: -len(suffix(name))] if suffix(name) else name


def slide_names(slides: ImageList) -> list[str]:
    """The output names of all slides, in slide order.

    Raises:
        UsageError: Two slides share a name (their ``.h5`` files would collide).
    """
    names = [slide_name(slides.key(i)) for i in range(len(slides))]
    seen: dict[str, int] = {}
    for number, name in enumerate(names):
        if name in seen:
            first, second = slides.key(seen[name]), slides.key(number)
            raise UsageError(
                f"two slides are named {name!r} ({first} and {second}): each slide's output is "
                "<name>.h5, so names must be unique. Embed them into separate --out folders."
            )
        if name.startswith(".") or not name:
            raise UsageError(f"slide {slides.key(number)}: its name {name!r} cannot name a file")
        seen[name] = number
    return names
