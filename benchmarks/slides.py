"""``zoo embed`` on a whole-slide image (CPU): tiles per second against the plain OpenSlide +
DataLoader + timm loop a user would write, and peak RSS over 1 and 20 slides.

Throughput: one Aperio SVS written by ``_slides_child.py`` (6144x4096 at 0.25 µm/px, tissue
inside a 256-pixel margin of glass), ``vit_tiny_patch16_224`` (random weights) at 0.5 µm/px
and 224 pixels, batch and workers the same for both. zoo finds the tissue and cuts the tiles
itself; the loop is given the coordinates zoo cut (read from zoo's ``.h5``), so both embed
the same tiles. Memory: ``zoo embed`` with a 1-block ViT on 32-pixel tiles over 1 and 20
slides of 2048x2048 (about 800 tiles each); 20 slides may use at most 10% more than one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import Context, Result, Row, Sample, Stat, alternate, run_process
from benchmarks.embed import ARCH, manifest
from benchmarks.listing import zoo_command

NAME = "slides"
TITLE = "zoo embed on slides (CPU)"
CHILD = Path(__file__).resolve().parent / "_slides_child.py"


@dataclass(frozen=True)
class Sizes:
    """How much work (tiny values check the code quickly)."""

    width: int = 6144
    height: int = 4096
    batch: int = 32
    workers: int = 2
    few: int = 1
    many: int = 20
    small: int = 2048  # side of the memory slides


NOTES = [
    "Throughput: random weights, CPU, torch's default threads; one slide, the same tiles "
    "(the loop reads the coordinates zoo cut), read from the same pyramid level (1: "
    "downsample 2 for 0.5 µm/px on a 0.25 µm/px slide), normalised alike, the same batch and "
    "workers. `zoo embed` runs as users run it (--format h5, progress bar, thumbnail, "
    "provenance); its loop time is the session's seconds in provenance.json (tile reading, "
    "model, writing; the tissue search before it is in the whole-process figure), the "
    "loop's from its first batch to its last. Each round runs one of each, side by side (the order rotating); the ratio is of the medians.",
    "Memory: peak RSS of the largest member of the `zoo embed` process tree (os.wait4); "
    "each slide's tiles are planned up front (coordinates only), features are written per "
    "slide as it completes.",
]


def slide_set(ctx: Context, count: int, width: int, height: int) -> Path:
    folder = ctx.work / "slides" / f"svs{width}x{height}-{count}"
    ctx.log(f"  slides: {folder}")
    argv = [ctx.python, str(CHILD), "slides", str(folder), str(count), str(width), str(height)]
    run_process(argv, env=ctx.env(), timeout=7200)
    return folder


def with_mpp(path: Path, mpp: float) -> Path:
    """The benchmark manifest with ``input.mpp`` (stated: the benchmark says so)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["input"]["mpp"] = {"value": mpp, "basis": "stated", "source": "the benchmark"}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def zoo_case(
    ctx: Context, model: Path, slides: Path, out: Path, batch: int, workers: int
) -> Callable[[], Sample]:
    argv = [
        *zoo_command(ctx)[:-1], "embed", str(model), str(slides), "--out", str(out),
        "--format", "h5", "--batch", str(batch), "--workers", str(workers),
        "--accelerator", "cpu", "--random-init", "--json",
    ]  # fmt: skip

    def case() -> Sample:
        shutil.rmtree(out, ignore_errors=True)
        sample = run_process(argv, env=ctx.env(), timeout=7200)
        prov = json.loads((out / "provenance.json").read_text())
        sample.extra.update(tiles=prov["output"]["rows"], loop_s=prov["sessions"][-1]["seconds"])
        return sample

    return case


def coordinates(out: Path, target: Path) -> Path:
    """The tile coordinates zoo cut (its ``.h5``) as a ``.npy`` for the loop."""
    import h5py
    import numpy as np

    (file,) = sorted(out.glob("*.h5"))
    with h5py.File(file, "r") as f:
        np.save(target, f["coords"][:])
    return target


