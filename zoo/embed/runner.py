"""Feature extraction at scale: a model over image folders with PyTorch Lightning's ``Trainer.predict``.

A 3-D encoder reads volumes instead (NIfTI and ``.npy`` files, zoo.embed.volumes): the
same keys, output format, resuming and provenance.

One process per device (DDP over devices and nodes, gloo on CPU). The images, sorted by
key, are cut into blocks of ``shard_size`` (smaller where there are fewer images than
processes times that, so that every process has work); each process embeds its share of the blocks
and writes each one as a shard of ``<out>/shards/`` the moment it is complete, so no
process holds more than one shard of rows and nothing is ever merged in memory. Global
rank 0 then writes ``index.json`` (from the shards' records, without reading a row),
``provenance.json`` and the record ``zoo-embed.json``. Re-running the same command
resumes: only the blocks without a shard are embedded (zoo.embed.folder says which
folders zoo writes into, and what it may replace). Ctrl-C and SIGTERM (what batch
schedulers send before they kill) stop a run alike: each process first saves the rows it
holds as a shard.

With ``devices > 1`` Lightning starts the other processes by running the same
command again (its ``ddp`` launcher); under ``torchrun`` or SLURM every process is
started for it.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zoo.embed.folder import vet_output_folder
from zoo.embed.images import collate, collect_images, suffix
from zoo.embed.shards import FORMATS, _pyarrow
from zoo.embed.slides.collect import is_slide_run
from zoo.embed.volumes import NIFTI, forward, is_volume_model, nibabel
from zoo.errors import EmbedInterruptedError, MissingExtraError, UsageError
from zoo.loading.devices import check_accelerator
from zoo.loading.model import ZooModel

try:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
except ImportError:
    raise MissingExtraError("lightning", "embed", "zoo embed") from None

from zoo.embed.writer import EmbedWriter

log = logging.getLogger(__name__)


@dataclass
class EmbedConfig:
    """What ``zoo embed`` was asked to do (the CLI options, one to one)."""

    name: str
    images: list[str]
    out: Path
    batch: int = 32
    devices: int = 1
    num_nodes: int = 1
    accelerator: str = "auto"
    precision: str | None = None
    out_indices: Any = None
    fmt: str = "safetensors"
    workers: int = 2
    pretrained: bool = True
    trust_remote_code: bool = False
    overwrite: bool = False
    skip_missing: bool = False
    shard_size: int = 4096
    seed: int = 0
    strategy: str | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    #: Slides (zoo.embed.slides): the target scale, tile size, overlap, the slides' own scale.
    mpp: float | None = None
    tile_size: int | None = None
    overlap: int | None = None
    slide_mpp: float | None = None
    slides: bool = False

    def slide_options(self) -> bool:
        """Whether an option only slides take was given (it makes the run a slide run)."""
        options = (self.mpp, self.tile_size, self.overlap, self.slide_mpp)
        return self.slides or self.fmt == "h5" or any(o is not None for o in options)


def reads_volumes(name: str) -> bool:
    """Whether the model (a catalogue name or a manifest file) takes volumes: then zoo embed
    reads volume files instead of images. Asked before anything is loaded."""
    from zoo.loading.api import resolve

    return is_volume_model(resolve(name))


def load_model(config: EmbedConfig) -> ZooModel:
    """The model, by catalogue name or manifest file; random weights are seeded so every rank agrees."""
    torch.manual_seed(config.seed)
    kwargs = {
        "out_indices": config.out_indices,
        "pretrained": config.pretrained,
        "trust_remote_code": config.trust_remote_code,
    }
    from zoo.loading.api import load

    return load(config.name, **kwargs)


#: The error of an image whose output holds NaN or inf (the row is not written).
NON_FINITE = (
    "NonFiniteEmbeddingError: the model's output for this file holds NaN or inf (an input "
    "holding NaN, or an overflow at this --precision); no row is written for it"
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt``: Lightning stops the run as on
    Ctrl-C (the writer saves the rows it holds)."""


