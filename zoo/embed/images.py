"""``zoo embed`` input: the image list (folders and list files, one key per image) and its dataset.

The same list holds volumes for a 3-D encoder (``.nii``, ``.nii.gz``, ``.npy``; read by
:mod:`zoo.embed.volumes`): only the file types differ. Keys are the names rows carry in
the output, the same rule for images and volumes:

- an image found in a folder: its path relative to that folder (``sub/a.png``);
- a relative entry of a list file: that path relative to the list file's folder,
  normalized (``./a/../b.png`` -> ``b.png``; ``../x.png`` stays ``../x.png``);
- an absolute entry of a list file (``~`` expanded): the absolute path itself,
  normalized the same way, symlinks not resolved (``/data/s1/t.png``).

The list is held packed (one UTF-8 buffer, offsets, a source number per image) so
that millions of images cost tens of bytes each and data-loading worker processes,
which touch every entry, do not copy Python objects page by page.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import UsageError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
#: The volume files zoo embed reads for a 3-D encoder (NIfTI through nibabel, NumPy arrays).
VOLUME_EXTENSIONS = frozenset({".nii", ".nii.gz", ".npy"})
#: Suffixes of two parts, recognised before the last dot alone.
_COMPOUND = (".nii.gz",)
#: How many missing or clashing names a message quotes.
QUOTE = 3


class ImageList:
    """Every image of a run, sorted by key (Unicode code points), each with its file.

    Attributes:
        bases: One folder per source; an image's file is ``bases[source] / key``
            (an absolute key stays itself).
        missing: Keys of list-file entries that named no file (kept: they are reported
            as skipped when ``skip_missing`` let them through).
    """

    def __init__(
        self, keys: Sequence[str], sources: Sequence[int], bases: Sequence[str], missing: int = 0
    ) -> None:
        encoded = [k.encode("utf-8") for k in keys]
        self._offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=self._offsets[1:])
        self._blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self._sources = np.asarray(sources, dtype=np.uint32)
        self.bases = list(bases)
        self.missing = missing

    def __len__(self) -> int:
        return len(self._sources)

    def key(self, index: int) -> str:
        """The key of image ``index``."""
        start, end = self._offsets[index], self._offsets[index + 1]
        return self._blob[start:end].tobytes().decode("utf-8")

    def keys(self, start: int = 0, end: int | None = None) -> list[str]:
        """Keys of images ``start`` to ``end`` (exclusive)."""
        end = len(self) if end is None else end
        return [self.key(i) for i in range(start, end)]

    def file(self, index: int) -> Path:
        """The file of image ``index`` (joining keeps an absolute key as it is)."""
        return Path(self.bases[int(self._sources[index])], self.key(index))

    def encoded(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The keys of ``indices`` as one UTF-8 buffer and ``len + 1`` offsets (starting at 0)."""
        idx = np.asarray(indices, dtype=np.int64)
        starts, ends = self._offsets[idx], self._offsets[idx + 1]
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=offsets[1:])
        if len(idx) == 0:
            return np.zeros(0, dtype=np.uint8), offsets
        blob = np.concatenate([self._blob[s:e] for s, e in zip(starts, ends, strict=True)])
        return blob, offsets

    def sha256(self) -> str:
        """A digest of the ordered keys: two runs over the same list agree, any change differs."""
        digest = hashlib.sha256()
        digest.update(self._offsets.tobytes())
        digest.update(self._blob.tobytes())
        return digest.hexdigest()


# -- finding images ------------------------------------------------------------------------------


