"""Feature extraction at scale: a model over an image folder with PyTorch Lightning's ``Trainer.predict``.

One process per device (DDP over devices and nodes, gloo on CPU). Each rank writes
its rows to shards under ``<out>/.zoo-embed-parts``; when every rank is done, rank 0
merges them into ``<out>/embeddings.<format>`` keyed by relative image path (sorted),
writes ``<out>/provenance.json`` and removes the shards. Unreadable images are
reported in the provenance and skipped.

With ``devices > 1`` Lightning starts the other processes by running the same
command again (its ``ddp`` launcher); under ``torchrun`` or SLURM every process is
started for it.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zoo.build.devices import check_accelerator
from zoo.build.outputs import ZooModel
from zoo.errors import LoadError, MissingExtraError, UsageError
from zoo.run.embed_io import (
    FORMATS,
    PARTS,
    PROVENANCE,
    ImageDataset,
    Item,
    ShardWriter,
    collate,
    collect_images,
    manifest_sha256,
    now,
    read_shards,
    versions,
    weights_info,
    write_output,
)

try:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import TQDMProgressBar
except ImportError:
    raise MissingExtraError("lightning", "embed", "zoo embed") from None


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
    seed: int = 0
    strategy: str | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty output folder unless ``overwrite`` (nothing is deleted here)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(
            f"--out {out} is not empty; choose a new folder or pass --overwrite to replace its content"
        )


def refuse_volumes(name: str) -> None:
    """zoo embed reads 2-D images only: a volume model is refused before anything is loaded.

    Raises:
        UsageError: The model's input is a volume.
    """
    from zoo.build.catalog import Catalog
    from zoo.manifest import VolumeInputSpec

    manifest = Catalog().resolve(name)
    if isinstance(manifest.input, VolumeInputSpec):
        raise UsageError(
            f"zoo embed reads 2-D images, but {manifest.name} takes volumes [C, D, H, W]; volumes "
            "(NIfTI, .npy) are not supported by zoo embed yet: embed them in Python with "
            "x = model.preprocess(volume) and model(x[None])"
        )


def load_model(config: EmbedConfig) -> ZooModel:
    """The model, by catalogue name or manifest file; random weights are seeded so every rank agrees."""
    torch.manual_seed(config.seed)
    kwargs = {
        "out_indices": config.out_indices,
        "pretrained": config.pretrained,
        "trust_remote_code": config.trust_remote_code,
    }
    if config.name.endswith((".yaml", ".yml")) or Path(config.name).is_file():
        from zoo.build.pipeline import load_manifest

        return load_manifest(config.name, **kwargs)
    from zoo.build.catalog import Catalog

    model = Catalog().load(config.name, **kwargs)
    assert isinstance(model, ZooModel)
    return model


class EmbedModule(pl.LightningModule):
    """``predict_step``: the model's output for the good images of a batch."""

    def __init__(self, model: ZooModel) -> None:
        super().__init__()
        self.model = model

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        images = batch["images"]
        if images is None:
            return {"index": batch["index"], "outputs": [], "errors": batch["errors"]}
        out = self.model(images)
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        return {"index": batch["index"], "outputs": outputs, "errors": batch["errors"]}


