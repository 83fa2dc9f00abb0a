"""``zoo embed`` on CPU: throughput against a plain DataLoader loop, and peak RSS as the image
count grows tenfold.

Throughput: the same PNGs, the same timm architecture (``vit_tiny_patch16_224``, random
weights), the same evaluation transform, batch size and worker count; ``zoo embed`` as
users run it (progress bar on, shards, index and provenance written) against the loop
in ``_embed_child.py``. Memory: ``zoo embed`` with a tiny ViT over 20,000 and 200,000
small PNGs; the second may use at most 10% more memory than the first.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import (
    Context,
    Result,
    Row,
    Sample,
    Series,
    Stat,
    alternate,
    run_process,
)
from benchmarks.listing import zoo_command

NAME = "embed"
TITLE = "zoo embed (CPU)"
CHILD = Path(__file__).resolve().parent / "_embed_child.py"
ARCH = "vit_tiny_patch16_224"


@dataclass(frozen=True)
class Sizes:
    """How much work (tiny values check the code quickly)."""

    images: int = 256  # 256x256 PNGs for throughput
    batch: int = 32
    workers: int = 2
    small: int = 20_000  # 32x32 PNGs for memory
    large: int = 200_000
    memory_batch: int = 256


NOTES = [
    "Throughput: random weights, CPU, torch's default threads; the same files, transform "
    "(resize 248 bicubic, center crop 224, normalize), batch and workers for both. "
    "`zoo embed` runs as users run it (progress bar on stderr, shards, index, provenance); "
    "its loop time is the session's seconds in provenance.json (data loading, model, "
    "writing), the loop's from its first batch to its last. Each round runs both over the "
    "images and over 1 image (start-up alone); the target is judged on the median of the "
    "per-round ratios, which cancels the machine's slow drift. CPU time is the process "
    "tree's (os.wait4: data-loading workers included); per image above start-up it subtracts "
    "the 1-image run of the same round. The whole-process figures add start-up: zoo "
    "imports Lightning and writes its output folder.",
    "Memory: peak RSS of the largest member of the `zoo embed` process tree (os.wait4), "
    "default shard size 4096; the image list is held packed (a UTF-8 buffer and offsets), "
    "shards are written as they complete, and the index is built from the shards' records.",
]


def manifest(
    folder: Path, name: str, wrapper: dict, size: int, crop_pct: float, dim: int, patch: int
) -> Path:
    """A manifest file (JSON, which is YAML) of a random-weight timm model."""
    data = {
        "schema_version": 1,
        "name": f"bench/{name}",
        "description": "Benchmark entry: random weights.",
        "wrapper": {"type": "timm", **wrapper},
        "input": {
            "size": [size, size],
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "interpolation": "bicubic",
            "crop_pct": crop_pct,
        },
        "output": {
            "embedding_dim": dim,
            "pooling": "cls",
            "prefix_tokens": 1,
            "patch_size": patch,
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def write_manifests(folder: Path) -> tuple[Path, Path]:
    """``vit_tiny`` (224, as timm's eval transform) and ``micro`` (a 1-block ViT on 32x32)."""
    tiny = manifest(folder, "vit_tiny", {"architecture": ARCH}, 224, 0.9, 192, 16)
    micro_kwargs = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2}
    micro_wrapper = {"architecture": ARCH, "kwargs": micro_kwargs}
    micro = manifest(folder, "micro", micro_wrapper, 32, 1.0, 32, 8)
    return tiny, micro


def image_set(ctx: Context, count: int, size: int) -> Path:
    folder = ctx.work / "embed" / f"png{size}-{count}"
    ctx.log(f"  images: {folder}")
    argv = [ctx.python, str(CHILD), "images", str(folder), str(count), str(size)]
    run_process(argv, env=ctx.env(), timeout=7200)
    return folder


def zoo_case(
    ctx: Context, model: Path, images: Path, out: Path, batch: int, workers: int
) -> Callable[[], Sample]:
    """``zoo embed`` over ``images`` into a fresh ``out``; adds zoo's own loop seconds."""
    argv = [
        *zoo_command(ctx)[:-1], "embed", str(model), str(images), "--out", str(out),
        "--batch", str(batch), "--workers", str(workers), "--accelerator", "cpu",
        "--random-init", "--json",
    ]  # fmt: skip

    def case() -> Sample:
        shutil.rmtree(out, ignore_errors=True)
        sample = run_process(argv, env=ctx.env(), timeout=7200)
        prov = json.loads((out / "provenance.json").read_text())
        sample.extra.update(
            images=prov["images"]["count"],
            loop_s=prov["sessions"][-1]["seconds"],
            shards=prov["output"]["shards"],
        )
        return sample

    return case


def loop_case(
    ctx: Context, images: Path, out: Path, batch: int, workers: int
) -> Callable[[], Sample]:
    argv = [ctx.python, str(CHILD), "loop", str(images), ARCH, str(batch), str(workers), str(out)]
    return lambda: run_process(argv, env=ctx.env(), timeout=7200)


def rate(samples: list[Sample], seconds: str) -> list[float]:
    """Images per second of each sample: over its loop (``loop_s``) or its whole process."""
    return [
        s.extra["images"] / (s.wall_s if seconds == "wall" else s.extra[seconds]) for s in samples
    ]


def paired(zoo: list[float], loop: list[float]) -> Stat:
    """zoo / loop of the runs of each round, which ran one after the other (drift cancels)."""
    return Stat.of([z / b for z, b in zip(zoo, loop, strict=True)])


