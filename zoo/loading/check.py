"""Declared against actual: build each manifest's architecture and check its output contract.

Builds on the ``meta`` device (no memory, no weights), so even billion-parameter
models check in well under a second; falls back to a random-init CPU build
where a wrapper cannot use meta (ONNX, or a model whose forward fails on meta).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from zoo.catalog import requirements
from zoo.catalog.validation import WARNING, Report
from zoo.errors import ContractError, ZooError
from zoo.manifest import Manifest, TilesInputSpec, VolumeInputSpec
from zoo.problems import Problem


@dataclass
class BuildCheck:
    """The result of checking one manifest by building it."""

    name: str
    file: str
    ok: bool
    device: str = "meta"
    seconds: float = 0.0
    embedding_shape: list[int] | None = None
    params: int | None = None
    feature_shapes: list[list[int]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: str = ""


def _expected_maps(m: Manifest) -> list[list[int | None]]:
    """``[1, C, h, w]`` per level of an image model, ``[1, C, d, h, w]`` of a volume model."""
    if isinstance(m.input, VolumeInputSpec):
        from zoo.loading.volumes import expected_maps

        return expected_maps(m)
    if isinstance(m.input, TilesInputSpec):
        return []
    out, (h, w) = m.output, m.input.size
    grid = (h // out.patch_size, w // out.patch_size) if out.patch_size else (None, None)
    dims = (
        out.feature_dim
        if isinstance(out.feature_dim, list)
        else [out.feature_dim] * out.feature_levels
    )
    return [[1, c, *grid] for c in dims]


def check_build(m: Manifest, *, trust_remote_code: bool = False) -> BuildCheck:
    """Build ``m`` and compare the embedding and every feature map with the manifest."""
    from zoo.loading.pipeline import build_model

    file = str(m.file)
    result = BuildCheck(name=m.name, file=file, ok=False)
    start = time.perf_counter()

    def problem(path: str, message: str) -> None:
        result.problems.append(Problem(file, path, message, code="build"))

    missing = requirements.unmet(m)
    if missing:
        result.ok, result.skipped = (
            True,
            f"needs {', '.join(map(str, missing))}: {requirements.install_command(missing)}",
        )
        return result
    if m.wrapper.traits.runs_repository_code and not trust_remote_code:
        result.ok, result.skipped = (
            True,
            "runs repository code: pass --trust-remote-code to build it",
        )
        return result
    attempts = ["meta", "cpu"] if m.wrapper.traits.builds_on_meta else ["cpu"]
    last: Exception | None = None
    for device in attempts:
        try:
            model = build_model(
                m, meta=device == "meta", pretrained=False, trust_remote_code=trust_remote_code
            )
            with torch.no_grad():
                if isinstance(m.input, TilesInputSpec):  # a slide encoder: a random bag
                    from zoo.loading.tiles import check_bag_for_build

                    emb = model(**check_bag_for_build(m, device))
                    result.embedding_shape, result.device, last = list(emb.shape), device, None
                    result.params = sum(p.numel() for p in model.parameters())
                    break
                x = torch.zeros(1, m.input.in_chans, *m.input.size, device=device)
                emb = model(x)
                if isinstance(emb, torch.Tensor):
                    result.embedding_shape = list(emb.shape)
                levels = m.output.feature_levels
                maps = model.features(x, list(range(levels))) if levels else []
            result.feature_shapes = [list(t.shape) for t in maps]
            result.params = sum(p.numel() for p in model.parameters())
            result.device = device
            last = None
            break
        except ZooError as exc:  # a contract or usage problem: another device will not help
            last = exc
            break
        except (RuntimeError, NotImplementedError, TypeError, ValueError, AttributeError) as exc:
            last = exc  # most often an op without a meta kernel: retry on CPU
    result.seconds = time.perf_counter() - start
    if isinstance(last, ContractError) and last.fields:
        for field, message in last.fields.items():
            problem(field, message)
        return result
    if last is not None:
        problem(
            "", f"build failed: {str(last).splitlines()[0] if str(last) else type(last).__name__}"
        )
        return result
    declared = m.output.embedding_dim
    pooled = m.output.pooling != "none" or isinstance(m.input, TilesInputSpec)
    if pooled and result.embedding_shape != [1, declared]:
        problem(
            "output.embedding_dim",
            f"declared {declared}, the model returns shape {result.embedding_shape}",
        )
    declared_params = m.metrics.get("params")
    if declared_params is not None and declared_params != result.params:
        problem(
            "metrics.params",
            f"declared {declared_params:,}, the built network has {result.params:,} parameters",
        )
    for level, (shape, want) in enumerate(
        zip(result.feature_shapes, _expected_maps(m), strict=True)
    ):
        if len(shape) != len(want) or any(
            e is not None and e != a for e, a in zip(want, shape, strict=True)
        ):
            problem(
                "output.feature_dim",
                f"feature level {level}: expected {_fmt(want)}, got {_fmt(shape)}",
            )
            break
    result.ok = not result.problems
    return result


def _fmt(shape: list[int | None] | list[int]) -> str:
    return "[" + ", ".join("?" if s is None else str(s) for s in shape) + "]"


def build_checks(
    report: Report, *, trust_remote_code: bool = False, progress: bool = False
) -> None:
    """Build every valid manifest of a validation report and add the contract problems found."""
    import sys

    for m in report.manifests:
        result = check_build(m, trust_remote_code=trust_remote_code)
        report.problems.extend(result.problems)
        if result.skipped:
            report.problems.append(
                Problem(
                    str(m.file),
                    "",
                    f"build skipped: {result.skipped}",
                    severity=WARNING,
                    code="build_skipped",
                )
            )
        if progress:
            state = "skipped" if result.skipped else ("ok" if result.ok else "FAILED")
            count = f", {result.params:,} parameters" if result.params is not None else ""
            sys.stderr.write(
                f"build {state:7} {m.name} ({result.device}, {result.seconds:.2f}s{count})\n"
            )
