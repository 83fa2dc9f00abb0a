"""One process's rows, buffered until a block of images is done, then written as one shard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from zoo.embed.shards import Interval, level_names, write_shard
from zoo.errors import LoadError


class ShardWriter:
    """Rows of one process, buffered until a block of images is done (or the buffer is too big),
    then written as one shard. Images arrive in the order of the process's blocks.

    Args:
        folder: The ``shards`` folder.
        blocks: The process's image intervals, in the order its data loader reads them.
        keys: Gives the keys of image numbers (an ``ImageList``).
        fmt: ``safetensors`` or ``parquet``.
        feature_maps: Levels are named ``feature_<j>`` (else the one level is ``embedding``).
        max_bytes: Write a shard early when its rows reach this size.
        info: Extra fields for every record.
    """

    def __init__(
        self,
        folder: Path,
        blocks: Sequence[Interval],
        keys: Any,
        fmt: str,
        *,
        feature_maps: bool,
        max_bytes: int,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.folder, self.keys, self.fmt, self.max_bytes = folder, keys, fmt, max_bytes
        self.feature_maps = feature_maps
        self.info = info or {}
        self._blocks = list(blocks)
        self._block = 0
        self._start = self._cursor = self._blocks[0][0] if self._blocks else 0
        self._index: list[int] = []
        self._levels: list[list[torch.Tensor]] = []
        self._skipped: list[tuple[int, str, str]] = []
        self._bytes = 0
        self._broken = False
        self.rows = 0  # rows written by this writer
        self.processed = 0  # images written (rows and skipped)
        self.records: list[dict[str, Any]] = []

    def add(
        self,
        index: Sequence[int],
        outputs: Sequence[torch.Tensor],
        errors: Sequence[tuple[int, str]],
    ) -> list[tuple[int, str, str]]:
        """One batch: the rows of readable images (``index`` ascending) and the others' errors.

        Returns the batch's skipped images as ``(number, key, error)``.

        Raises:
            LoadError: The images did not arrive in block order.
        """
        bad = dict(errors)
        order = sorted([*index, *bad])
        self._check_order(order)
        index = list(index)
        new_skipped = []
        row = 0
        try:
            for number in order:
                if number in bad:
                    entry = (number, self.keys.key(number), bad[number])
                    self._skipped.append(entry)
                    new_skipped.append(entry)
                else:
                    row += 1
                self._cursor += 1
                if self._cursor == self._blocks[self._block][1]:
                    self._take(index, outputs, row)
                    index, outputs, row = index[row:], [t[row:] for t in outputs], 0
                    self.flush()
                    self._block += 1
                    if self._block < len(self._blocks):
                        self._start = self._cursor = self._blocks[self._block][0]
            self._take(index, outputs, row)
        except BaseException:
            self._broken = True  # half-taken batch: never write it as if it were whole
            raise
        if self._bytes >= self.max_bytes:
            self.flush()
        return new_skipped

    def _check_order(self, order: list[int]) -> None:
        block, cursor = self._block, self._cursor
        for number in order:
            if block >= len(self._blocks) or number != cursor:
                raise LoadError(f"image #{number} arrived out of order (expected #{cursor})")
            cursor += 1
            if cursor == self._blocks[block][1]:
                block += 1
                if block < len(self._blocks):
                    cursor = self._blocks[block][0]

    def _take(self, index: list[int], outputs: Sequence[torch.Tensor], rows: int) -> None:
        if not rows:
            return
        self._index.extend(index[:rows])
        if not self._levels:
            self._levels = [[] for _ in outputs]
        for store, tensor in zip(self._levels, outputs, strict=True):
            part = tensor[:rows].detach().to("cpu", torch.float32)
            store.append(part)
            self._bytes += part.numel() * 4

    def flush(self) -> dict[str, Any] | None:
        """Write the images from the last shard's end up to the last one received, if any.

        After a failure inside :meth:`add` or a failed write nothing more is written: the
        buffer may then not match the images it claims to cover.
        """
        if self._cursor <= self._start or self._broken:
            return None
        levels: dict[str, torch.Tensor] = {}
        if self._levels and self._levels[0]:  # else every image of the block was skipped
            names = level_names(len(self._levels), self.feature_maps)
            levels = {n: torch.cat(parts) for n, parts in zip(names, self._levels, strict=True)}
        try:
            record = write_shard(
                self.folder,
                (self._start, self._cursor),
                fmt=self.fmt,
                keys=self.keys.encoded(self._index),
                levels=levels,
                skipped=self._skipped,
                info=self.info,
            )
        except BaseException:
            self._broken = True
            raise
        self.records.append(record)
        self.rows += record["rows"]
        self.processed += self._cursor - self._start
        self._start = self._cursor
        self._index, self._skipped, self._bytes = [], [], 0
        self._levels = [[] for _ in self._levels]
        return record
