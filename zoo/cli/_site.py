"""`zoo site`: the static website of the catalogue."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.cli._output import Output


@click.command("site")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the site: new, empty, or one an earlier `zoo site` wrote.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def site_command(out: Path, as_json: bool) -> None:
    """Generate a static website of the catalogue (bundled plus ZOO_CATALOG_PATH) into OUT.

    One index page with search, filters and sortable columns, and one page per model. It
    needs no server: open OUT/index.html, or publish the folder (GitHub Pages). zoo only
    replaces or deletes files that it wrote there itself (listed in OUT/.zoo-site.json).
    """
    from zoo.site import build_site

    output = Output(as_json=as_json)
    result = build_site(out)
    report = result.report
    if as_json:
        output.json(
            {
                "out": str(result.out),
                "index": str(result.index),
                "models": len(result.models),
                "files": len(result.files),
                "written": len(report.written),
                "unchanged": len(report.unchanged),
                "removed": report.removed,
                "skipped": [str(p) for p in result.problems],
            }
        )
    else:
        output.lines([str(result.index)])
        output.message(
            f"{len(result.models)} models, {len(result.files)} files in {result.out} "
            f"({len(report.written)} written, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} removed)"
        )
    if result.problems:
        output.message(
            f"{len(result.problems)} problem(s) in the catalogue's manifests: those entries are "
            "not on the site; run `zoo validate`."
        )
