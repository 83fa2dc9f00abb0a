"""``zoo embed`` on slides: the Lightning callback that plans each process's slides, writes each
slide's features the moment its last tile is embedded, and (global rank 0) the index and
provenance at the end.

The unit of work, of writing and of resuming is a slide: slide ``n`` of the sorted slide
list has the record ``shards/<n>-<n+1>.json`` (written last: the commit), its features in
``shards/<n>-<n+1>.safetensors`` (or ``.parquet``) or, with ``--format h5``, in
``<slide>.h5``, and its picture in ``thumbnails/<slide>.png`` (drawn when the slide is
planned, from the thumbnail its tissue is found on). A slide that failed has a
record with its reason and nothing else. Rank 0 decides which slides are pending and every
rank takes every ``world``-th of them, so each slide is written by one process once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from zoo.atomic import write_error
from zoo.embed import folder as embed_out
from zoo.embed import session
from zoo.embed.images import ImageList
from zoo.embed.provenance import fingerprint
from zoo.embed.shards import SHARDS, pending, read_records, shard_name, write_json, write_shard
from zoo.embed.slides import h5, summary
from zoo.embed.slides.collect import slide_names
from zoo.embed.slides.dataset import Normalise, TileDataset
from zoo.embed.slides.open import SlideError
from zoo.embed.slides.plan import SlidePlan, plan
from zoo.embed.slides.thumbnail import THUMBNAILS
from zoo.embed.slides.tiling import Tiling
from zoo.embed.slides.tissue import TISSUE_METHOD
from zoo.embed.writer import rank0_decision
from zoo.errors import LoadError, ZooError


def encode(keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Keys as one UTF-8 buffer and ``len + 1`` offsets."""
    encoded = [k.encode("utf-8") for k in keys]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


