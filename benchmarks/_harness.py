"""Measurement primitives: fresh processes measured by the OS, alternation, statistics.

Every measured thing runs as its own child process. Wall time is taken around
the child; CPU time and peak RSS come from the kernel's accounting of that one
child (``os.wait4``), so they are whole-process figures, interpreter included.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: A child prints one line starting with this marker, followed by JSON, to report in-process figures.
MARKER = "BENCH "


class BenchmarkError(RuntimeError):
    """A measured command failed or reported nothing."""


@dataclass
class Sample:
    """One run of one measured thing."""

    wall_s: float
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stat:
    """Median and spread of a series of numbers."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            raise BenchmarkError("no values to summarise")
        values = sorted(values)
        if len(values) > 1:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        else:
            q1 = q3 = values[0]
        return cls(statistics.median(values), values[0], values[-1], q1, q3, len(values))


@dataclass
class Series:
    """Every sample of one measured thing."""

    label: str
    samples: list[Sample] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        """The ``metric`` of each sample: ``wall_s``, ``cpu_s``, ``peak_rss_mb`` or an extra key."""
        out = []
        for s in self.samples:
            value = getattr(s, metric) if hasattr(s, metric) else s.extra.get(metric)
            if value is not None:
                out.append(float(value))
        return out

    def stat(self, metric: str = "wall_s") -> Stat:
        return Stat.of(self.values(metric))


@dataclass
class Row:
    """One line of the results table: a figure of zoo against its reference."""

    figure: str
    unit: str
    value: Stat | None
    reference: str | None = None
    ref_value: Stat | None = None
    target: str | None = None
    #: The ratio ``value / ref_value`` (medians) must be at most this (at least, when
    #: ``higher_is_better``), or the value itself when there is no reference.
    limit: float | None = None
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.ref_value is None or not self.ref_value.median:
            return None
        return self.value.median / self.ref_value.median

    @property
    def met(self) -> bool | None:
        if self.limit is None or self.value is None:
            return None
        measured = self.ratio if self.ref_value is not None else self.value.median
        if measured is None:
            return None
        return measured >= self.limit if self.higher_is_better else measured <= self.limit

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, met=self.met)
        return data


@dataclass
class Result:
    """What one benchmark measured."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    series: dict[str, Series] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "skipped": self.skipped,
            "notes": self.notes,
            "rows": [r.to_dict() for r in self.rows],
            "series": {
                k: {
                    "label": s.label,
                    "samples": [asdict(x) for x in s.samples],
                }
                for k, s in self.series.items()
            },
        }


@dataclass
class Context:
    """What every benchmark gets: repetitions, the interpreters, a scratch folder."""

    repeat: int = 5
    warmup: int = 1
    python: str = sys.executable
    work: Path = Path(tempfile.gettempdir()) / "zoo-bench"
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)

    @property
    def bin_dir(self) -> Path:
        """The folder of the interpreter's console scripts (``zoo``)."""
        return Path(self.python).parent

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Children's environment: bytecode cached (as after any normal install), like a user's."""
        env = dict(os.environ)
        # This sandbox sets PYTHONDONTWRITEBYTECODE; a user's install has its .pyc files, so
        # children write theirs once (during warm-up) to a private cache outside the tree.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.work / "pycache")
        env.update(extra or {})
        return env


def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
) -> Sample:
    """Run ``argv`` to completion; wall time, the child's CPU time and peak RSS.

    A child line ``BENCH {json}`` on stdout becomes ``Sample.extra``.

    Raises:
        BenchmarkError: The command failed (its stderr tail is in the message) or timed out.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env, cwd=cwd)
        killed: list[bool] = []

        def kill() -> None:
            killed.append(True)
            proc.kill()

        killer = threading.Timer(timeout, kill) if timeout else None
        if killer:
            killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # blocking: no polling delay in the wall time
        finally:
            if killer:
                killer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if killed:
        raise BenchmarkError(f"timed out after {timeout:.0f} s: {' '.join(argv)}")
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise BenchmarkError(f"exit {proc.returncode}: {' '.join(argv)}\n{tail}")
    extra: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            extra.update(json.loads(line[len(MARKER) :]))
    return Sample(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux reports KiB
        extra=extra,
    )


def alternate(
    cases: Mapping[str, Callable[[], Sample]],
    *,
    repeat: int,
    warmup: int = 1,
    log: Callable[[str], None] | None = None,
) -> dict[str, Series]:
    """Run every case once per round, ``repeat`` rounds, the order rotating each round.

    Interleaving means slow drift (other jobs on the machine, thermal state) hits
    every case alike, so ratios of medians stay meaningful on a noisy machine.
    Warm-up rounds (page cache, bytecode) are run first and discarded.
    """
    labels = list(cases)
    series = {label: Series(label) for label in labels}
    for w in range(warmup):
        for label in labels:
            if log:
                log(f"  warm-up {w + 1}/{warmup}: {label}")
            cases[label]()
    for r in range(repeat):
        shift = r % len(labels) if labels else 0
        for label in labels[shift:] + labels[:shift]:
            sample = cases[label]()
            series[label].samples.append(sample)
            if log:
                rss = f", {sample.peak_rss_mb:.0f} MiB" if sample.peak_rss_mb else ""
                log(f"  {r + 1}/{repeat} {label}: {sample.wall_s:.3f} s{rss}")
    return series


def python_case(
    ctx: Context, code: str, *, python: str | None = None, timeout: float | None = None
) -> Callable[[], Sample]:
    """A case that runs ``python -c code`` in a fresh interpreter."""
    argv = [python or ctx.python, "-c", code]
    return lambda: run_process(argv, env=ctx.env(), timeout=timeout)


def command_case(
    ctx: Context, argv: Sequence[str], *, timeout: float | None = None
) -> Callable[[], Sample]:
    """A case that runs a command in a fresh process."""
    return lambda: run_process(list(argv), env=ctx.env(), timeout=timeout)
