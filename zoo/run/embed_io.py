"""``zoo embed`` I/O: finding images, reading them, per-rank shards, the merged file, provenance.

Torch is imported, Lightning is not: everything here also works in one process.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.metadata
import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from zoo import __version__
from zoo.errors import LoadError, MissingExtraError, UsageError
from zoo.manifest import Manifest
from zoo.weights.sources import source_of

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
FORMATS = ("safetensors", "parquet")
OUTPUT_STEM = "embeddings"
PROVENANCE = "provenance.json"
PARTS = ".zoo-embed-parts"

Item = tuple[str, Path]  # (key: the image's relative path, file)


# -- finding images ------------------------------------------------------------------------------


def _from_folder(folder: Path) -> list[Item]:
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return [(p.relative_to(folder).as_posix(), p) for p in found]


def _from_list(file: Path) -> list[Item]:
    items = []
    for line in file.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry).expanduser()
        items.append((Path(entry).as_posix(), path if path.is_absolute() else file.parent / path))
    return items


def collect_images(sources: Sequence[str | Path]) -> list[Item]:
    """Every image of the sources, keyed by its path relative to its folder (or as a list file
    writes it), sorted by key.

    A source is a folder (searched recursively for image extensions; hidden entries
    skipped) or a text file with one image path per line (relative to the file's
    folder; blank lines and ``#`` comments skipped). An image listed twice counts once.

    Raises:
        UsageError: A source does not exist, two different files share a key, or
            there is no image at all.
    """
    by_key: dict[str, Path] = {}
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            items = _from_folder(path)
        elif path.is_file():
            items = _from_list(path)
        else:
            raise UsageError(f"{source}: no such folder or list file")
        for key, file in items:
            seen = by_key.get(key)
            if seen is None:
                by_key[key] = file
            elif seen.resolve() != file.resolve():
                raise UsageError(
                    f"two images have the key {key!r}: {seen} and {file}. Pass their common "
                    "parent folder instead, so that keys stay unique."
                )
    if not by_key:
        raise UsageError(
            f"no images in {', '.join(map(str, sources))} (extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return sorted(by_key.items())


# -- reading images ------------------------------------------------------------------------------


class ImageDataset(torch.utils.data.Dataset):
    """Images through the model's evaluation transform; a bad file yields its error, not an exception."""

    def __init__(self, items: Sequence[Item], transform: Any) -> None:
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        from PIL import Image

        try:
            with Image.open(self.items[index][1]) as img:
                img.load()
                return index, self.transform(img), None
        except Exception as exc:  # any unreadable file is reported and skipped, never fatal
            return index, None, f"{type(exc).__name__}: {exc}"


def collate(samples: list[tuple[int, torch.Tensor | None, str | None]]) -> dict[str, Any]:
    """Stack the good images; keep the bad ones' errors."""
    good = [(i, t) for i, t, _ in samples if t is not None]
    return {
        "index": torch.tensor([i for i, _ in good], dtype=torch.long),
        "images": torch.stack([t for _, t in good]) if good else None,
        "errors": [(i, e) for i, _, e in samples if e is not None],
    }


# -- shards and the merged file ------------------------------------------------------------------


class ShardWriter:
    """One rank's results, written to ``parts/rank<r>-<k>.safetensors`` every ``chunk`` rows."""

    def __init__(self, parts: Path, rank: int, chunk: int = 4096) -> None:
        self.parts, self.rank, self.chunk = parts, rank, chunk
        self._index: list[torch.Tensor] = []
        self._levels: list[list[torch.Tensor]] = []
        self._rows = 0
        self._count = 0
        self.errors: list[tuple[int, str]] = []

    def add(self, index: torch.Tensor, outputs: list[torch.Tensor]) -> None:
        """Rows of one batch: their dataset indices and one tensor per output level."""
        if not self._levels:
            self._levels = [[] for _ in outputs]
        self._index.append(index.cpu())
        for store, tensor in zip(self._levels, outputs, strict=True):
            store.append(tensor.detach().float().cpu())
        self._rows += len(index)
        if self._rows >= self.chunk:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one shard."""
        if not self._rows:
            return
        from safetensors.torch import save_file

        tensors = {"index": torch.cat(self._index)}
        tensors.update({f"level{j}": torch.cat(t) for j, t in enumerate(self._levels)})
        save_file(tensors, str(self.parts / f"rank{self.rank:05d}-{self._count:05d}.safetensors"))
        self._count += 1
        self._index, self._levels, self._rows = [], [[] for _ in self._levels], 0

    def close(self) -> None:
        """Flush and record this rank's unreadable images."""
        self.flush()
        errors = [[i, e] for i, e in self.errors]
        (self.parts / f"rank{self.rank:05d}-errors.json").write_text(json.dumps(errors))


def read_shards(parts: Path, total: int) -> tuple[dict[int, list[torch.Tensor]], dict[int, str]]:
    """Rows by dataset index, and errors by index, from every rank's shards.

    An index seen twice (a distributed sampler padding its last batch) must carry
    the same values and counts once.

    Raises:
        LoadError: An index carries two different results.
    """
    from safetensors.torch import load_file

    rows: dict[int, list[torch.Tensor]] = {}
    for shard in sorted(parts.glob("rank*-*.safetensors")):
        data = load_file(str(shard))
        levels = [data[f"level{j}"] for j in range(len(data) - 1)]
        for r, index in enumerate(data["index"].tolist()):
            values = [level[r] for level in levels]
            if index in rows and not all(
                torch.equal(a, b) for a, b in zip(rows[index], values, strict=True)
            ):
                raise LoadError(f"image #{index} was embedded twice with different results")
            rows.setdefault(index, values)
    errors: dict[int, str] = {}
    for file in sorted(parts.glob("rank*-errors.json")):
        errors.update((int(i), str(e)) for i, e in json.loads(file.read_text()))
    if bad := [i for i in rows if not 0 <= i < total]:
        raise LoadError(f"shards hold indices outside the image list: {bad[:5]}")
    return rows, errors


def row_keys(key: str, levels: int, feature_maps: bool) -> list[str]:
    """Keys of one image's tensors: its path for an embedding, ``<path>#<j>`` per feature map."""
    return [f"{key}#{j}" for j in range(levels)] if feature_maps else [key]


def write_safetensors(
    file: Path, keys: list[str], rows: list[list[torch.Tensor]], feature_maps: bool
) -> None:
    """One tensor per image (per feature map), keyed by relative path."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for key, values in zip(keys, rows, strict=True):
        for name, tensor in zip(row_keys(key, len(values), feature_maps), values, strict=True):
            tensors[name] = tensor.contiguous().clone()
    save_file(tensors, str(file), metadata={"format": "zoo-embed", "keys": "relative image path"})


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtraError("pyarrow", "embed", "--format parquet") from None
    return pa, pq


def write_parquet(
    file: Path, keys: list[str], rows: list[list[torch.Tensor]], feature_maps: bool
) -> None:
    """One row per image: ``path`` then ``embedding`` (or ``feature_<j>``, flattened; shapes in
    the schema metadata ``zoo.shapes``)."""
    pa, pq = _pyarrow()
    levels = len(rows[0]) if rows else 0
    names = [f"feature_{j}" for j in range(levels)] if feature_maps else ["embedding"]
    columns, shapes = [pa.array(keys, pa.string())], {}
    for j, name in enumerate(names):
        stacked = torch.stack([r[j] for r in rows]).float()
        shapes[name] = list(stacked.shape[1:])
        width = int(stacked[0].numel())
        flat = pa.array(stacked.reshape(-1).numpy(), pa.float32())
        columns.append(pa.FixedSizeListArray.from_arrays(flat, width))
    table = pa.Table.from_arrays(columns, names=["path", *names])
    table = table.replace_schema_metadata({"zoo.shapes": json.dumps(shapes)})
    pq.write_table(table, str(file))


def write_output(
    out: Path, fmt: str, keys: list[str], rows: list[list[torch.Tensor]], feature_maps: bool
) -> Path:
    """The merged file, ``<out>/embeddings.<format>``."""
    file = out / f"{OUTPUT_STEM}.{fmt}"
    if fmt == "parquet":
        write_parquet(file, keys, rows, feature_maps)
    else:
        write_safetensors(file, keys, rows, feature_maps)
    return file


# -- provenance ----------------------------------------------------------------------------------


def manifest_sha256(manifest: Manifest) -> tuple[str, str]:
    """``(sha256, of what)``: of the manifest file's bytes, or of its canonical JSON when in memory."""
    if manifest.file is not None and Path(manifest.file).is_file():
        return hashlib.sha256(Path(manifest.file).read_bytes()).hexdigest(), "file"
    text = json.dumps(manifest.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), "canonical-json"


def weights_info(manifest: Manifest, pretrained: bool) -> dict[str, Any]:
    """Where the weights came from: the manifest field, the location, and every file with its
    sha256 (and Hub commit). The weights source answers; after a load its files are on disk, so
    nothing is fetched and hashes come from zoo's verification records."""
    source = source_of(manifest)
    if source is None or not pretrained:
        return {"source": "none", "note": "random initialization"}
    files = source.files()
    return {
        "source": source.kind,
        "field": source.field,
        "location": source.describe(),
        "sha256": files[0].sha256 if len(files) == 1 else None,
        "revision": next((f.revision for f in files if f.revision), None),
        "files": [
            {
                "location": f.location,
                "file": f.filename,
                "revision": f.revision,
                "sha256": f.sha256,
            }
            for f in files
        ],
    }


_VERSIONED = (
    "torch",
    "torchvision",
    "timm",
    "transformers",
    "onnxruntime",
    "onnxruntime-gpu",
    "lightning",
    "pillow",
)


def versions() -> dict[str, str]:
    """Versions of zoo, Python and the libraries that shape the numbers."""
    found = {"zoo": __version__, "python": platform.python_version()}
    for package in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


def now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