class SlideWriter(pl.Callback):
    """Plans, then writes each slide as its tiles complete; index and provenance at the end.

    Args:
        config: The run's ``EmbedConfig`` (``slide_mpp`` in ``extra_slides``).
        slides: The slide list (the same on every rank).
        model: The model (its manifest gives mean and std).
        report: Receives messages for people (stderr).
        tiling: The target scale, tile size and overlap.
        slide_mpp: Replaces every slide's own microns per pixel.
    """

    unit = "tiles"
    noun = "slides"
    volumes = False

    def __init__(
        self,
        config: Any,
        slides: ImageList,
        model: Any,
        report: Callable[[str], None],
        tiling: Tiling,
        slide_mpp: float | None,
    ) -> None:
        self.config, self.images, self.model, self.report = config, slides, model, report
        self.tiling, self.slide_mpp = tiling, slide_mpp
        spec = model.manifest.input
        size = (int(spec.size[0]), int(spec.size[1]))
        fixed = not spec.dynamic_size and size != (tiling.tile_size, tiling.tile_size)
        self.transform = Normalise(
            list(spec.mean), list(spec.std), size if fixed else None, spec.interpolation
        )
        self.names = slide_names(slides)
        self.out: Path = config.out
        self.plans: list[SlidePlan] = []
        self.slide_of = np.zeros(0, dtype=np.int32)
        self.coords = np.zeros((0, 2), dtype=np.int64)
        self.record: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self.interrupted = False
        self.done_before = self.rows_before = 0
        self.started = 0.0
        self.info: dict[str, Any] = {}
        self._rows: list[torch.Tensor] = []
        self._errors: list[str] = []
        self._next = 0  # the next tile expected

    def files(self) -> list[str]:
        """The files outside ``shards/`` that this run may write (relative paths)."""
        files = [f"{THUMBNAILS}/{n}.png" for n in self.names]
        if self.config.fmt == "h5":
            files += [f"{n}.h5" for n in self.names]
        return sorted(files)

    # -- before: rank 0 prepares, every rank plans its slides ------------------------------------

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        decision = rank0_decision(trainer, self._prepare, self.images, "slide")
        rank, world = trainer.global_rank, trainer.world_size
        self.info = {"rank": rank, "session": decision["session"]}
        self.done_before, self.rows_before = decision["done"], decision["rows"]
        total = len(self.images)
        if trainer.is_global_zero and self.done_before == total:
            self.report(f"nothing to do: all {total} slides are already done in {self.out}")
        elif trainer.is_global_zero and self.done_before:
            self.report(
                f"resuming: {self.done_before} of {total} slides are already done in {self.out}; "
                f"embedding the other {total - self.done_before}"
            )
        self._plan([a for a, _ in decision["blocks"][rank::world]])
        self.started = time.perf_counter()

    def _prepare(self, trainer: Any) -> dict[str, Any]:
        config, out, model = self.config, self.out, self.model
        run = fingerprint(
            model.manifest,
            transform=self.transform,
            out_indices=None,
            pretrained=config.pretrained,
            seed=config.seed,
            fmt=config.fmt,
            precision=config.precision,
            images=len(self.images),
            images_sha256=self.images.sha256(),
        )
        run["slides"] = {
            **self.tiling.as_dict(),
            "slide_mpp": self.slide_mpp,
            "tissue": TISSUE_METHOD,
            "read": "coarsest level at most the wanted downsample; bilinear resize",
        }
        record = session.open_record(out, run, config.overwrite, slide_files=self.files())
        records, leftovers = read_records(out / SHARDS)
        blocks = pending(records, len(self.images), 1, trainer.world_size)
        record["complete"] = False
        record["sessions"].append({"images_pending": [[a, b] for a, b in blocks]})
        embed_out.write_record(out, record)
        try:
            (out / SHARDS).mkdir(exist_ok=True)
            (out / THUMBNAILS).mkdir(exist_ok=True)
            for path in leftovers + [out / f"{f}.tmp" for f in record["slide_files"]]:
                if path.is_file() and not path.is_symlink():  # zoo's own half-written files
                    path.unlink()
        except OSError as exc:
            raise write_error(out, exc) from None
        rows = sum(r["rows"] for r in records)
        return session.start_session(self, trainer, record, run, blocks, len(records), rows)

    def _plan(self, numbers: list[int]) -> None:
        slide_of, coords = [], []
        for number in numbers:
            key, name = self.images.key(number), self.names[number]
            try:
                picture = self.out / THUMBNAILS / f"{name}.png"  # before the tiles: no second read
                path = self.images.file(number)
                found = plan(number, key, name, path, self.tiling, self.slide_mpp, picture)
            except SlideError as exc:
                self._failed(number, str(exc))
                continue
            slide_of.append(np.full(len(found.tiles.coords), len(self.plans), dtype=np.int32))
            coords.append(found.tiles.coords)
            self.plans.append(found)
        if self.plans:
            self.slide_of, self.coords = np.concatenate(slide_of), np.concatenate(coords)

    def dataset(self) -> TileDataset:
        """The tiles of this process's slides, slide after slide."""
        reads = [p.read(self.tiling) for p in self.plans]
        return TileDataset(reads, self.slide_of, self.coords, self.transform)

    def indices(self) -> np.ndarray:
        return np.arange(len(self.slide_of), dtype=np.int64)

    # -- during ------------------------------------------------------------------------------

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, *_: Any
    ) -> None:
        index = outputs["index"].tolist()
        rows = outputs["outputs"][0].detach().to("cpu", torch.float32) if index else None
        bad = dict(outputs["errors"])
        row = {tile: k for k, tile in enumerate(index)}
        for tile in sorted([*index, *bad]):
            if tile != self._next:
                raise LoadError(f"tile #{tile} arrived out of order (expected #{self._next})")
            if tile in bad:
                self._errors.append(bad[tile])
            else:
                assert rows is not None
                self._rows.append(rows[row[tile]])
            self._next += 1
            slide = int(self.slide_of[tile])
            if self._next == len(self.slide_of) or int(self.slide_of[self._next]) != slide:
                self._complete(self.plans[slide])

    def _complete(self, done: SlidePlan) -> None:
        rows, errors = self._rows, self._errors
        self._rows, self._errors = [], []
        if errors:
            more = f" (and {len(errors) - 1} more of its tiles)" if len(errors) > 1 else ""
            self._failed(done.number, f"{errors[0]}{more}")
            return
        features = torch.stack(rows)
        self._write(done, features)
        self.report(f"slide {done.key}: {len(features)} tiles")

    def _write(self, done: SlidePlan, features: torch.Tensor) -> None:
        out, coords = self.out, done.tiles.coords
        stem = shard_name(done.number, done.number + 1)
        thumb = f"{THUMBNAILS}/{done.name}.png"
        info = {**self.info, "slide": done.as_dict(), "thumbnail": thumb}
        if self.config.fmt == "h5":
            described = done.as_dict()
            attributes = h5.coords_attributes(
                done.name,
                tiling=self.tiling.as_dict(),
                slide=described["slide"],
                tiles=described,
            )
            meta = {"name": done.name, "encoder": self.model.manifest.name}
            path = out / f"{done.name}.h5"
            h5.write_h5(path, features.numpy(), coords, attributes, meta)
            record = summary.h5_record(done.number, path, features, info)
            write_json(out / SHARDS / f"{stem}.json", record)  # the commit
        else:
            keys = [f"{done.key}/{x}_{y}" for x, y in coords.tolist()]
            write_shard(  # data, then its record (the commit)
                out / SHARDS,
                (done.number, done.number + 1),
                fmt=self.config.fmt,
                keys=encode(keys),
                levels={"embedding": features},
                extra={"coords": torch.from_numpy(coords)},
                info=info,
            )

    def _failed(self, number: int, reason: str) -> None:
        key = self.images.key(number)
        self.report(f"slide {key} failed: {reason}")
        record = {
            "start": number,
            "end": number + 1,
            "rows": 0,
            "file": None,
            "levels": [],
            "dtype": "float32",
            "skipped": [[number, key, reason]],
            **self.info,
        }
        write_json(self.out / SHARDS / f"{shard_name(number, number + 1)}.json", record)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.interrupted = isinstance(exception, KeyboardInterrupt)

    # -- after: rank 0 writes the index, the provenance and the record ---------------------------

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if not self.info:
            return
        trainer.strategy.barrier("zoo-embed-slides-written")
        failure: ZooError | None = None
        if trainer.is_global_zero:
            try:
                assert self.record is not None
                self.summary = summary.finish(self, trainer)
            except ZooError as exc:
                failure = exc
        message = trainer.strategy.broadcast(None if failure is None else str(failure), src=0)
        if failure is not None:
            raise failure
        if message is not None:
            raise LoadError(f"global rank 0: {message}")

    def done_now(self) -> int:
        """Slides done (embedded or failed) over all sessions, from the records on disk."""
        return len(read_records(self.out / SHARDS)[0])