def _walk(folder: Path, extensions: frozenset[str]) -> list[str]:
    """Files with ``extensions`` under ``folder`` as keys; hidden entries skipped, symlinked
    folders not followed.

    Raises:
        UsageError: An entry is a symbolic link loop, or a folder cannot be read.
    """
    found: list[str] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        try:
            with os.scandir(folder / rel if rel else folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    key = f"{rel}/{entry.name}" if rel else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(key)
                    elif suffix(entry.name) in extensions and entry.is_file():
                        found.append(key)
        except OSError as exc:  # a link loop, a folder that may not be read
            where = exc.filename or folder / rel
            raise UsageError(
                f"{where}: {exc.strerror or exc} (found while listing {folder}); remove or fix "
                "it, or list the images in a file instead"
            ) from None
    return found


def suffix(name: str) -> str:
    """The file type of a name, lowercase: ``.png``, ``.nii.gz`` (two parts), ``""`` for none."""
    lower = name.lower()
    for compound in _COMPOUND:
        if lower.endswith(compound) and len(lower) > len(compound):
            return compound
    dot = lower.rfind(".")
    return lower[dot:] if dot > 0 else ""


def list_entries(file: Path) -> list[str]:
    """The entries of a list file: one path per line; blank lines and whole-line ``#`` comments
    skipped (a ``#`` after other characters belongs to the path); surrounding blanks removed."""
    entries = []
    for line in file.read_text(encoding="utf-8").split("\n"):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            entries.append(entry)
    return entries


def entry_key(entry: str) -> str:
    """The key of a list entry (see the module docstring): normalized, absolute entries absolute."""
    path = Path(entry).expanduser()
    if path.is_absolute():
        return Path(os.path.normpath(path)).as_posix()
    return posixpath.normpath(path.as_posix())


def collect_images(
    sources: Sequence[str | Path],
    *,
    skip_missing: bool = False,
    volumes: bool = False,
    slides: frozenset[str] | None = None,
) -> ImageList:
    """Every image (or, with ``volumes``, every volume) of the sources, sorted by key.

    A source is a folder (searched recursively for image extensions, or volume ones; hidden
    entries skipped) or a text file with one path per line (see :func:`list_entries`).
    The same file reached twice counts once. With ``slides`` (their extensions), the files
    are whole-slide images: folders are searched for those, and a source file with one of
    them is a slide itself (its key its name), not a list.

    Raises:
        UsageError: A source does not exist, a list file names files that do not exist
            (unless ``skip_missing``) or, for volumes, files of another type; two different
            files share a key, or there is no file at all.
    """
    noun = "slide" if slides else "volume" if volumes else "image"
    extensions = slides or (VOLUME_EXTENSIONS if volumes else IMAGE_EXTENSIONS)
    found: list[tuple[str, int]] = []
    bases: list[str] = []
    missing: list[str] = []
    foreign: list[str] = []
    for number, source in enumerate(sources):
        path = Path(source).expanduser()
        if path.is_dir():
            bases.append(str(path.absolute()))
            found.extend((key, number) for key in _walk(path, extensions))
        elif path.is_file() and slides and suffix(path.name) in slides:
            bases.append(str(path.absolute().parent))
            found.append((path.name, number))
        elif path.is_file():
            base = path.absolute().parent
            bases.append(str(base))
            for entry in list_entries(path):
                key = entry_key(entry)
                if (volumes or slides) and suffix(key) not in extensions:
                    foreign.append(f"{source}: {entry}")
                elif _missing(base / key):
                    missing.append(f"{source}: {entry}")
                found.append((key, number))
        else:
            raise UsageError(f"{source}: no such folder or list file")
    if foreign:
        more = f" and {len(foreign) - QUOTE} more" if len(foreign) > QUOTE else ""
        convert = (
            "Embed images and slides in separate runs, or remove them from the list."
            if slides
            else "Convert them (a DICOM series or .nrrd/.mha to NIfTI, for instance) or remove "
            "them from the list."
        )
        raise UsageError(
            f"{len(foreign)} listed file(s) are not {noun}s zoo embed reads "
            f"({'; '.join(foreign[:QUOTE])}{more}): it reads {_listed(extensions)}. {convert}"
        )
    if missing and not skip_missing:
        more = f" and {len(missing) - QUOTE} more" if len(missing) > QUOTE else ""
        raise UsageError(
            f"{len(missing)} listed {noun}(s) do not exist ({'; '.join(missing[:QUOTE])}{more}). "
            "Fix the list, or pass --skip-missing to embed the others and record these as skipped."
        )
    found.sort()
    keys: list[str] = []
    numbers: list[int] = []
    for key, number in found:
        if keys and keys[-1] == key:
            if number != numbers[-1] and not _same_file(bases, key, numbers[-1], number):
                first, second = (Path(bases[n], key) for n in (numbers[-1], number))
                raise UsageError(
                    f"two {noun}s have the key {key!r}: {first} and {second}. Pass their common "
                    "parent folder instead, so that keys stay unique."
                )
            continue
        keys.append(key)
        numbers.append(number)
    del found
    if not keys:
        raise UsageError(
            f"no {noun}s in {', '.join(map(str, sources))} (extensions: {_listed(extensions)})"
        )
    return ImageList(keys, numbers, bases, missing=len(missing))


def _listed(extensions: frozenset[str]) -> str:
    return ", ".join(sorted(extensions))


def _missing(file: Path) -> bool:
    try:
        return stat.S_ISDIR(file.stat().st_mode)
    except OSError:
        return True


def _same_file(bases: list[str], key: str, first: int, second: int) -> bool:
    a, b = (Path(bases[n], key) for n in (first, second))
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a link loop (RuntimeError before Python 3.13)
        return False


# -- reading images ------------------------------------------------------------------------------


class ImageDataset(torch.utils.data.Dataset):
    """Images through the model's evaluation transform; a bad file yields its error, not an exception."""

    def __init__(self, images: ImageList, transform: Any) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        from PIL import Image

        index = int(index)
        try:
            with Image.open(self.images.file(index)) as img:
                img.load()
                return index, self.transform(img), None
        except Exception as exc:  # any unreadable file is reported and skipped, never fatal
            return index, None, f"{type(exc).__name__}: {exc}"


def collate(samples: list[tuple[int, torch.Tensor | None, str | None]]) -> dict[str, Any]:
    """Stack the good images; keep the bad ones' errors. Tensors of different shapes (volumes of
    different sizes, padded to the network's multiple) stay a list, in order."""
    good = [(i, t) for i, t, _ in samples if t is not None]
    tensors = [t for _, t in good]
    batch: torch.Tensor | list[torch.Tensor] | None = None
    if tensors:
        same = all(t.shape == tensors[0].shape for t in tensors)
        batch = torch.stack(tensors) if same else tensors
    return {
        "index": torch.tensor([i for i, _ in good], dtype=torch.long),
        "images": batch,
        "errors": [(i, e) for i, _, e in samples if e is not None],
    }
