"""`zoo pull` and `zoo doctor`: fetch and verify weights, make mirrors, check a machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zoo.cli._output import Output

if TYPE_CHECKING:
    from zoo.manifest import Manifest


def _select(names: tuple[str, ...]) -> tuple[list[Manifest], list[tuple[str, Exception]]]:
    """Manifests by name, alias or pattern (``pathology/*``, ``timm/eva02*``), and what matched nothing."""
    from zoo.catalog.reader import Catalog

    selection = Catalog().select(names)
    return selection.manifests, list(selection.unmatched)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


@click.command("pull")
@click.argument("names", nargs=-1)
@click.option(
    "--to",
    "to",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also copy the files into this folder and list them in its zoo.lock (a mirror).",
)
@click.option(
    "--from-lock",
    "from_lock",
    type=click.Path(exists=True, path_type=Path),
    help="Fetch exactly what a zoo.lock lists (from beside the lock, else the network).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON: the files verified, the models that failed (with why), those without weights.",
)
def pull_command(
    names: tuple[str, ...], to: Path | None, from_lock: Path | None, as_json: bool
) -> None:
    """Fetch and verify (sha256) the weights of the models NAMES (or patterns like 'group/*').

    Files go to zoo's and Hugging Face's caches, where loads find them. With --to DIR they are
    also copied into DIR with a zoo.lock: a mirror that can be moved to a machine without
    network and used there with ZOO_MIRROR=DIR or `zoo load --mirror DIR`.
    """
    from zoo.weights import pull

    if bool(names) == bool(from_lock):
        raise click.UsageError("give model NAMES or --from-lock FILE (one of the two)")
    out = Output(as_json=as_json)
    if from_lock is not None:
        report = pull.pull_lock(from_lock, to=to)
    else:
        manifests, unmatched = _select(names)
        report = pull.pull(manifests, to=to)
        report.failed[:0] = [pull.Failure(name, str(exc)) for name, exc in unmatched]
    rows: list[dict[str, Any]] = [p.row() for p in report.pulled]
    failed = [f.row() for f in report.failed]
    if as_json:
        out.json({"files": rows, "failed": failed, "skipped": report.skipped})
    else:
        if report.skipped:
            out.message(f"no weights to fetch (random init): {', '.join(report.skipped)}")
        if rows or not failed:
            _files_table(out, rows, to)
        for failure in failed:
            out.message(f"failed: {failure['name']}: {failure['reason']}")
    if failed:
        sys.exit(1)


def _files_table(out: Output, rows: list[dict[str, Any]], to: Path | None) -> None:
    shown = [{**r, "size": _size(int(r["size"])), "sha256": str(r["sha256"])[:12]} for r in rows]
    out.table(
        shown,
        [
            ("name", "model"),
            ("source", "source"),
            ("file", "file"),
            ("size", "size"),
            ("sha256", "sha256"),
            ("path", "path"),
        ],
        empty="nothing fetched",
        optional=("sha256", "source"),
    )
    where = f" into the mirror {to}" if to is not None else ""
    out.message(f"{len(rows)} file(s) verified{where}")


@click.command("doctor")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor_command(names: tuple[str, ...], as_json: bool) -> None:
    """Can these models load here? Extras, weights (mirrored/cached/missing), tokens, offline mode.

    Never uses the network and never imports torch. With NAMES, exits 1 when one is not ready.
    """
    from zoo.loading import doctor

    manifests, unmatched = _select(names) if names else (_all(), [])
    if unmatched:
        raise unmatched[0][1]
    report = doctor.diagnose(manifests)
    out = Output(as_json=as_json)
    if as_json:
        out.json(report)
    else:
        out.table(
            report["models"],
            [
                ("name", "model"),
                ("wrapper", "wrapper"),
                ("extra", "extra"),
                ("extra_installed", "installed"),
                ("weights", "weights"),
                ("gated", "gated"),
                ("token", "token"),
                ("ready", "ready"),
                ("fix", "fix"),
            ],
            empty="no models",
            optional=("extra", "token", "wrapper", "gated", "extra_installed"),
            prose=("fix",),
        )
        out.message(
            f"offline: {'on' if report['offline'] else 'off'}; "
            f"mirror: {report['mirror'] or 'none'}; "
            f"Hugging Face token: {'present' if report['hf_token'] else 'absent'}; "
            f"HF cache: {report['hf_cache']}"
        )
    if names and not all(row["ready"] for row in report["models"]):
        sys.exit(1)


def _all() -> list[Manifest]:
    from zoo.catalog.reader import Catalog

    return Catalog().list()
