"""Reading ``zoo embed`` output without loading it: keys, rows by number, shard after shard.

    >>> emb = zoo.read_embeddings("emb/")              # doctest: +SKIP
    >>> len(emb), emb.levels                            # doctest: +SKIP
    (1000000, ['embedding'])
    >>> emb.keys[12], emb["embedding"][12].shape         # doctest: +SKIP
    ('slide1/tile_0012.png', torch.Size([384]))
    >>> for shard in emb.shards:                         # doctest: +SKIP
    ...     keys, x = shard.keys(), shard.tensor("embedding")
    >>> feats, xy = emb.slide("TCGA-01").features, emb.slide("TCGA-01").coords  # doctest: +SKIP

A slide run (zoo.embed.slides) has one shard per slide with its tiles' coordinates (or one
``<slide>.h5`` per slide, ``--format h5``, read the same way); a tile's key is
``<slide key>/<x>_<y>``.

safetensors shards are read through ``safe_open`` (memory-mapped: a row read pages in
that row only); a parquet shard is read whole the first time one of its rows is asked
for (the last two are kept). Nothing ever holds all rows or all keys.
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from zoo.embed.folder import RECORD
from zoo.embed.shards import (
    FORMAT,
    INDEX,
    KEY_COLUMN,
    KEY_OFFSETS,
    KEYS,
    VERSION,
    _pyarrow,
    sha256_of,
)
from zoo.errors import EmbeddingsError, IntegrityError

#: A slide's tile coordinates in its shard (zoo.embed.slides).
COORDS = "coords"
#: Open safetensors files (and loaded parquet shards) kept per reader.
CACHE = 8


class Shard:
    """One shard: ``rows`` rows from global row ``first_row`` on."""

    def __init__(self, owner: Embeddings, number: int, entry: dict[str, Any]) -> None:
        self._owner = owner
        self.number = number
        self.file: Path = owner.folder / entry["file"]
        self.rows: int = entry["rows"]
        self.first_row: int = entry["first_row"]
        self.images: tuple[int, int] = tuple(entry["images"])
        self.entry = entry

    def __repr__(self) -> str:
        return f"Shard({self.file.name}, rows={self.rows}, first_row={self.first_row})"

    def keys(self) -> list[str]:
        """The keys of this shard's rows, in order."""
        return list(self._keys())

    def _keys(self) -> list[str]:
        # The last shard's keys are kept: reading keys in order decodes each shard once.
        last = self._owner._last_keys
        if last is not None and last[0] == self.number:
            return last[1]
        if self._owner.storage == "h5":
            slide = self._owner._slide_of(self)["key"]
            keys = [f"{slide}/{x}_{y}" for x, y in self.coords().tolist()]
        elif self._owner.storage == "parquet":
            table = self._owner._table(self, [KEY_COLUMN])
            keys = [str(k) for k in table.column(KEY_COLUMN).to_pylist()]
        else:
            handle = self._owner._handle(self)
            blob = handle.get_tensor(KEYS).numpy().tobytes()
            ends = handle.get_tensor(KEY_OFFSETS).tolist()
            keys = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(ends)]
        self._owner._last_keys = (self.number, keys)
        return keys

    def key(self, row: int) -> str:
        """The key of local row ``row``."""
        last = self._owner._last_keys
        whole = self._owner.storage in ("parquet", "h5")
        if whole or (last is not None and last[0] == self.number):
            return self._keys()[row]
        handle = self._owner._handle(self)
        a, b = handle.get_slice(KEY_OFFSETS)[row : row + 2].tolist()
        return handle.get_slice(KEYS)[a:b].numpy().tobytes().decode("utf-8")

    def tensor(self, level: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Local rows ``start`` to ``stop`` of a level, ``[n, *shape]`` (all rows by default)."""
        stop = self.rows if stop is None else stop
        shape = self._owner.shapes[self._owner._level(level)]
        if self._owner.storage == "h5":
            with _h5py().File(self.file, "r") as f:
                return torch.from_numpy(f["features"][start:stop]).reshape(-1, *shape)
        if self._owner.storage == "parquet":
            column = self._owner._table(self, [level]).column(level).combine_chunks()
            flat = column.flatten().to_numpy(zero_copy_only=False)
            return torch.from_numpy(flat.reshape(self.rows, *shape)[start:stop].copy())
        return self._owner._handle(self).get_slice(level)[start:stop]

    def coords(self) -> torch.Tensor:
        """A slide's shard: each row's tile, level-0 top-left ``(x, y)``, int64 ``[rows, 2]``."""
        storage = self._owner.storage
        if storage == "h5":
            with _h5py().File(self.file, "r") as f:
                return torch.from_numpy(f["coords"][:].astype(np.int64))
        if storage == "parquet":
            column = self._owner._table(self, [COORDS]).column(COORDS).combine_chunks()
            flat = column.flatten().to_numpy(zero_copy_only=False)
            return torch.from_numpy(flat.reshape(self.rows, 2).astype(np.int64))
        return self._owner._handle(self).get_tensor(COORDS)


def _h5py() -> Any:
    from zoo.embed.slides.h5 import h5py

    return h5py()


class SlideFeatures(NamedTuple):
    """One slide's tiles: ``features`` ``[N, D]``, ``coords`` ``[N, 2]`` (level-0 top-left x, y)."""

    name: str
    key: str
    features: torch.Tensor
    coords: torch.Tensor


class Keys(Sequence[str]):
    """The keys of all rows, in row order; read shard by shard when asked, never all at once."""

    def __init__(self, owner: Embeddings) -> None:
        self._owner = owner

    def __len__(self) -> int:
        return len(self._owner)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return [
                key
                for shard in self._owner.shards
                if (a := shard.first_row) < stop and a + shard.rows > start
                for key in shard._keys()[max(start, a) - a : min(stop, a + shard.rows) - a]
            ]
        shard, row = self._owner.locate(item)
        return shard.key(row)

    def __iter__(self) -> Iterator[str]:
        for shard in self._owner.shards:
            yield from shard._keys()

    def __contains__(self, key: object) -> bool:
        try:
            self.index(key)
        except ValueError:
            return False
        return True

    def index(self, key: Any, start: int = 0, stop: int | None = None) -> int:
        """The row of ``key`` (one pass over the shards' keys)."""
        for shard in self._owner.shards:
            if shard.first_row + shard.rows <= start:
                continue
            keys = shard._keys()
            if key in keys:
                row = shard.first_row + keys.index(key)
                if row >= start and (stop is None or row < stop):
                    return row
        raise ValueError(f"{key!r} is not a key of {self._owner.folder}")


class Level:
    """One output level, ``[rows, *shape]``, read row by row or range by range."""

    def __init__(self, owner: Embeddings, name: str) -> None:
        self._owner, self.name = owner, name
        self.shape: tuple[int, ...] = (len(owner), *owner.shapes[name])
        self.dtype = torch.float32

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Level({self.name!r}, shape={self.shape})"

    def __getitem__(self, item: Any) -> torch.Tensor:
        """A row (int), rows ``a:b`` (a slice) or rows in any order (a sequence or tensor of ints)."""
        if isinstance(item, (int, np.integer)):
            shard, row = self._owner.locate(int(item))
            return shard.tensor(self.name, row, row + 1)[0]
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            if step != 1:
                return self[list(range(start, stop, step))]
            parts = [
                shard.tensor(self.name, max(start, a) - a, min(stop, a + shard.rows) - a)
                for shard in self._owner.shards
                if (a := shard.first_row) < stop and a + shard.rows > start
            ]
            return torch.cat(parts) if parts else torch.empty((0, *self.shape[1:]))
        rows = np.asarray(torch.as_tensor(item), dtype=np.int64).reshape(-1)
        rows = np.where(rows < 0, rows + len(self), rows)
        if ((rows < 0) | (rows >= len(self))).any():
            raise IndexError(f"row out of range for {len(self)} rows")
        out = torch.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        which = np.searchsorted(self._owner._starts, rows, side="right") - 1
        for number in np.unique(which):
            shard = self._owner.shards[int(number)]
            picked = np.nonzero(which == number)[0]
            local = rows[picked] - shard.first_row
            block = shard.tensor(self.name, int(local.min()), int(local.max()) + 1)
            out[torch.from_numpy(picked)] = block[torch.from_numpy(local - local.min())]
        return out

    def shards(self) -> Iterator[torch.Tensor]:
        """Each shard's rows of this level in turn (one shard in memory at a time)."""
        for shard in self._owner.shards:
            yield shard.tensor(self.name)


class Embeddings:
    """A ``zoo embed`` output folder (see :func:`read_embeddings`).

    Attributes:
        folder: The folder.
        index: Its parsed ``index.json``.
        storage: ``safetensors`` or ``parquet``.
        levels: The level names (``embedding``, or ``feature_0`` ...).
        shapes: Each level's row shape.
        keys: The keys of all rows, a lazy sequence.
        shards: The shards in row order.
    """

    def __init__(self, folder: Path, index: dict[str, Any]) -> None:
        self.folder, self.index = folder, index
        self.storage: str = index["storage"]
        self.levels: list[str] = [level["name"] for level in index["levels"]]
        self.shapes = {level["name"]: tuple(level["shape"]) for level in index["levels"]}
        self.shards = [Shard(self, n, e) for n, e in enumerate(index["shards"])]
        self._starts = np.array([s.first_row for s in self.shards], dtype=np.int64)
        self.keys = Keys(self)
        self._cache: OrderedDict[tuple[int, Any], Any] = OrderedDict()
        self._last_keys: tuple[int, list[str]] | None = None

    def __len__(self) -> int:
        return int(self.index["rows"])

    def __repr__(self) -> str:
        return f"Embeddings({str(self.folder)!r}, rows={len(self)}, levels={self.levels})"

    def __getitem__(self, level: str) -> Level:
        return Level(self, self._level(level))

    def __enter__(self) -> Embeddings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release open files."""
        self._cache.clear()
        self._last_keys = None

    @property
    def slides(self) -> list[str]:
        """The names of the slides with tiles (a slide run; empty otherwise), in slide order."""
        return [entry["name"] for entry in self.index.get("slides", [])]

    def slide(self, name: str) -> SlideFeatures:
        """One slide's features and tile coordinates (``name``: as in :attr:`slides`).

        Raises:
            KeyError: No slide of that name has tiles here.
        """
        for entry in self.index.get("slides", []):
            if entry["name"] == name:
                shard = next(s for s in self.shards if s.images[0] == entry["number"])
                features = shard.tensor(self.levels[0])
                return SlideFeatures(name, entry["key"], features, shard.coords())
        raise KeyError(f"no slide {name!r} with tiles in {self.folder}; there are {self.slides}")

    def _slide_of(self, shard: Shard) -> dict[str, Any]:
        return next(e for e in self.index["slides"] if e["number"] == shard.images[0])

    def _level(self, name: str) -> str:
        if name not in self.shapes:
            raise KeyError(f"no level {name!r} in {self.folder}; there are {self.levels}")
        return name

    def locate(self, row: int) -> tuple[Shard, int]:
        """The shard holding global row ``row`` (negative counts from the end), and the local row."""
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} out of range for {len(self)} rows")
        shard = self.shards[int(np.searchsorted(self._starts, row, side="right")) - 1]
        return shard, row - shard.first_row

    def _cached(self, key: tuple[int, Any], make: Any) -> Any:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = self._cache[key] = make()
        while len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        return value

    def _handle(self, shard: Shard) -> Any:
        from safetensors import safe_open

        return self._cached((shard.number, None), lambda: safe_open(str(shard.file), "pt"))

    def _table(self, shard: Shard, columns: list[str]) -> Any:
        _, pq = _pyarrow()
        return self._cached(
            (shard.number, tuple(columns)),
            lambda: pq.read_table(str(shard.file), columns=columns, memory_map=True),
        )

    def verify(self) -> None:
        """Check every shard file's size and sha256 against the index.

        Raises:
            IntegrityError: A shard differs from what zoo wrote.
        """
        for shard in self.shards:
            size = shard.file.stat().st_size if shard.file.is_file() else None
            actual = sha256_of(shard.file) if size == shard.entry["size"] else f"size {size}"
            if actual != shard.entry["sha256"]:
                raise IntegrityError(str(shard.file), shard.entry["sha256"], actual, removed=False)


def read_embeddings(folder: str | Path, *, verify: bool = False) -> Embeddings:
    """Open the output of ``zoo embed`` (the folder given as ``--out``).

    Args:
        folder: The output folder.
        verify: Check every shard's size and sha256 first (reads every byte once).

    Raises:
        EmbeddingsError: No finished ``zoo embed`` output there.
        IntegrityError: With ``verify``, a shard differs from what zoo wrote.
    """
    folder = Path(folder)
    path = folder / INDEX
    if not path.is_file():
        unfinished = (folder / RECORD).is_file()
        raise EmbeddingsError(
            f"{folder} holds an unfinished zoo embed run (no {INDEX} yet): run the same "
            "`zoo embed` command again to finish it"
            if unfinished
            else f"{folder} holds no zoo embed output (no {INDEX})"
        )
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        if index.get("format") != FORMAT:
            raise ValueError("not a zoo embed index")
    except (OSError, ValueError) as exc:
        raise EmbeddingsError(f"{path} is unreadable: {exc}") from None
    if index.get("version") != VERSION:
        raise EmbeddingsError(
            f"{path} is version {index.get('version')} of the zoo embed format; this zoo reads "
            f"version {VERSION}. Upgrade zoo."
        )
    embeddings = Embeddings(folder, index)
    if verify:
        embeddings.verify()
    return embeddings
