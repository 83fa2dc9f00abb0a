"""``zoo embed``'s Lightning callback: prepares the output folder, writes each process's shards as
its blocks of images complete, and (global rank 0) writes the index and provenance at the end.

Rank 0 alone decides (it owns the folder's record); the other ranks receive its decision by
broadcast, so every rank works from the same list of pending blocks, and no rank writes
before that list is made.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np

from zoo.atomic import write_error
from zoo.embed import folder as embed_out
from zoo.embed import session
from zoo.embed.images import ImageList
from zoo.embed.provenance import fingerprint
from zoo.embed.rows import ShardWriter
from zoo.embed.shards import (
    INDEX,
    SHARDS,
    Interval,
    build_index,
    pending,
    read_records,
    write_json,
)
from zoo.embed.volumes import is_volume_model, maps_at_input_size, transform_for
from zoo.errors import LoadError, UsageError, ZooError

#: A shard is written early when its rows reach this size (feature maps of large models).
SHARD_BYTES = 256 << 20
#: Unreadable images named on stderr, per process; all are in provenance.json.
QUOTE = session.QUOTE


def rank0_decision(
    trainer: Any, prepare: Callable[[Any], dict[str, Any]], images: ImageList, noun: str
) -> dict[str, Any]:
    """Global rank 0 prepares the run (``prepare(trainer)``) and every process gets its
    decision: a refusal on rank 0 is raised on every process, and every process must see the
    same list of inputs (``noun``: what they are, for the message)."""
    decision: dict[str, Any] = {}
    failure: ZooError | None = None
    if trainer.is_global_zero:
        try:
            decision = prepare(trainer)
        except ZooError as exc:
            failure, decision = exc, {"error": str(exc)}
    decision = trainer.strategy.broadcast(decision, src=0)
    if failure is not None:
        raise failure
    if "error" in decision:
        raise LoadError(f"global rank 0: {decision['error']}")
    same = decision["images_sha256"] == images.sha256()
    if not trainer.strategy.reduce_boolean_decision(same, all=True):
        raise UsageError(
            f"the processes of this run see different {noun} lists; the {noun}s and --out must "
            "be on a filesystem every node sees alike"
        )
    return decision


class EmbedWriter(pl.Callback):
    """Shards as blocks complete; index, provenance and the final record at the end.

    Args:
        config: The run's ``EmbedConfig``.
        images: The image list (the same on every rank); volume files for a 3-D encoder.
        model: The model (its manifest, ``out_indices`` and preprocessing).
        report: Receives messages for people (stderr).

    Attributes:
        volumes: The model takes volumes: the files are volumes, read as such.
        transform: What every file goes through (the model's preprocessing; for feature maps of
            a dynamic-size 3-D encoder, the same at the manifest's ``input.size``).
    """

    def __init__(
        self, config: Any, images: ImageList, model: Any, report: Callable[[str], None]
    ) -> None:
        self.config, self.images, self.model, self.report = config, images, model, report
        self.volumes = is_volume_model(model.manifest)
        self.noun = "volumes" if self.volumes else "images"
        self.transform = transform_for(model, model.out_indices is not None)
        self.out: Path = config.out
        self.blocks: list[Interval] = []
        self.shards: ShardWriter | None = None
        self.record: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self.interrupted = False
        self.done_before = 0
        self.rows_before = 0
        self.started = 0.0
        self._reported = 0

    # -- before: rank 0 prepares, everyone follows ----------------------------------------------

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        decision = rank0_decision(trainer, self._prepare, self.images, "image")
        rank, world = trainer.global_rank, trainer.world_size
        self.blocks = [tuple(b) for b in decision["blocks"][rank::world]]
        self.done_before, self.rows_before = decision["done"], decision["rows"]
        self.shards = ShardWriter(
            self.out / SHARDS,
            self.blocks,
            self.images,
            self.config.fmt,
            feature_maps=self.model.out_indices is not None,
            max_bytes=SHARD_BYTES,
            info={"rank": rank, "session": decision["session"]},
        )
        total, noun = len(self.images), self.noun
        maps = self.model.out_indices is not None
        if trainer.is_global_zero and maps_at_input_size(self.model.manifest, maps):
            size = list(self.model.manifest.input.size)
            self.report(
                f"feature maps of volumes are taken at input.size {size} (each volume padded or "
                "centre-cropped to it after resampling), so that every row has one shape"
            )
        if trainer.is_global_zero and self.done_before == total:
            self.report(f"nothing to do: all {total} {noun} are already done in {self.out}")
        elif trainer.is_global_zero and self.done_before:
            self.report(
                f"resuming: {self.done_before} of {total} {noun} are already done in {self.out}; "
                f"embedding the other {total - self.done_before}"
            )
        self.started = time.perf_counter()

    def _prepare(self, trainer: Any) -> dict[str, Any]:
        config, out, model = self.config, self.out, self.model
        run = fingerprint(
            model.manifest,
            transform=self.transform,
            out_indices=model.out_indices,
            pretrained=config.pretrained,
            seed=config.seed,
            fmt=config.fmt,
            precision=config.precision,
            images=len(self.images),
            images_sha256=self.images.sha256(),
        )
        record = session.open_record(out, run, config.overwrite)  # again: rank 0 decides, now
        records, leftovers = read_records(out / SHARDS)
        blocks = pending(records, len(self.images), config.shard_size, trainer.world_size)
        record["complete"] = False
        record["sessions"].append({"images_pending": _spans(blocks)})
        embed_out.write_record(out, record)  # first: the shards of this session are recorded
        try:
            (out / SHARDS).mkdir(exist_ok=True)
            for (
                path
            ) in leftovers:  # zoo's own half-written files (vet_output_folder vetted every one)
                if path.is_file() and not path.is_symlink():
                    path.unlink()
        except OSError as exc:
            raise write_error(out / SHARDS, exc) from None
        done = sum(r["end"] - r["start"] for r in records)
        rows = sum(r["rows"] for r in records)
        return session.start_session(
            self, trainer, record, run, blocks, done, rows, shard_size=config.shard_size
        )

    unit = "img"

    def dataset(self) -> Any:
        """The images (or volumes) through the transform; the sampler picks this process's."""
        from zoo.embed.images import ImageDataset
        from zoo.embed.volumes import VolumeDataset

        return (VolumeDataset if self.volumes else ImageDataset)(self.images, self.transform)

    def indices(self) -> np.ndarray:
        """This process's images, block after block."""
        if not self.blocks:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in self.blocks])

    # -- during ------------------------------------------------------------------------------

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, *_: Any
    ) -> None:
        assert self.shards is not None
        skipped = self.shards.add(outputs["index"].tolist(), outputs["outputs"], outputs["errors"])
        for _number, key, error in skipped:
            self._reported += 1
            if self._reported <= QUOTE:
                self.report(f"skipped {key}: {error}")
            if self._reported == QUOTE:
                self.report(
                    f"(further unreadable {self.noun} are counted and listed in provenance.json)"
                )

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        # Keep what is done: the images of the current block received so far become a shard.
        self.interrupted = isinstance(exception, KeyboardInterrupt)
        if self.shards is not None:
            with contextlib.suppress(Exception):
                self.shards.flush()

    # -- after: rank 0 writes the index, the provenance and the record ---------------------------

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.shards is None:
            return
        self.shards.flush()
        trainer.strategy.barrier("zoo-embed-written")
        failure: ZooError | None = None
        if trainer.is_global_zero:
            try:
                self.summary = self._finish(trainer)
            except ZooError as exc:
                failure = exc
        message = trainer.strategy.broadcast(None if failure is None else str(failure), src=0)
        if failure is not None:
            raise failure
        if message is not None:
            raise LoadError(f"global rank 0: {message}")

    def done_now(self) -> int:
        """Images done (embedded or skipped) over all sessions, from the shards on disk."""
        records, _ = read_records(self.out / SHARDS)
        return sum(r["end"] - r["start"] for r in records)

    def _finish(self, trainer: Any) -> dict[str, Any]:
        out, config, images = self.out, self.config, self.images
        assert self.record is not None
        records, _ = read_records(out / SHARDS)
        index = build_index(records, len(images), config.fmt, {"model": self.model.manifest.name})
        write_json(out / INDEX, index)
        skipped = [{"path": key, "error": error} for r in records for _, key, error in r["skipped"]]
        prov, computed, seconds = session.close_session(self, trainer, index, skipped)
        write_json(out / embed_out.PROVENANCE, prov)
        written = {
            r["file"]: {"size": r["size"], "sha256": r["sha256"]} for r in records if r["file"]
        }
        session.seal(out, self.record, written)
        return {
            **session.summary(self, trainer, index, skipped, computed, seconds),
            "kind": "volume" if self.volumes else "image",
            "shards": len(index["shards"]),
            "images_per_second": round(computed / seconds, 2) if seconds > 0 else None,
        }


def _spans(blocks: list[Interval]) -> list[list[int]]:
    """Blocks as the fewest ``[start, end]`` spans of images (adjacent blocks joined)."""
    spans: list[list[int]] = []
    for start, end in blocks:
        if spans and spans[-1][1] == start:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return spans
