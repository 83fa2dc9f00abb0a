"""Listing: ``zoo list`` in a fresh process against the imports a user would otherwise pay for."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks._harness import (
    Context,
    Result,
    Row,
    alternate,
    command_case,
    python_case,
    run_process,
)

NAME = "listing"
TITLE = "Listing the catalogue"
EVA_PYTHON = Path("/tmp/eva-venv/bin/python")
EVA_LIST = (
    "from eva.vision.models.networks.backbones import backbone_registry; "
    "backbone_registry.entries()"
)
EVA_VERSION = (
    "import importlib.metadata as m, json; "
    "print('BENCH ' + json.dumps({'version': m.version('kaiko-eva')}))"
)


def zoo_command(ctx: Context) -> list[str]:
    """The ``zoo`` console script next to the interpreter, else ``python -m zoo``."""
    script = ctx.bin_dir / "zoo"
    if script.is_file():
        return [str(script), "list"]
    found = shutil.which("zoo")
    return [found, "list"] if found else [ctx.python, "-m", "zoo", "list"]


#: Size of the grown catalogue: the bundled manifests plus copies under other names.
GROWN = 200


def grown_catalog(bundled: Path, dest: Path, total: int = GROWN) -> Path:
    """A catalogue root of ``total - len(bundled)`` renamed copies of the bundled manifests.

    Listed together with the bundled root (``ZOO_CATALOG_PATH``), it makes a catalogue
    of ``total`` valid manifests, as a catalogue that has grown would be.
    """
    sources = sorted(bundled.rglob("*.yaml"))
    if dest.exists():
        shutil.rmtree(dest)
    for i in range(total - len(sources)):
        src = sources[i % len(sources)]
        group, stem = src.parent.name, src.stem
        name = f"{group}_copy/{stem}_{i:03d}"
        text = src.read_text().replace(f"name: {group}/{stem}\n", f"name: {name}\n", 1)
        # Copies must not claim the originals' aliases, and say whose weights they share.
        same = f"{group}/{stem}"
        lines = []
        for line in text.splitlines():
            if line.startswith("same_weights_as:"):
                same = line.split(":", 1)[1].strip()
            elif not line.startswith("aliases:"):
                lines.append(line)
        lines.append(f"same_weights_as: {same}")
        out = dest / f"{name}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
    return dest


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    bundled = Path(__file__).resolve().parents[1] / "catalog"
    grown = grown_catalog(bundled, Path("/tmp/zoo-bench/catalog-grown"))
    grown_env = ctx.env({"ZOO_CATALOG_PATH": str(grown)})
    cases = {
        "zoo list": command_case(ctx, zoo_command(ctx), timeout=120),
        f"zoo list ({GROWN})": lambda: run_process(zoo_command(ctx), env=grown_env, timeout=120),
        "python -c pass": python_case(ctx, "pass"),
        "import torch": python_case(ctx, "import torch", timeout=300),
        "timm.list_models()": python_case(ctx, "import timm; timm.list_models()", timeout=300),
    }
    if EVA_PYTHON.is_file():
        cases["eva backbone_registry.entries()"] = python_case(
            ctx, EVA_LIST, python=str(EVA_PYTHON), timeout=300
        )
        version = run_process(
            [str(EVA_PYTHON), "-c", EVA_VERSION], env=ctx.env(), timeout=60
        ).extra.get("version")
        result.notes.append(
            f"eva: kaiko-eva {version} in {EVA_PYTHON.parent.parent}; listing its backbones "
            "imports eva.vision (torch, timm, torchvision, lightning) first."
        )
    else:
        result.notes.append(f"eva not measured: no {EVA_PYTHON} (see README for how to create it)")
    series = alternate(cases, repeat=ctx.repeat, warmup=ctx.warmup, log=ctx.log)
    result.series = series
    zoo = series["zoo list"]
    result.rows.append(
        Row(
            "`zoo list` wall time",
            "s",
            zoo.stat(),
            "`python -c 'import torch'`",
            series["import torch"].stat(),
            "≤ 0.10x import torch",
            0.10,
        )
    )
    result.rows.append(
        Row(
            f"`zoo list` wall time, {GROWN} manifests",
            "s",
            series[f"zoo list ({GROWN})"].stat(),
            "`python -c 'import torch'`",
            series["import torch"].stat(),
            "≤ 0.10x import torch",
            0.10,
        )
    )
    for label, text in [
        ("python -c pass", "`python -c pass` (interpreter floor)"),
        ("timm.list_models()", "`import timm; timm.list_models()`"),
        ("eva backbone_registry.entries()", "eva `backbone_registry.entries()`"),
    ]:
        if label in series:
            result.rows.append(
                Row("`zoo list` wall time", "s", zoo.stat(), text, series[label].stat())
            )
    result.rows.append(
        Row(
            "`zoo list` CPU time (user+sys)",
            "s",
            zoo.stat("cpu_s"),
            "`import torch`",
            series["import torch"].stat("cpu_s"),
        )
    )
    result.rows.append(
        Row(
            "`zoo list` peak RSS",
            "MiB",
            zoo.stat("peak_rss_mb"),
            "`import torch`",
            series["import torch"].stat("peak_rss_mb"),
        )
    )
    return result
