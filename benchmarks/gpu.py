"""GPU: bf16 embedding throughput of zoo against the bare timm model, and ``zoo embed`` against a loop.

Skips cleanly (a skipped row saying why) when ``torch.cuda.is_available()`` is false.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import (
    BenchmarkError,
    Context,
    Result,
    Row,
    Sample,
    Series,
    alternate,
    command_case,
    run_process,
)
from benchmarks.listing import zoo_command

NAME = "gpu"
TITLE = "GPU throughput (bf16)"
CHILD = Path(__file__).resolve().parent / "_gpu_child.py"
EMBED_MODEL = "universal/vit_small_patch16_224_random"


@dataclass(frozen=True)
class Sizes:
    """How much work: the real run, or a tiny one that checks the code on a CPU."""

    batch: int = 128
    iters: int = 20
    rounds: int = 6
    images: int = 4096
    embed_batch: int = 256
    workers: int = 8


ARCHS = {
    "vit_s16": ("vit_small_patch16_224", 384),
    "vit_b16": ("vit_base_patch16_224", 768),
    "vit_l16": ("vit_large_patch16_224", 1024),
}
LABELS = {"vit_s16": "ViT-S/16", "vit_b16": "ViT-B/16", "vit_l16": "ViT-L/16"}


def write_manifests(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, (arch, dim) in ARCHS.items():
        data = {
            "schema_version": 1,
            "name": f"bench/{stem}",
            "description": "Benchmark entry: random weights.",
            "wrapper": {"type": "timm", "architecture": arch},
            "input": {"size": [224, 224], "mean": [0.5] * 3, "std": [0.5] * 3},
            "output": {
                "embedding_dim": dim,
                "pooling": "cls",
                "prefix_tokens": 1,
                "patch_size": 16,
                "feature_levels": 1,
                "feature_dim": dim,
            },
            "precision": {"default": "bfloat16", "safe": ["float32", "bfloat16"]},
        }
        (folder / f"{stem}.yaml").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return folder


def throughput(ctx: Context, result: Result, device: str, sizes: Sizes) -> None:
    folder = write_manifests(ctx.work / "gpu" / "manifests")
    argv = [
        ctx.python,
        str(CHILD),
        "throughput",
        device,
        str(folder),
        str(sizes.batch),
        str(sizes.iters),
        str(sizes.rounds),
    ]
    sample = run_process(argv, env=ctx.env(), timeout=1800)
    for stem, times in sample.extra.items():
        zoo = Series(f"{stem} zoo", [Sample(0.0, extra={"img_s": v}) for v in times["zoo"]])
        bare = Series(f"{stem} bare", [Sample(0.0, extra={"img_s": v}) for v in times["bare"]])
        result.series.update({zoo.label: zoo, bare.label: bare})
        result.rows.append(
            Row(
                f"{LABELS[stem]} throughput, batch {sizes.batch}",
                "img/s",
                zoo.stat("img_s"),
                "bare timm model",
                bare.stat("img_s"),
                "≥ 0.98x bare",
                0.98,
                higher_is_better=True,
            )
        )


def embed(ctx: Context, result: Result, device: str, sizes: Sizes) -> None:
    zoo = zoo_command(ctx)[:-1]
    try:
        run_process([*zoo, "embed", "--help"], env=ctx.env(), timeout=120)
    except BenchmarkError as exc:
        result.notes.append(
            f"`zoo embed` not measured: `zoo embed --help` failed ({str(exc).splitlines()[0]})"
        )
        return
    images = ctx.work / "gpu" / f"images-{sizes.images}"
    if not (images / f"{sizes.images - 1:06d}.png").is_file():
        ctx.log(f"  writing {sizes.images} images to {images}")
        run_process(
            [ctx.python, str(CHILD), "images", str(images), str(sizes.images)],
            env=ctx.env(),
            timeout=1800,
        )
    out = ctx.work / "gpu" / "out"
    accelerator = "gpu" if device == "cuda" else "cpu"
    embed_argv = [
        *zoo, "embed", EMBED_MODEL, str(images), "--out", str(out / "zoo"), "--overwrite",
        "--batch", str(sizes.embed_batch), "--accelerator", accelerator, "--precision", "bf16-true",
        "--random-init", "--workers", str(sizes.workers),
    ]  # fmt: skip
    loop_argv = [
        ctx.python,
        str(CHILD),
        "loop",
        device,
        str(images),
        str(sizes.embed_batch),
        str(sizes.workers),
        str(out / "loop"),
    ]
    series = alternate(
        {
            "zoo embed": command_case(ctx, embed_argv, timeout=3600),
            "plain loop": command_case(ctx, loop_argv, timeout=3600),
        },
        repeat=min(ctx.repeat, 3),
        warmup=ctx.warmup,
        log=ctx.log,
    )
    shutil.rmtree(out, ignore_errors=True)
    for s in series.values():
        for sample in s.samples:
            sample.extra["img_s"] = sizes.images / sample.wall_s
    result.series.update(series)
    result.rows.append(
        Row(
            f"`zoo embed` {sizes.images} PNG images, ViT-S/16, whole process",
            "img/s",
            series["zoo embed"].stat("img_s"),
            "plain DataLoader loop",
            series["plain loop"].stat("img_s"),
            "≥ 0.98x loop",
            0.98,
            higher_is_better=True,
        )
    )
    result.rows.append(
        Row(
            "`zoo embed` peak RSS (main process)",
            "MiB",
            series["zoo embed"].stat("peak_rss_mb"),
            "plain loop",
            series["plain loop"].stat("peak_rss_mb"),
        )
    )


def run(ctx: Context, *, device: str = "cuda", sizes: Sizes | None = None) -> Result:
    result = Result(NAME, TITLE)
    sizes = sizes or Sizes()
    if device == "cuda":
        probe = run_process([ctx.python, str(CHILD), "probe"], env=ctx.env(), timeout=300).extra
        if not probe.get("cuda"):
            result.skipped = "no CUDA device here (torch.cuda.is_available() is False)"
            return result
        result.notes.append(f"GPU: {probe['name']}")
    throughput(ctx, result, device, sizes)
    embed(ctx, result, device, sizes)
    result.notes.append(
        "Throughput: random weights, bf16, torch.inference_mode, same batch and backbone object, "
        f"blocks of {sizes.iters} batches alternating, {sizes.rounds} blocks each; outputs checked identical. "
        "`zoo embed`: whole process (start-up included) over the same PNG folder, output written to disk."
    )
    return result