def throughput(ctx: Context, result: Result, sizes: Sizes, tiny: Path) -> None:
    folder = slide_set(ctx, 1, sizes.width, sizes.height)
    work = ctx.work / "slides" / "out"
    zoo = zoo_case(ctx, tiny, folder, work / "zoo", sizes.batch, sizes.workers)
    zoo()  # once first: the coordinates for the loop (and a warm page cache for both)
    coords = coordinates(work / "zoo", work / "coords.npy")
    (slide,) = sorted(folder.glob("*.svs"))
    argv = [
        ctx.python, str(CHILD), "loop", str(slide), str(coords), ARCH, str(sizes.batch),
        str(sizes.workers), str(work / "loop"), "0.5",
    ]  # fmt: skip
    series = alternate(
        {"zoo embed": zoo, "plain loop": lambda: run_process(argv, env=ctx.env(), timeout=7200)},
        repeat=ctx.repeat,
        warmup=0,
        log=ctx.log,
    )
    result.series.update(series)
    z, b = series["zoo embed"].samples, series["plain loop"].samples
    loop_rate = [s.extra["tiles"] / s.extra["loop_s"] for s in z]
    base_rate = [s.extra["tiles"] / s.extra["loop_s"] for s in b]
    tiles = z[0].extra["tiles"]
    what = (
        f"{tiles} tiles of 224 at 0.5 µm/px, {ARCH}, batch {sizes.batch}, {sizes.workers} workers"
    )
    result.rows += [
        Row(
            f"`zoo embed` one {sizes.width}x{sizes.height} SVS, {what}: tiles/s in the loop",
            "tiles/s",
            Stat.of(loop_rate),
            "openslide read_region + DataLoader + timm loop",
            Stat.of(base_rate),
            "≥ 1.0x",
            1.0,
            higher_is_better=True,
        ),
        Row(
            "… tiles/s of the whole process (tissue search and start-up included)",
            "tiles/s",
            Stat.of([s.extra["tiles"] / s.wall_s for s in z]),
            "plain loop (given the coordinates)",
            Stat.of([s.extra["tiles"] / s.wall_s for s in b]),
        ),
        Row(
            "… peak RSS",
            "MiB",
            series["zoo embed"].stat("peak_rss_mb"),
            "plain loop",
            series["plain loop"].stat("peak_rss_mb"),
        ),
    ]
    shutil.rmtree(work, ignore_errors=True)


def memory(ctx: Context, result: Result, sizes: Sizes, micro: Path) -> None:
    few = slide_set(ctx, sizes.few, sizes.small, sizes.small)
    many = slide_set(ctx, sizes.many, sizes.small, sizes.small)
    work = ctx.work / "slides" / "out"
    labels = (f"{sizes.few} slide", f"{sizes.many} slides")
    series = alternate(
        {
            labels[0]: zoo_case(ctx, micro, few, work / "few", 256, sizes.workers),
            labels[1]: zoo_case(ctx, micro, many, work / "many", 256, sizes.workers),
        },
        repeat=ctx.repeat,
        warmup=0,
        log=ctx.log,
    )
    result.series.update(series)
    a, b = series[labels[0]], series[labels[1]]
    tiles = b.samples[0].extra["tiles"]
    result.rows += [
        Row(
            f"`zoo embed` peak RSS, {sizes.many} slides {sizes.small}x{sizes.small} "
            f"({tiles:,} tiles of 32, 1-block ViT)",
            "MiB",
            b.stat("peak_rss_mb"),
            labels[0],
            a.stat("peak_rss_mb"),
            "≤ 1.10x",
            1.10,
        ),
        Row("… wall time", "s", b.stat("wall_s"), labels[0], a.stat("wall_s")),
    ]
    shutil.rmtree(work, ignore_errors=True)


def run(ctx: Context, *, sizes: Sizes | None = None) -> Result:
    sizes = sizes or Sizes()
    result = Result(NAME, TITLE)
    folder = ctx.work / "slides" / "manifests"
    tiny = with_mpp(manifest(folder, "vit_tiny", {"architecture": ARCH}, 224, 1.0, 192, 16), 0.5)
    micro_kwargs = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2}
    micro_wrapper = {"architecture": ARCH, "kwargs": micro_kwargs}
    micro = with_mpp(manifest(folder, "micro", micro_wrapper, 32, 1.0, 32, 8), 0.5)
    throughput(ctx, result, sizes, tiny)
    memory(ctx, result, sizes, micro)
    result.notes += NOTES
    return result