class EmbedModule(pl.LightningModule):
    """``predict_step``: the model's output for the good images of a batch; the data loader reads
    this process's blocks of images, which the writer learns in its ``setup`` (a process may have
    none: more processes than blocks, or a resumed run with little left)."""

    def __init__(self, model: ZooModel, writer: Any, config: EmbedConfig) -> None:
        super().__init__()
        self.model = model
        self.writer, self.config = writer, config
        self.allow_zero_length_dataloader_with_multiple_devices = True
        self.stopped_by: str | None = None

    def on_predict_start(self) -> None:
        # SIGTERM (what batch schedulers send, some time before SIGKILL) stops the run as Ctrl-C
        # does. Lightning's own handler only sets a flag its predict loop never reads; this one
        # replaces it for the run (Lightning restores the handler from before at the end).
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the shutdown saves undisturbed
            self.stopped_by = "SIGTERM"
            launcher = self.trainer.strategy.launcher
            if launcher is not None:
                launcher.kill(signal.SIGTERM)  # the processes this one started stop too
            raise Terminated

        signal.signal(signal.SIGTERM, stop)

    def predict_dataloader(self) -> Any:
        cuda = self.trainer.strategy.root_device.type == "cuda"
        return torch.utils.data.DataLoader(
            self.writer.dataset(),
            batch_size=self.config.batch,
            sampler=self.writer.indices(),  # in block order: each block completes in turn
            num_workers=self.config.workers,
            collate_fn=collate,
            pin_memory=cuda,
            persistent_workers=False,
        )

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        images = batch["images"]
        if images is None:
            return {"index": batch["index"], "outputs": [], "errors": batch["errors"]}
        outputs = forward(self.model, images)
        index, errors = batch["index"], list(batch["errors"])
        finite = torch.ones(len(index), dtype=torch.bool, device=outputs[0].device)
        for level in outputs:
            finite &= torch.isfinite(level.reshape(len(index), -1)).all(dim=1)
        if not bool(finite.all()):  # a NaN row is an error of its image, never a silent row
            keep = finite.cpu()
            errors += [(int(i), NON_FINITE) for i in index[~keep].tolist()]
            errors.sort()
            index, outputs = index[keep], [level[finite] for level in outputs]
        return {"index": index, "outputs": outputs, "errors": errors}


class ThroughputBar(TQDMProgressBar):
    """Lightning's progress bar on stderr (stdout is for data), with images per second (rank 0's
    rate times the world size)."""

    def __init__(self, unit: str = "img") -> None:
        super().__init__()
        self.unit = unit
        self._seen = 0
        self._start = 0.0

    def init_predict_tqdm(self) -> Tqdm:
        return Tqdm(
            desc=self.predict_description,
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        super().on_predict_start(trainer, pl_module)
        self._seen, self._start = 0, time.perf_counter()

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, *rest: Any
    ) -> None:
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, *rest)
        self._seen += len(batch["index"]) + len(batch["errors"])
        elapsed = time.perf_counter() - self._start
        if elapsed > 0 and self.predict_progress_bar is not None:
            rate = self._seen * trainer.world_size / elapsed
            self.predict_progress_bar.set_postfix({f"{self.unit}/s": f"{rate:.1f}"}, refresh=False)


PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")


def _precision(value: str | None) -> Any:
    if value is not None and value not in PRECISIONS:
        raise UsageError(f"--precision {value!r}: use one of {', '.join(PRECISIONS)}")
    return value


def _strategy(config: EmbedConfig) -> Any:
    if config.strategy is not None:
        return config.strategy
    if config.devices > 1 or config.num_nodes > 1:
        from lightning.pytorch.strategies import DDPStrategy

        backend = "gloo" if config.accelerator == "cpu" else None
        return DDPStrategy(process_group_backend=backend)
    return "auto"


