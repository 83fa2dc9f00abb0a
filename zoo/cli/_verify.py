"""``zoo verify``: run entries and their authors' reference recipes side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zoo.cli._output import Output
from zoo.errors import UsageError, ZooError


def _fmt(value: float | None) -> str:
    return "shape differs" if value is None else f"{value:.2e}"


def _worst(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else max((v or 0.0) for v in values)


@click.command("verify")
@click.argument("names", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every entry that has a recipe.")
@click.option("--list", "listing", is_flag=True, help="Which entries have a recipe (no run).")
@click.option(
    "--changed",
    is_flag=True,
    help="Entries whose manifest or recipe changed since --base (git): what CI runs on a PR.",
)
@click.option("--base", default=None, help="With --changed: the git ref to compare with.")
@click.option(
    "--random-weights",
    is_flag=True,
    help="Random weights written in the authors' layout (no download; what CI runs).",
)
@click.option(
    "--images",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A folder of your images (default: the bundled H&E and IHC tiles).",
)
@click.option(
    "--mirror",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Read the weights from a mirror made by `zoo pull --to`.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def verify_command(
    names: tuple[str, ...],
    every: bool,
    listing: bool,
    changed: bool,
    base: str | None,
    random_weights: bool,
    images: Path | None,
    mirror: Path | None,
    as_json: bool,
) -> None:
    """Compare entries with their authors' own recipe: the preprocessed tensors and the
    embeddings, on the bundled tissue images (or yours). Exits 1 on a mismatch.

    With the real weights (from the cache or --mirror) this confirms an entry; with
    --random-weights it checks the recipe, the checkpoint layout and the preprocessing without
    any download.
    """
    out = Output(as_json=as_json)
    if listing:
        if names or every:
            raise UsageError("--list shows every entry: give no NAME and no --all")
        _list(out)
        return
    from zoo.verify.recipe import recipes

    if base is not None and not changed:
        raise UsageError("--base only makes sense with --changed")
    if sum(map(bool, (names, every, changed))) > 1:
        raise UsageError("give NAMEs, --all or --changed, one of them")
    if not (every or names or changed):
        raise UsageError("name entries to verify, or --all (see the coverage with --list)")
    if changed:
        from zoo.verify.coverage import changed_entries

        selected = changed_entries(base)
        if not selected:
            out.message("no entry with a recipe changed")
            return
    else:
        selected = sorted(recipes()) if every else list(names)
    rows, failed = _run(out, selected, random_weights, images, mirror)
    out.table(
        rows,
        [
            ("name", "entry"),
            ("result", "result"),
            ("input", "max input diff"),
            ("embedding", "max embedding diff (rel.)"),
            ("detail", "detail"),
        ],
        prose=["detail"],
    )
    if failed:
        raise SystemExit(1)


def _run(
    out: Output,
    names: list[str],
    random_weights: bool,
    images: Path | None,
    mirror: Path | None,
) -> tuple[list[dict[str, Any]], bool]:
    from zoo.catalog.reader import Catalog
    from zoo.verify.run import verify

    catalog = Catalog()
    rows: list[dict[str, Any]] = []
    failed = False
    for index, name in enumerate(names, 1):
        out.message(f"[{index}/{len(names)}] {name}")
        try:
            result = verify(
                name, random_weights=random_weights, images=images, mirror=mirror, catalog=catalog
            )
        except ZooError as exc:
            if isinstance(exc, UsageError) and len(names) == 1:
                raise
            failed = True
            rows.append({"name": name, "result": "error", "detail": str(exc), "ok": False})
            continue
        failed = failed or not result.ok
        data = result.row()
        worst_in = _worst([c.input_diff for c in result.comparisons])
        worst_out = _worst([c.embedding_diff for c in result.comparisons])
        detail = "; ".join(c.shapes for c in result.comparisons if c.shapes) or result.note
        rows.append(
            {
                **data,
                "result": "match" if result.ok else "MISMATCH",
                "input": _fmt(worst_in),
                "embedding": _fmt(worst_out),
                "detail": detail,
            }
        )
    return rows, failed


def _list(out: Output) -> None:
    from zoo.verify.coverage import coverage

    rows = coverage()
    out.table(
        rows,
        [
            ("name", "entry"),
            ("status", "recipe"),
            ("how", "how"),
            ("source", "source / reason"),
        ],
        prose=["source"],
    )
    covered = sum(r["status"] == "covered" for r in rows)
    out.message(f"{covered} of {len(rows)} entries with weights have a recipe")
