"""The benchmark harness keeps working: its modules import, a tiny benchmark runs end to end.

The real benchmarks take minutes; these tests run a trivial one (``python -c pass``)
through the same harness, report and README rendering. Nothing here is timed.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from benchmarks import _report
from benchmarks.__main__ import BENCHMARKS, main
from benchmarks._harness import (
    BenchmarkError,
    Context,
    Result,
    Row,
    Stat,
    alternate,
    python_case,
    run_process,
)
from zoo.catalog.parse import read_manifest


def quiet_context(tmp_path: Path) -> Context:
    return Context(work=tmp_path / "work", log=lambda message: None)


def tiny(ctx: Context) -> Result:
    """A benchmark in the real one's shape: two fresh processes, alternating."""
    series = alternate(
        {
            "reporting": python_case(ctx, 'print("BENCH {\\"answer\\": 42}")'),
            "pass": python_case(ctx, "pass"),
        },
        repeat=ctx.repeat,
        warmup=ctx.warmup,
        log=ctx.log,
    )
    result = Result("tiny", "Tiny", series=series, notes=["a note"])
    result.rows.append(
        Row(
            "wall", "s", series["reporting"].stat(), "pass", series["pass"].stat(), "<= 1000x", 1000
        )
    )
    result.rows.append(Row("answer", "count", series["reporting"].stat("answer")))
    return result


def broken(ctx: Context) -> Result:
    raise BenchmarkError("nothing to measure")


@pytest.mark.parametrize(
    "name",
    [
        *BENCHMARKS,
        "_load_child",
        "_forward_child",
        "_gpu_child",
        "_site_child",
        "_embed_child",
        "_slides_child",
    ],
)
def test_benchmark_modules_import(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    if name in BENCHMARKS:
        assert name == module.NAME
        assert callable(module.run)


def test_harness_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = {"tiny": tiny, "broken": broken}
    argv = ["--repeat", "2", "--warmup", "0", "--out", str(tmp_path), "--json"]
    assert main(argv, registry=registry, ctx=quiet_context(tmp_path)) == 0
    run = json.loads(capsys.readouterr().out)
    tiny_result, broken_result = run["results"]
    assert broken_result["skipped"] == "failed: nothing to measure"
    wall, answer = tiny_result["rows"]
    assert wall["value"]["n"] == 2
    assert wall["ratio"] > 0
    assert wall["met"] is True
    assert answer["value"]["median"] == 42
    samples = tiny_result["series"]["pass"]["samples"]
    assert all(s["peak_rss_mb"] > 0 and s["cpu_s"] >= 0 for s in samples)
    assert run["machine"]["cores"] >= 1

    saved = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert [r["name"] for r in saved["results"]] == ["tiny", "broken"]
    readme = (tmp_path / "README.md").read_text()
    assert _report.START in readme
    assert _report.END in readme
    assert "| Tiny (" in readme
    assert "skipped: failed: nothing to measure" in readme
    assert "- **Tiny**: a note" in readme


def test_rerun_keeps_other_results_and_hand_written_text(tmp_path: Path) -> None:
    ctx = quiet_context(tmp_path)
    registry = {"tiny": tiny, "broken": broken}
    (tmp_path / "README.md").write_text("# Benchmarks\n\nHand-written intro.\n")
    common = ["--repeat", "1", "--warmup", "0", "--out", str(tmp_path)]
    assert main(common, registry=registry, ctx=ctx) == 0
    assert main(["broken", *common], registry=registry, ctx=ctx) == 0
    saved = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert [r["name"] for r in saved["results"]] == ["tiny", "broken"]
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# Benchmarks\n\nHand-written intro.\n")
    assert readme.count(_report.START) == 1
    assert "\nMachine: " in readme  # one machine for all


def test_results_keep_the_machine_they_were_measured_on() -> None:
    old = {"cpu": "Old CPU", "cores": 2, "ram_gib": 8, "os": "Linux", "versions": {}}
    new = {**old, "cpu": "New CPU"}
    for m in (old, new):
        m["versions"] = {"python": "3", "torch": "2", "timm": "1", "safetensors": "0"}
    previous = {
        "machine": old,
        "command": "c1",
        "results": [{"name": "a", "title": "A", "rows": []}],
    }
    b = {"name": "b", "title": "B", "rows": [], "machine": new}
    run = {"machine": new, "command": "c2", "results": [b]}
    merged = _report.merge(previous, run)
    assert [r["machine"]["cpu"] for r in merged["results"]] == ["Old CPU", "New CPU"]
    text = _report.markdown({**merged, "date": "today"})
    assert "Machines: Old CPU, 2 cores" in text
    assert "(a); New CPU, 2 cores" in text


def test_unknown_benchmark_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nope", "--out", str(tmp_path)], registry={"tiny": tiny})
    assert exc.value.code == 2


def test_failing_command_reports_its_stderr() -> None:
    with pytest.raises(BenchmarkError, match="exit 3") as exc:
        run_process([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])
    assert "boom" in str(exc.value)


def test_timeout_kills_the_child() -> None:
    with pytest.raises(BenchmarkError, match="timed out"):
        run_process([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


def test_row_targets() -> None:
    one = Stat.of([1.0])
    two = Stat.of([2.0, 2.0, 2.0])
    assert Row("f", "s", one, "r", two, limit=0.5).met is True
    assert Row("f", "s", two, "r", one, limit=0.5).met is False
    assert Row("f", "img/s", one, "r", two, limit=0.98, higher_is_better=True).met is False
    assert Row("f", "s", two, limit=60).met is True
    assert Row("f", "s", two).met is None
    with pytest.raises(BenchmarkError):
        Stat.of([])


def test_benchmark_manifests_are_valid(tmp_path: Path) -> None:
    """The manifests the loading, embed and GPU benchmarks write pass zoo's own validation."""
    from benchmarks import embed, gpu, loading

    for model in loading.MODELS:
        path = tmp_path / f"{model.arch}.yaml"
        path.write_text(loading.manifest_text(model, tmp_path / "w.safetensors"))
        manifest = read_manifest(path, check_name=False)
        assert manifest.wrapper.type == "timm"
        assert manifest.checkpoint is not None
    for path in sorted(gpu.write_manifests(tmp_path / "gpu").glob("*.yaml")):
        assert read_manifest(path, check_name=False).precision.default == "bfloat16"
    for path in embed.write_manifests(tmp_path / "embed"):
        assert read_manifest(path, check_name=False).checkpoint is None
