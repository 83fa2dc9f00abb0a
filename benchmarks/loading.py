"""Loading with weights: zoo against ``timm.create_model(pretrained=True, ...)`` and the floor.

The weights are random, generated once with the architecture's exact keys and
saved with safetensors under the scratch folder; each way of loading runs in
a fresh process, alternating.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    BenchmarkError,
    Context,
    Result,
    Row,
    Series,
    Stat,
    alternate,
    command_case,
    run_process,
)

NAME = "loading"
TITLE = "Load with weights"
CHILD = Path(__file__).resolve().parent / "_load_child.py"


@dataclass(frozen=True)
class Model:
    """A catalogue architecture to load (the catalogue's ViT-L/14 and ViT-g/14 DINOv2 entries)."""

    label: str
    arch: str
    kwargs: dict[str, Any]
    dim: int
    depth: int
    params_m: float
    repeat_cap: int | None = None
    manifest_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def file_gib(self) -> float:
        return self.params_m * 1e6 * 4 / 1024**3


MODELS = (
    # As pathology/hkust_gpfm builds it (timm's defaults for the rest).
    Model("ViT-L/14", "vit_large_patch14_dinov2", {"img_size": 224}, 1024, 24, 304.4),
    # As pathology/prov_gigapath and bioptimus_h_optimus_0 build it, fp32: a 4.2 GiB file.
    Model("ViT-g/14", "vit_giant_patch14_dinov2", {"img_size": 224}, 1536, 40, 1136.5, 3),
)


def manifest_text(model: Model, weights: Path) -> str:
    """A manifest for the generated file (JSON is YAML)."""
    data = {
        "schema_version": 1,
        "name": f"bench/{model.arch}",
        "description": "Benchmark entry: random weights from a local safetensors file.",
        "wrapper": {"type": "timm", "architecture": model.arch, "kwargs": model.kwargs},
        "checkpoint": {"path": str(weights), "format": "safetensors"},
        "input": {"size": [224, 224], "mean": [0.5] * 3, "std": [0.5] * 3},
        "output": {
            "embedding_dim": model.dim,
            "pooling": "cls",
            "prefix_tokens": 1,
            "patch_size": 14,
            "feature_levels": model.depth,
            "feature_dim": model.dim,
        },
    }
    return json.dumps(data, indent=2) + "\n"


def prepare(ctx: Context, model: Model) -> tuple[Path, Path]:
    """The weights file (generated once, cached) and its manifest."""
    folder = ctx.work / "load"
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{model.arch}.safetensors"
    if not weights.is_file():
        ctx.log(f"  generating {weights} ({model.file_gib:.1f} GiB, once)")
        partial = weights.with_suffix(".partial.safetensors")
        run_process(
            [
                ctx.python,
                str(CHILD),
                "generate",
                model.arch,
                json.dumps(model.kwargs),
                str(partial),
            ],
            env=ctx.env(),
            timeout=1800,
        )
        partial.replace(weights)
    manifest = folder / "manifests" / "bench" / f"{model.arch}.yaml"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(manifest_text(model, weights), encoding="utf-8")
    return weights, manifest


def available_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return math.inf


def measure(ctx: Context, model: Model, result: Result) -> None:
    # timm holds a randomly initialised model and the state dict at once: twice the file, plus torch.
    need = 2.2 * model.file_gib + 1.5
    if available_gib() < need:
        result.notes.append(
            f"{model.label} skipped: {available_gib():.1f} GiB available, about {need:.0f} GiB needed"
        )
        return
    weights, manifest = prepare(ctx, model)
    base = [ctx.python, str(CHILD)]
    spec = [model.arch, json.dumps(model.kwargs), str(weights)]
    timeout = 120 + 120 * model.file_gib
    cases = {
        f"{model.label} zoo": command_case(
            ctx, [*base, "zoo", *spec, str(manifest)], timeout=timeout
        ),
        f"{model.label} timm": command_case(ctx, [*base, "timm", *spec], timeout=timeout),
        f"{model.label} floor": command_case(ctx, [*base, "floor", *spec], timeout=timeout),
        f"{model.label} imports only": command_case(
            ctx, [*base, "baseline", *spec], timeout=timeout
        ),
    }
    repeat = min(ctx.repeat, model.repeat_cap or ctx.repeat)
    series = alternate(cases, repeat=repeat, warmup=ctx.warmup, log=ctx.log)
    result.series.update(series)
    zoo, timm, floor, imports = (series[k] for k in cases)
    checks = {s.label: {x.extra.get("check") for x in s.samples} for s in (zoo, timm, floor)}
    if len({c for values in checks.values() for c in values}) != 1:
        raise BenchmarkError(f"{model.label}: the three loaders disagree on the weights: {checks}")
    base_mb = imports.stat("peak_rss_mb").median
    imports_s = imports.stat().median

    def above(series: Series, metric: str = "peak_rss_mb") -> Stat:
        base = imports.stat(metric).median
        return Stat.of([v - base for v in series.values(metric)])

    file = f"{model.arch}, {model.params_m:.0f} M params, {model.file_gib:.2f} GiB fp32 safetensors"
    result.rows += [
        Row(
            f"{model.label} wall time ({file})",
            "s",
            zoo.stat(),
            "timm pretrained=True",
            timm.stat(),
            "≤ 0.5x timm",
            0.5,
        ),
        Row(
            f"{model.label} wall time above the imports ({imports_s:.2f} s)",
            "s",
            above(zoo, "wall_s"),
            "timm pretrained=True",
            above(timm, "wall_s"),
            "≤ 0.5x timm",
            0.5,
        ),
        Row(
            f"{model.label} peak RSS",
            "MiB",
            zoo.stat("peak_rss_mb"),
            "timm pretrained=True",
            timm.stat("peak_rss_mb"),
            "≤ 0.6x timm",
            0.6,
        ),
        Row(
            f"{model.label} wall time",
            "s",
            zoo.stat(),
            "floor: load_file + meta build",
            floor.stat(),
            "≤ 1.3x floor",
            1.3,
        ),
        Row(
            f"{model.label} peak RSS",
            "MiB",
            zoo.stat("peak_rss_mb"),
            "floor: load_file + meta build",
            floor.stat("peak_rss_mb"),
        ),
        Row(
            f"{model.label} peak RSS above the imports (torch, timm, zoo: {base_mb:.0f} MiB)",
            "MiB",
            above(zoo),
            "timm pretrained=True",
            above(timm),
            "≤ 0.6x timm",
            0.6,
        ),
        Row(
            f"{model.label} CPU time (user+sys)",
            "s",
            zoo.stat("cpu_s"),
            "timm pretrained=True",
            timm.stat("cpu_s"),
        ),
    ]
    if repeat < ctx.repeat:
        result.notes.append(
            f"{model.label}: {repeat} repetitions (capped: each run reads {model.file_gib:.1f} GiB)"
        )


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    for model in MODELS:
        ctx.log(f"  {model.label}")
        measure(ctx, model, result)
    result.notes.append(
        "Whole-process figures (interpreter start and imports included), file in the page cache "
        "(the warm-up run reads it). Each run ends by reading one value per 4 KiB page of every "
        "weight (a checksum the parent compares: all three paths load the same numbers; and the "
        "weights are then resident, as they are once a model has run). Peak RSS above the imports "
        "(and wall time above the imports) subtract the median of a process that only imports torch, "
        "timm, safetensors and zoo: what is left is the loading itself (for RSS: the weights, one "
        "copy for zoo and the floor, two for timm)."
    )
    return result