def cpu_above_startup(many: list[Sample], one: list[Sample], images: int) -> list[float]:
    """CPU milliseconds per image above start-up, per round: the run over ``images`` less the run
    over one image (process tree: data-loading workers included). Other jobs on the machine
    slow the wall clock much more than they inflate CPU time, but the subtraction adds the
    noise of two start-ups."""
    pairs = zip(many, one, strict=True)
    return [1000 * ((m.cpu_s or 0) - (o.cpu_s or 0)) / (images - 1) for m, o in pairs]


def throughput(ctx: Context, result: Result, sizes: Sizes, tiny: Path) -> None:
    images, single = image_set(ctx, sizes.images, 256), image_set(ctx, 1, 256)
    out = ctx.work / "embed" / "out"
    args = (sizes.batch, sizes.workers)
    series = alternate(
        {
            "zoo embed": zoo_case(ctx, tiny, images, out / "zoo", *args),
            "plain loop": loop_case(ctx, images, out / "loop", *args),
            "zoo embed, 1 image": zoo_case(ctx, tiny, single, out / "zoo1", *args),
            "plain loop, 1 image": loop_case(ctx, single, out / "loop1", *args),
        },
        repeat=max(ctx.repeat, 3),
        warmup=ctx.warmup,
        log=ctx.log,
    )
    result.series.update(series)
    result.rows += throughput_rows(series, sizes)
    shutil.rmtree(out, ignore_errors=True)


def throughput_rows(series: dict[str, Series], sizes: Sizes) -> list[Row]:
    """The throughput figures, from the samples (so that stored samples can be re-read)."""
    zoo, loop = series["zoo embed"].samples, series["plain loop"].samples
    what = f"{sizes.images} PNGs 256x256, {ARCH}, batch {sizes.batch}, {sizes.workers} workers"
    zoo_cpu = cpu_above_startup(zoo, series["zoo embed, 1 image"].samples, sizes.images)
    loop_cpu = cpu_above_startup(loop, series["plain loop, 1 image"].samples, sizes.images)
    return [
        Row(
            f"`zoo embed` {what}: images/s in the loop",
            "img/s",
            Stat.of(rate(zoo, "loop_s")),
            "plain DataLoader + timm loop",
            Stat.of(rate(loop, "loop_s")),
        ),
        Row(
            "… zoo/loop images/s in the loop, per round",
            "x",
            paired(rate(zoo, "loop_s"), rate(loop, "loop_s")),
            target="≥ 0.95",
            limit=0.95,
            higher_is_better=True,
        ),
        Row(
            "… CPU time per image above start-up",
            "ms",
            Stat.of(zoo_cpu),
            "plain loop",
            Stat.of(loop_cpu),
        ),
        Row(
            "… zoo/loop CPU time per image above start-up, per round",
            "x",
            paired(zoo_cpu, loop_cpu),
        ),
        Row(
            "… images/s of the whole process (start-up included)",
            "img/s",
            Stat.of(rate(zoo, "wall")),
            "plain loop",
            Stat.of(rate(loop, "wall")),
        ),
        Row(
            "… zoo/loop images/s of the whole process, per round",
            "x",
            paired(rate(zoo, "wall"), rate(loop, "wall")),
        ),
        Row(
            "… start-up: CPU time of a run over 1 image",
            "s",
            series["zoo embed, 1 image"].stat("cpu_s"),
            "plain loop",
            series["plain loop, 1 image"].stat("cpu_s"),
        ),
        Row(
            "… peak RSS",
            "MiB",
            series["zoo embed"].stat("peak_rss_mb"),
            "plain loop",
            series["plain loop"].stat("peak_rss_mb"),
        ),
    ]


def memory(ctx: Context, result: Result, sizes: Sizes, micro: Path) -> None:
    small, large = image_set(ctx, sizes.small, 32), image_set(ctx, sizes.large, 32)
    out = ctx.work / "embed" / "out"
    series = alternate(
        {
            f"{sizes.small:,} images": zoo_case(
                ctx, micro, small, out / "small", sizes.memory_batch, sizes.workers
            ),
            f"{sizes.large:,} images": zoo_case(
                ctx, micro, large, out / "large", sizes.memory_batch, sizes.workers
            ),
        },
        repeat=min(ctx.repeat, 3),
        warmup=0,
        log=ctx.log,
    )
    result.series.update(series)
    few, many = series[f"{sizes.small:,} images"], series[f"{sizes.large:,} images"]
    result.rows += [
        Row(
            f"`zoo embed` peak RSS, {sizes.large:,} PNGs 32x32 (1-block ViT)",
            "MiB",
            many.stat("peak_rss_mb"),
            f"{sizes.small:,} PNGs",
            few.stat("peak_rss_mb"),
            "≤ 1.10x",
            1.10,
        ),
        Row(
            "… wall time",
            "s",
            many.stat("wall_s"),
            f"{sizes.small:,} PNGs",
            few.stat("wall_s"),
        ),
    ]
    shutil.rmtree(out, ignore_errors=True)


def run(ctx: Context, *, sizes: Sizes | None = None) -> Result:
    sizes = sizes or Sizes()
    result = Result(NAME, TITLE)
    tiny, micro = write_manifests(ctx.work / "embed" / "manifests")
    throughput(ctx, result, sizes, tiny)
    memory(ctx, result, sizes, micro)
    result.notes += NOTES
    return result
