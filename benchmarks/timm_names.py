"""timm names without timm: ``zoo list 'timm/eva02*'`` and ``zoo show timm/<arch>.<tag>`` against
``import torch`` (what any command that imports timm pays first), each in a fresh process.

zoo answers both from its index of timm's registry under ``ZOO_HOME``
(:mod:`zoo.catalog.timm.index`). The figures are taken with the index present, as it is
after the first timm name a user types: a private ``ZOO_HOME`` is prepared once (the index
written by zoo itself, and the shown architecture built once on the meta device, which
records its output contract in the index), then reused by every measured run. What the
first run costs (writing the index, the one meta build) is measured too, as a note.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks._harness import (
    BenchmarkError,
    Context,
    Result,
    Row,
    alternate,
    python_case,
    run_process,
)
from benchmarks.listing import zoo_command

NAME = "timm_names"
TITLE = "timm names without timm"
LIST_ARGS = ["list", "timm/eva02*"]
SHOW_ARGS = ["show", "timm/vit_small_patch16_224.dino"]


def _zoo(ctx: Context, args: list[str]) -> list[str]:
    return [*zoo_command(ctx)[:-1], *args]  # zoo_command ends with "list"


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    home = ctx.work / "timm-names-home"
    if home.exists():
        shutil.rmtree(home)
    env = ctx.env({"ZOO_HOME": str(home)})
    # The first time: no index (zoo writes it, timm imported in a child), then the first show
    # of the architecture (one meta build, recorded in the index).
    first_list = run_process(_zoo(ctx, LIST_ARGS), env=env, timeout=600)
    first_show = run_process(_zoo(ctx, SHOW_ARGS), env=env, timeout=600)
    if not any(Path(home, "index").glob("timm-*.json")):
        raise BenchmarkError(f"zoo wrote no timm index under {home}")
    result.notes.append(
        f"First runs, before the index existed: `zoo {' '.join(LIST_ARGS)}` "
        f"{first_list.wall_s:.2f} s (writes the index: timm's registry read in a child process), "
        f"then `zoo {' '.join(SHOW_ARGS)}` {first_show.wall_s:.2f} s (builds the architecture "
        "once on the meta device and records its outputs in the index)."
    )
    result.notes.append(
        f"Measured with the index present: `ZOO_HOME={home}`, the commands run as a user "
        "types them (console script, fresh process each), bytecode cached."
    )
    cases = {
        "zoo list timm/eva02*": lambda: run_process(_zoo(ctx, LIST_ARGS), env=env, timeout=120),
        "zoo show timm/...dino": lambda: run_process(_zoo(ctx, SHOW_ARGS), env=env, timeout=120),
        "import torch": python_case(ctx, "import torch", timeout=300),
        "import timm": python_case(ctx, "import timm; timm.list_models('eva02*')", timeout=300),
    }
    series = alternate(cases, repeat=ctx.repeat, warmup=ctx.warmup, log=ctx.log)
    result.series = series
    torch = series["import torch"].stat()
    for label, figure in [
        ("zoo list timm/eva02*", f"`zoo {LIST_ARGS[0]} '{LIST_ARGS[1]}'` wall time"),
        ("zoo show timm/...dino", f"`zoo {' '.join(SHOW_ARGS)}` wall time"),
    ]:
        value = series[label].stat()
        result.rows.append(
            Row(
                figure,
                "s",
                value,
                "`python -c 'import torch'`",
                torch,
                "≤ 0.10x import torch",
                0.10,
            )
        )
        result.rows.append(
            Row(
                figure,
                "s",
                value,
                "`import timm; timm.list_models('eva02*')`",
                series["import timm"].stat(),
            )
        )
        result.rows.append(Row(f"… peak RSS ({label})", "MiB", series[label].stat("peak_rss_mb")))
    return result
