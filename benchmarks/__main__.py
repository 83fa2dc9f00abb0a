"""``python -m benchmarks [names...] [--repeat N] [--json]``: run, record, render.

Results go to ``benchmarks/results/latest.json`` (merged by benchmark name, so
running one benchmark keeps the others' last figures) and the table in
``benchmarks/README.md`` is regenerated from that file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from benchmarks import _report
from benchmarks._harness import Context, Result

#: Benchmark modules, in table order. Each has ``NAME``, ``TITLE`` and ``run(ctx) -> Result``.
BENCHMARKS = (
    "listing",
    "timm_names",
    "loading",
    "catalogue",
    "forward",
    "embed",
    "slides",
    "gpu",
    "site",
)
HERE = Path(__file__).resolve().parent


def module(name: str) -> ModuleType:
    return importlib.import_module(f"benchmarks.{name}")


def parse_args(argv: Sequence[str] | None, names: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Side-by-side benchmarks of zoo against timm (and eva where installed).",
    )
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(names)})"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="measured repetitions per figure (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="discarded warm-up rounds (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE,
        help="folder holding README.md and results/ (default: benchmarks/)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="do not update results/ and README.md"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def run_one(name: str, runner: Callable[[Context], Result], ctx: Context) -> Result:
    """Run one benchmark; a crash becomes a skipped result carrying the error, not a lost run."""
    ctx.log(f"== {name}")
    try:
        return runner(ctx)
    except Exception as exc:  # report and go on with the other benchmarks
        traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Result(name, name, skipped=f"failed: {first}")


def main(
    argv: Sequence[str] | None = None,
    *,
    registry: dict[str, Callable[[Context], Result]] | None = None,
    ctx: Context | None = None,
) -> int:
    """Run the benchmarks; ``registry`` replaces the real ones (the smoke test uses a tiny one)."""
    if registry is None:
        registry = {name: module(name).run for name in BENCHMARKS}
    args = parse_args(argv, list(registry))
    ctx = ctx or Context()
    ctx.repeat, ctx.warmup = args.repeat, args.warmup
    ctx.work.mkdir(parents=True, exist_ok=True)
    names = args.names or list(registry)
    date = _report.now()
    shown = list(argv if argv is not None else sys.argv[1:])
    command = _report.command_line([a for a in shown if a not in ("--json", "--no-write")])
    results = []
    here = _report.machine()
    for name in names:
        result = run_one(name, registry[name], ctx).to_dict()
        result.update(date=date, command=command, machine=here)
        results.append(result)
    run = {
        "command": command,
        "date": date,
        "repeat": args.repeat,
        "machine": here,
        "order": list(registry),
        "results": results,
    }
    if not args.no_write:
        latest = args.out / "results" / "latest.json"
        data = _report.merge(_report.read_json(latest), run)
        _report.write_json(latest, data)
        readme = args.out / "README.md"
        current = readme.read_text(encoding="utf-8") if readme.is_file() else "# Benchmarks\n"
        readme.write_text(_report.render_readme(current, _report.markdown(data)), encoding="utf-8")
        ctx.log(f"wrote {latest} and {readme}")
    if args.json:
        print(json.dumps(run, indent=2, sort_keys=True))
    else:
        print(_report.markdown(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