class EmbedWriter(pl.Callback):
    """Per-rank shards during the run; rank 0 merges them and writes the provenance at the end."""

    def __init__(self, config: EmbedConfig, items: list[Item], model: ZooModel) -> None:
        self.config, self.items, self.model = config, items, model
        self.parts = config.out / PARTS
        self.shards: ShardWriter | None = None
        self.summary: dict[str, Any] | None = None
        self.started = 0.0

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        # Every rank has passed check_out() by now: the process group's rendezvous, which comes
        # first, waits for all of them, so rank 0 may write into --out from here on.
        if trainer.is_global_zero:
            out = self.config.out
            if out.is_dir() and self.config.overwrite:
                for child in out.iterdir():
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            self.parts.mkdir(parents=True, exist_ok=True)
        trainer.strategy.barrier("zoo-embed-setup")
        self.parts.mkdir(parents=True, exist_ok=True)  # another node may not share rank 0's disk
        self.shards = ShardWriter(self.parts, trainer.global_rank)
        self.started = time.perf_counter()

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, *_: Any
    ) -> None:
        assert self.shards is not None
        self.shards.errors.extend(outputs["errors"])
        if outputs["outputs"]:
            self.shards.add(outputs["index"], outputs["outputs"])

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        assert self.shards is not None
        self.shards.close()
        trainer.strategy.barrier("zoo-embed-written")
        if trainer.is_global_zero:
            self.summary = self._merge(trainer)
        trainer.strategy.barrier("zoo-embed-merged")

    def _merge(self, trainer: Any) -> dict[str, Any]:
        config, items = self.config, self.items
        rows, errors = read_shards(self.parts, len(items))
        missing = [items[i][0] for i in range(len(items)) if i not in rows and i not in errors]
        if missing:
            raise LoadError(
                f"{len(missing)} image(s) got no result (first: {', '.join(missing[:3])}); "
                f"the shards in {self.parts} are kept for inspection"
            )
        order = sorted(rows)
        keys = [items[i][0] for i in order]
        values = [rows[i] for i in order]
        feature_maps = self.model.out_indices is not None
        file = write_output(config.out, config.fmt, keys, values, feature_maps)
        shapes = [list(t.shape) for t in values[0]] if values else []
        skipped = [{"path": items[i][0], "error": e} for i, e in sorted(errors.items())]
        seconds = time.perf_counter() - self.started
        provenance = self._provenance(trainer, file, shapes, len(keys), skipped, seconds)
        (config.out / PROVENANCE).write_text(
            json.dumps(provenance, indent=2, ensure_ascii=False) + "\n"
        )
        shutil.rmtree(self.parts)
        return {
            "name": self.model.manifest.name,
            "file": str(file),
            "provenance": str(config.out / PROVENANCE),
            "images": len(items),
            "embedded": len(keys),
            "skipped": len(skipped),
            "shapes": shapes,
            "world_size": trainer.world_size,
            "seconds": round(seconds, 2),
            "images_per_second": round(len(keys) / seconds, 2) if seconds > 0 else None,
        }

    def _provenance(
        self,
        trainer: Any,
        file: Path,
        shapes: list[list[int]],
        embedded: int,
        skipped: list[dict[str, str]],
        seconds: float,
    ) -> dict[str, Any]:
        config, manifest = self.config, self.model.manifest
        digest, of_what = manifest_sha256(manifest)
        return {
            "created": now(),
            "model": {
                "name": manifest.name,
                "manifest_sha256": digest,
                "manifest_sha256_of": of_what,
                "manifest_file": str(manifest.file) if manifest.file else None,
                "wrapper": manifest.wrapper.type,
                "pretrained": config.pretrained and manifest.checkpoint is not None,
                "seed": config.seed,
            },
            "weights": weights_info(manifest, config.pretrained),
            "preprocessing": {
                "transform": repr(self.model.preprocess),
                **manifest.input.model_dump(mode="json"),
            },
            "output": {
                "file": file.name,
                "format": config.fmt,
                "kind": "feature_maps" if self.model.out_indices is not None else "embedding",
                "out_indices": self.model.out_indices,
                "pooling": manifest.output.pooling,
                "shapes": shapes,
                "dtype": "float32",
            },
            "run": {
                "precision": str(trainer.precision),
                "accelerator": type(trainer.accelerator).__name__,
                "devices": config.devices,
                "num_nodes": config.num_nodes,
                "world_size": trainer.world_size,
                "batch_size": config.batch,
                "seconds": round(seconds, 3),
            },
            "images": {
                "sources": [str(Path(s).resolve()) for s in config.images],
                "count": len(self.items),
                "embedded": embedded,
                "skipped": skipped,
            },
            "versions": versions(),
        }


class ThroughputBar(TQDMProgressBar):
    """Lightning's progress bar with images per second (rank 0's rate times the world size)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = 0
        self._start = 0.0

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
            self.predict_progress_bar.set_postfix({"img/s": f"{rate:.1f}"}, refresh=False)


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


def run(config: EmbedConfig) -> dict[str, Any] | None:
    """Extract features; returns the summary on global rank 0 and None on the other ranks.

    Raises:
        UsageError: Bad options, a non-empty ``out`` without ``overwrite``, no images.
        LoadError: An image got no result (the shards are kept).
    """
    check_accelerator(config.accelerator, config.devices)  # before Lightning starts
    if config.fmt not in FORMATS:
        raise UsageError(f"--format {config.fmt!r}: use one of {', '.join(FORMATS)}")
    refuse_volumes(config.name)
    if config.fmt == "parquet":
        from zoo.run.embed_io import _pyarrow

        _pyarrow()
    _precision(config.precision)
    check_out(config.out, config.overwrite)
    items = collect_images(config.images)
    out = config.out.resolve()
    if inside := [key for key, file in items if file.resolve().is_relative_to(out)]:
        raise UsageError(
            f"--out {config.out} holds input images ({inside[0]}...); write to another folder"
        )
    model = load_model(config)
    loader = torch.utils.data.DataLoader(
        ImageDataset(items, model.preprocess),
        batch_size=config.batch,
        shuffle=False,
        num_workers=config.workers,
        collate_fn=collate,
        persistent_workers=False,
    )
    writer = EmbedWriter(config, items, model)
    callbacks: list[Any] = [writer]
    if config.progress:
        callbacks.append(ThroughputBar())
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
        callbacks=callbacks,
        default_root_dir=str(config.out),
        **config.extra,
    )
    with warnings.catch_warnings():
        # Lightning's hint to raise num_workers: the user chose --workers.
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        # Lightning 2.6 calls a torch.utils._pytree API that newer torch deprecates; not ours to fix.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        trainer.predict(EmbedModule(model), dataloaders=loader, return_predictions=False)
    return writer.summary if trainer.is_global_zero else None