def run(config: EmbedConfig, report: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """Extract features; returns the summary on global rank 0 and None on the other ranks.

    Args:
        config: The run.
        report: Receives messages for people: resuming, unreadable images (default: this
            module's logger, at warning level).

    Raises:
        UsageError: Bad options, no images, listed images missing (without ``skip_missing``).
        OutputFolderError: ``out`` holds files zoo did not write, or another run's output.
        EmbedInterruptedError: Ctrl-C or SIGTERM; what was done is saved, the same call resumes.
    """
    check_accelerator(config.accelerator, config.devices)  # before Lightning starts
    if config.fmt not in (*FORMATS, "h5"):
        raise UsageError(f"--format {config.fmt!r}: use one of {', '.join(FORMATS)}, h5")
    volumes = reads_volumes(config.name)
    if not volumes and is_slide_run(config.images, config.slide_options()):
        return run_slides(config, report or log.warning)
    if config.fmt == "h5":
        raise UsageError("--format h5 writes one file per slide: it is for slides only")
    if config.fmt == "parquet":
        _pyarrow()
    if config.shard_size < 1:
        raise UsageError(f"--shard-size {config.shard_size}: must be at least 1")
    _precision(config.precision)
    vet_output_folder(
        config.out, config.overwrite
    )  # early, on every rank; rank 0 checks again and acts
    images = collect_images(config.images, skip_missing=config.skip_missing, volumes=volumes)
    if volumes and any(suffix(images.key(i)) in NIFTI for i in range(len(images))):
        nibabel()  # before any process starts: a missing reader is one error, not one per file
    model = load_model(config)
    return _predict(config, model, EmbedWriter(config, images, model, report or log.warning))


def run_slides(config: EmbedConfig, report: Callable[[str], None]) -> dict[str, Any] | None:
    """``run`` on whole-slide images (zoo.embed.slides): one output per slide."""
    from zoo.embed.slides.collect import collect_slides
    from zoo.embed.slides.h5 import h5py
    from zoo.embed.slides.open import openslide
    from zoo.embed.slides.tiling import tiling_for
    from zoo.embed.slides.writer import SlideWriter
    from zoo.loading.api import resolve

    openslide()  # a missing extra is one error, before anything else
    if config.fmt == "h5":
        h5py()
    elif config.fmt == "parquet":
        _pyarrow()
    if config.out_indices is not None:
        raise UsageError("--out-indices: slides are embedded as one embedding per tile")
    _precision(config.precision)
    tiling = tiling_for(resolve(config.name), config.mpp, config.tile_size, config.overlap)
    if config.slide_mpp is not None and config.slide_mpp <= 0:
        raise UsageError(f"--slide-mpp {config.slide_mpp}: must be positive")
    vet_output_folder(config.out, config.overwrite)
    slides = collect_slides(config.images, skip_missing=config.skip_missing)
    model = load_model(config)
    writer = SlideWriter(config, slides, model, report, tiling, config.slide_mpp)
    return _predict(config, model, writer)


def _predict(config: EmbedConfig, model: ZooModel, writer: Any) -> dict[str, Any] | None:
    """Run the writer's work through Lightning's predict loop; rank 0's summary."""
    images = writer.images
    callbacks: list[Any] = [writer]
    if config.progress:
        callbacks.append(ThroughputBar(getattr(writer, "unit", "img")))
    trainer = pl.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=_strategy(config),
        precision=_precision(config.precision),
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=config.progress,
        use_distributed_sampler=False,  # each process reads its own blocks (EmbedWriter)
        callbacks=callbacks,
        **config.extra,
    )
    module = EmbedModule(model, writer, config)
    with warnings.catch_warnings():
        # Lightning's hint to raise num_workers: the user chose --workers.
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        # A resumed run with nothing left (or a process without a block) reads no image.
        warnings.filterwarnings(
            "ignore", message=r".*length of `DataLoader` across ranks is zero.*"
        )
        # Lightning 2.6 calls a torch.utils._pytree API that newer torch deprecates; not ours to fix.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        try:
            trainer.predict(module, return_predictions=False)
        except SystemExit:
            # Lightning turns Ctrl-C into sys.exit(1) once the callbacks have saved their work.
            if writer.interrupted:
                raise EmbedInterruptedError(
                    str(config.out), writer.done_now(), len(images), module.stopped_by or "SIGINT"
                ) from None
            raise
    return writer.summary if trainer.is_global_zero else None
