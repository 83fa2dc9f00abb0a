"""Catalogue check: ``zoo validate --build --trust-remote-code`` over the bundled catalogue."""

from __future__ import annotations

from benchmarks._harness import Context, Result, Row, alternate, command_case
from benchmarks.listing import zoo_command

NAME = "catalogue"
TITLE = "Catalogue check"
REPEAT_CAP = 3


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    argv = [*zoo_command(ctx)[:-1], "validate", "--build", "--trust-remote-code"]
    repeat = min(ctx.repeat, REPEAT_CAP)
    series = alternate(
        {"zoo validate --build": command_case(ctx, argv, timeout=1200)},
        repeat=repeat,
        warmup=ctx.warmup,
        log=ctx.log,
    )
    result.series = series
    s = series["zoo validate --build"]
    result.rows += [
        Row(
            "`zoo validate --build --trust-remote-code` wall time",
            "s",
            s.stat(),
            target="< 60 s",
            limit=60.0,
        ),
        Row("… peak RSS", "MiB", s.stat("peak_rss_mb")),
        Row("… CPU time (user+sys)", "s", s.stat("cpu_s")),
    ]
    result.notes.append(
        f"Every bundled manifest built on the meta device and checked against its declared "
        f"outputs; a failing check fails the benchmark. {repeat} repetitions (capped at {REPEAT_CAP})."
    )
    return result
