"""Forward overhead: the zoo module against the bare timm model it wraps (CPU, ViT-S/16, batch 8)."""

from __future__ import annotations

from pathlib import Path

from benchmarks._harness import Context, Result, Row, Sample, Series, Stat, run_process

NAME = "forward"
TITLE = "Forward overhead (CPU)"
CHILD = Path(__file__).resolve().parent / "_forward_child.py"
MODEL = "universal/vit_small_patch16_224_random"
THREADS = 2
BATCH = 8


def iterations(ctx: Context) -> int:
    return max(10, 6 * ctx.repeat)


def ms(values: list[float]) -> Stat:
    return Stat.of([v * 1000 for v in values])


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    n = iterations(ctx)
    argv = [ctx.python, str(CHILD), MODEL, str(n), str(3 * ctx.warmup), str(THREADS), str(BATCH)]
    ctx.log(f"  {n} alternating iterations per path, {THREADS} threads, batch {BATCH}")
    sample = run_process(argv, env=ctx.env(), timeout=3600)
    for path, what in (
        ("cls", "`model(x)` (cls embedding) vs bare `backbone(x)`"),
        ("out_indices", "`out_indices=4` vs bare `forward_intermediates`"),
    ):
        t = sample.extra[path]
        for who in ("zoo", "bare"):
            samples = [Sample(w, c) for w, c in zip(t[who], t[f"{who}_cpu"], strict=True)]
            result.series[f"{path} {who}"] = Series(f"{path} {who}", samples)
        paired = Stat.of([z / b for z, b in zip(t["zoo"], t["bare"], strict=True)])
        result.rows += [
            Row(f"{what}: wall per batch", "ms", ms(t["zoo"]), "bare timm model", ms(t["bare"])),
            Row(
                "… CPU time per batch",
                "ms",
                ms(t["zoo_cpu"]),
                "bare timm model",
                ms(t["bare_cpu"]),
            ),
            Row("… zoo/bare wall, per adjacent pair", "x", paired, target="≤ 1.02", limit=1.02),
        ]
    result.notes.append(
        f"{MODEL} (random weights), batch {BATCH}, 224x224, float32, torch.inference_mode, "
        f"torch.set_num_threads({THREADS}); both in one process on the same backbone object and "
        f"batch, outputs checked identical, {n} iterations alternating call by call (who goes "
        "first alternates too). The target is judged on the median of the per-pair ratios "
        "zoo/bare of adjacent calls, which cancels the machine's slow drift; "
        f"child peak RSS {sample.peak_rss_mb:.0f} MiB."
    )
    return result
