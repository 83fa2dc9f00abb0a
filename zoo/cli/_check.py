"""`zoo validate` and `zoo schema`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zoo.cli._output import Output, github_annotation

if TYPE_CHECKING:
    from zoo.catalog.validation import Report
    from zoo.problems import Problem


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings block too.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    help="github: GitHub Actions annotations.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--build",
    is_flag=True,
    help="Also build each architecture (meta device) and check its declared outputs.",
)
@click.option(
    "--trust-remote-code",
    is_flag=True,
    help="With --build: also build manifests that run repository code.",
)
@click.option(
    "--changed",
    is_flag=True,
    help="Only manifests changed since --base (git: commits, edits, untracked files); "
    "cross-catalogue checks still see every manifest.",
)
@click.option(
    "--base",
    metavar="REF",
    default=None,
    help="With --changed: the git ref to compare with "
    "(default: origin/HEAD, else origin/main, origin/master, main, master).",
)
def validate_command(
    paths: tuple[Path, ...],
    strict: bool,
    fmt: str,
    as_json: bool,
    build: bool,
    trust_remote_code: bool,
    changed: bool,
    base: str | None,
) -> None:
    """Validate manifest files or folders (default: every catalogue root).

    Each problem prints as file:line:column: field.path: message. Exit 1 if anything blocks.
    """
    from zoo.catalog.validation import KNOWN, validate_changed, validate_paths

    if base is not None and not changed:
        raise click.UsageError("--base only makes sense with --changed")
    out = Output(as_json=as_json)
    from zoo.weights import sources

    report = (
        validate_changed(paths, base=base, weights=sources)
        if changed
        else validate_paths(paths, weights=sources)
    )
    if build:
        from zoo.loading.check import build_checks

        build_checks(
            report, trust_remote_code=trust_remote_code, progress=not as_json and fmt == "text"
        )
    blocking = report.errors(strict=strict)
    if as_json:
        out.json(_report_json(report, blocking))
    else:
        if fmt == "github":
            out.lines(
                [
                    github_annotation(
                        "error"
                        if p in blocking
                        else "notice"
                        if p.severity == KNOWN
                        else "warning",
                        f"{p.path}: {p.message}" if p.path else p.message,
                        {"file": p.file, "line": p.line, "col": p.column},
                    )
                    for problems in report.by_file().values()
                    for p in problems
                ]
            )
        else:
            for problems in report.by_file().values():
                for p in problems:
                    out.lines([f"{p} [{'error' if p in blocking else p.severity}]"])
        if report.base is not None:
            gone = f"; {len(report.deleted)} deleted (not checked)" if report.deleted else ""
            out.message(f"{len(report.files)} manifest(s) changed since {report.base}{gone}")
        known = sum(p.severity == KNOWN for p in report.problems)
        errors, warnings = len(blocking), len(report.problems) - len(blocking) - known
        verdict = "FAILED" if blocking else "ok"
        gaps = f", {known} known gap(s)" if known else ""
        out.message(
            f"{verdict}: {len(report.files)} file(s), {errors} error(s), {warnings} warning(s)"
            f"{gaps}"
        )
    if blocking:
        sys.exit(1)


def _report_json(report: Report, blocking: list[Problem]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ok": not blocking,
        "files": len(report.files),
        "problems": [
            {
                "file": p.file,
                "line": p.line,
                "column": p.column,
                "path": p.path,
                "message": p.message,
                "severity": "error" if p in blocking else p.severity,
                "code": p.code,
            }
            for p in report.problems
        ],
    }
    if report.base is not None:
        data["base"] = report.base
        data["checked"] = [str(f) for f in report.files]
        data["deleted"] = [str(f) for f in report.deleted]
    return data


@click.command("schema")
@click.option(
    "--check", "mode", flag_value="check", help="Exit 1 if the committed schema is stale."
)
@click.option("--write", "mode", flag_value="write", help="Regenerate the committed schema file.")
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    default=None,
    help="Schema file (default: schemas/manifest.schema.json).",
)
def schema_command(mode: str | None, path: Path | None) -> None:
    """Print the manifest JSON Schema, or check / rewrite the committed file."""
    from zoo.manifest import schema_text

    out = Output()
    text = schema_text()
    target = path or _schema_path()
    if mode is None:
        out.write(text)
    elif mode == "write":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        out.message(f"wrote {target}")
    else:
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current != text:
            state = "missing" if current is None else "stale"
            out.message(f"{target} is {state}. Regenerate it with: zoo schema --write")
            sys.exit(1)
        out.message(f"{target} is up to date")


def _schema_path() -> Path:
    from zoo.catalog.roots import bundled_root

    return bundled_root().parent / "schemas" / "manifest.schema.json"


@click.command("readme")
@click.option(
    "--check", "mode", flag_value="check", help="Exit 1 if README.md's catalogue table is stale."
)
@click.option("--write", "mode", flag_value="write", help="Regenerate README.md's catalogue table.")
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    default=None,
    help="README file (default: the checkout's README.md).",
)
def readme_command(mode: str | None, path: Path | None) -> None:
    """Print the catalogue table, or check / rewrite it in README.md."""
    from zoo.catalog.readme import catalog_table, readme_path, render_readme

    out = Output()
    table = catalog_table()
    if mode is None:
        out.write(table + "\n")
        return
    target = path or readme_path()
    current = target.read_text(encoding="utf-8")
    updated = render_readme(current, table)
    if mode == "write":
        target.write_text(updated, encoding="utf-8")
        out.message(f"wrote {target}")
    elif updated != current:
        out.message(
            f"the catalogue table in {target} is stale. Regenerate it with: zoo readme --write"
        )
        sys.exit(1)
    else:
        out.message(f"{target} is up to date")
