"""The static site: ``zoo site`` over the bundled catalogue plus 1,000 generated manifests,
and the generated index's responsiveness in headless Chromium (where installed).

Generation runs as the console script in a fresh process into a fresh folder each time,
side by side with the floor (reading and validating the same manifests, which every
generation must do) and with a regeneration into an existing site (nothing changed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks._harness import Context, Result, Row, alternate, python_case, run_process
from benchmarks.listing import grown_catalog, zoo_command

NAME = "site"
TITLE = "Static site"
CHILD = Path(__file__).resolve().parent / "_site_child.py"
#: Generated manifests on top of the bundled catalogue.
EXTRA = 1000
READ = "from zoo.catalog.reader import Catalog; Catalog().list()"
TARGET_S = 10.0
#: One frame at 60 Hz: a keystroke's filtering, style and layout fit in it.
KEYSTROKE_MS = 16.0


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    bundled = Path(__file__).resolve().parents[1] / "catalog"
    n_bundled = len(list(bundled.rglob("*.yaml")))
    total = n_bundled + EXTRA
    grown = grown_catalog(bundled, ctx.work / "site-catalog", total=total)
    env = ctx.env({"ZOO_CATALOG_PATH": str(grown)})
    bare = ctx.env({"ZOO_CATALOG_PATH": ""})
    site = [*zoo_command(ctx)[:-1], "site", "--out"]
    fresh, again, small = ctx.work / "site-fresh", ctx.work / "site-again", ctx.work / "site-small"
    run_process([*site, str(_fresh(again))], env=env, timeout=300)
    cases = {
        "zoo site": lambda: run_process([*site, str(_fresh(fresh))], env=env, timeout=300),
        "read + validate": lambda: run_process([ctx.python, "-c", READ], env=env, timeout=300),
        "zoo site, again": lambda: run_process([*site, str(again)], env=env, timeout=300),
        "zoo site, bundled": lambda: run_process(
            [*site, str(_fresh(small))], env=bare, timeout=300
        ),
        "python -c pass": python_case(ctx, "pass"),
    }
    series = alternate(cases, repeat=ctx.repeat, warmup=ctx.warmup, log=ctx.log)
    result.series = series
    gen = series["zoo site"]
    label = f"bundled ({n_bundled}) + {EXTRA} generated manifests"
    result.rows += [
        Row(
            f"`zoo site` wall time, {label}",
            "s",
            gen.stat(),
            "reading and validating them (`Catalog().list()`)",
            series["read + validate"].stat(),
            target=f"< {TARGET_S:g} s",
        ),
        Row(f"… absolute, {label}", "s", gen.stat(), target=f"< {TARGET_S:g} s", limit=TARGET_S),
        Row("… peak RSS", "MiB", gen.stat("peak_rss_mb")),
        Row("… CPU time (user+sys)", "s", gen.stat("cpu_s")),
        Row(
            f"`zoo site` again into the same folder, nothing changed ({total})",
            "s",
            series["zoo site, again"].stat(),
        ),
        Row(
            f"`zoo site`, bundled catalogue only ({n_bundled})",
            "s",
            series["zoo site, bundled"].stat(),
            "`python -c pass` (interpreter floor)",
            series["python -c pass"].stat(),
        ),
    ]
    files = sum(1 for p in fresh.rglob("*") if p.is_file())
    index_kib = (fresh / "index.html").stat().st_size / 1024
    result.notes.append(
        f"{total} manifests: the bundled catalogue plus {EXTRA} renamed copies of it "
        f"(`benchmarks/listing.py` `grown_catalog`), in `ZOO_CATALOG_PATH`; each run writes "
        f"{files} files into a new folder; index.html is {index_kib:,.0f} KiB."
    )
    _browser(ctx, result, fresh)
    return result


def _browser(ctx: Context, result: Result, site: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        result.notes.append("index responsiveness not measured: no chromium/chromedriver on PATH")
        return
    argv = [ctx.python, str(CHILD), (site / "index.html").as_uri(), chromium, driver]
    series = alternate(
        {"browser": lambda: run_process(argv, env=ctx.env(), timeout=300)},
        repeat=ctx.repeat,
        warmup=ctx.warmup,
        log=ctx.log,
    )
    result.series.update(series)
    s = series["browser"]
    rows = int(s.values("rows")[0])
    result.rows += [
        Row(
            f"index ({rows} rows) in Chromium: one keystroke of the search (filter + layout)",
            "ms",
            s.stat("keystroke_ms"),
            target=f"≤ {KEYSTROKE_MS:g} ms (one frame)",
            limit=KEYSTROKE_MS,
        ),
        Row("… slowest keystroke of the query", "ms", s.stat("keystroke_max_ms")),
        Row("… a filter change (commercial use)", "ms", s.stat("filter_ms")),
        Row("… sorting a column", "ms", s.stat("sort_ms")),
        Row("… page load (file://, load event)", "ms", s.stat("load_ms")),
    ]
    result.notes.append(
        "Index timings are taken inside the page (`performance.now()`, style and layout "
        "forced), per keystroke of typing and erasing `vit large`; the search box adds a "
        "40 ms debounce on top, so that a burst of keys filters once."
    )
