"""Child process of the forward benchmark: a zoo module against the bare timm model it wraps.

    python benchmarks/_forward_child.py NAME ITERATIONS WARMUP THREADS BATCH

Both run in this one process on the same backbone object and the same batch,
alternating call by call (which goes first alternates too). Prints
``BENCH {"cls": {"zoo": [...], "bare": [...], "zoo_cpu": [...], "bare_cpu": [...]},
"out_indices": {...}}``: wall and CPU seconds per call.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and process CPU seconds of one call (CPU time suffers less from a busy machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def same(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(torch.equal(a, b))


def main(argv: list[str]) -> None:
    name, iterations, warmup, threads, batch = argv[0], *map(int, argv[1:])
    import torch

    import zoo

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cls_model = zoo.load(name, pretrained=False)
    idx_model = zoo.load(name, pretrained=False, out_indices=4)
    size = cls_model.manifest.input.size
    x = torch.randn(batch, 3, size[0], size[1])
    depth = len(idx_model.backbone.blocks)
    indices = list(range(depth - 4, depth))

    def bare_intermediates() -> Any:
        return idx_model.backbone.forward_intermediates(
            x, indices=indices, intermediates_only=True, output_fmt="NCHW", norm=False
        )

    pairs = {
        "cls": (lambda: cls_model(x), lambda: cls_model.backbone(x)),
        "out_indices": (lambda: idx_model(x), bare_intermediates),
    }
    out: dict[str, dict[str, list[float]]] = {}
    with torch.inference_mode():
        for path, (zoo_fn, bare_fn) in pairs.items():
            if not same(zoo_fn(), bare_fn()):
                raise SystemExit(f"{path}: zoo and the bare model disagree")
            for _ in range(warmup):
                zoo_fn(), bare_fn()
            times: dict[str, list[float]] = {"zoo": [], "bare": [], "zoo_cpu": [], "bare_cpu": []}
            for i in range(iterations):
                order = [("zoo", zoo_fn), ("bare", bare_fn)]
                for label, fn in order if i % 2 == 0 else order[::-1]:
                    wall, cpu = timed(fn)
                    times[label].append(wall)
                    times[f"{label}_cpu"].append(cpu)
            out[path] = times
    print("BENCH " + json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
