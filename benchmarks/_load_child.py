"""Child process of the loading benchmark: one way of getting a model with weights, then exit.

    python benchmarks/_load_child.py generate ARCH KWARGS_JSON FILE
    python benchmarks/_load_child.py zoo      ARCH KWARGS_JSON FILE MANIFEST
    python benchmarks/_load_child.py timm     ARCH KWARGS_JSON FILE
    python benchmarks/_load_child.py floor    ARCH KWARGS_JSON FILE
    python benchmarks/_load_child.py baseline ARCH KWARGS_JSON FILE

``baseline`` only imports what the others import (torch, timm, safetensors, zoo):
the memory every path pays before it holds a single weight.

Prints ``BENCH {"import_s", "load_s", "touch_s", "check"}``. ``check`` sums every
weight, which both shows the parent that every path loaded the same numbers and
makes every page of the weights resident (one element per page): safetensors maps the file lazily, so
without it a path that never reads its weights would look cheap in peak RSS.
Runs as a script (not ``-m``) so that nothing but what each path needs is imported.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def report(t_import: float, t_loaded: float, state: dict[str, Any]) -> None:
    import math

    import torch

    # One element per 4 KiB page touches every page at little cost; fsum of per-tensor sums
    # gives the same number whatever the order of the keys.
    check = math.fsum(float(t.reshape(-1)[::1024].sum(dtype=torch.float64)) for t in state.values())
    t_touched = time.perf_counter()
    print(
        "BENCH "
        + json.dumps(
            {
                "import_s": t_import - T0,
                "load_s": t_loaded - t_import,
                "touch_s": t_touched - t_loaded,
                "check": round(check, 6),
            }
        )
    )


def generate(arch: str, kwargs: dict[str, Any], file: str) -> None:
    """Random weights with the architecture's exact keys and shapes, without a slow random init."""
    import timm
    import torch
    from safetensors.torch import save_file

    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, meta in model.state_dict().items():
        state[key] = torch.empty(meta.shape, dtype=meta.dtype).normal_(std=0.02, generator=gen)
    save_file(state, file)


def load_zoo(manifest: str) -> Any:
    import zoo

    t_import = time.perf_counter()
    model = zoo.load_manifest(manifest)
    return t_import, model.backbone.state_dict()


def load_timm(arch: str, kwargs: dict[str, Any], file: str) -> Any:
    import timm

    t_import = time.perf_counter()
    model = timm.create_model(
        arch, pretrained=True, pretrained_cfg_overlay={"file": file}, num_classes=0, **kwargs
    )
    model.eval()
    return t_import, model.state_dict()


def load_floor(arch: str, kwargs: dict[str, Any], file: str) -> Any:
    """What no loader can beat: read the file, build the architecture on meta."""
    import timm
    import torch
    from safetensors.torch import load_file

    t_import = time.perf_counter()
    state = load_file(file)
    with torch.device("meta"):
        timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
    return t_import, state


def main(argv: list[str]) -> None:
    mode, arch, kwargs_json, file, *rest = argv
    kwargs = json.loads(kwargs_json)
    if mode == "generate":
        generate(arch, kwargs, file)
        return
    if mode == "baseline":
        import safetensors.torch  # noqa: F401
        import timm  # noqa: F401
        import torch  # noqa: F401

        import zoo.loading.pipeline  # noqa: F401

        return
    if mode == "zoo":
        t_import, state = load_zoo(rest[0])
    elif mode == "timm":
        t_import, state = load_timm(arch, kwargs, file)
    elif mode == "floor":
        t_import, state = load_floor(arch, kwargs, file)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    report(t_import, time.perf_counter(), state)


if __name__ == "__main__":
    main(sys.argv[1:])
