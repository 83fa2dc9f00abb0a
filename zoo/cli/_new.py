"""`zoo new`: draft a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.cli._output import Output


def _source(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from zoo.errors import UsageError
    from zoo.scaffold import parse_source

    try:
        parse_source(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from zoo.errors import UsageError
    from zoo.scaffold import target_path

    try:
        target_path(value, Path())
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.command("new")
@click.argument("source", callback=_source)
@click.argument("name", callback=_name)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("catalog"),
    show_default=True,
    help="Catalogue root: the file is written at ROOT/<group>/<name>.yaml.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def new_command(source: str, name: str, root: Path, force: bool, as_json: bool) -> None:
    """Draft the manifest NAME (<group>/<name>) from SOURCE.

    SOURCE is timm:<architecture>[.<tag>] (timm's registry) or hf:<folder or config.json>
    (a local transformers save_pretrained folder). What can be derived is filled in; the
    rest is marked with # TODO comments, which `zoo validate` lists until they are gone.
    """
    from zoo.catalog.validation import todo_markers
    from zoo.scaffold import write_draft

    out = Output(as_json=as_json)
    file = write_draft(source, name, root, force=force)
    todos = todo_markers(str(file), file.read_text(encoding="utf-8"))
    if as_json:
        out.json(
            {
                "file": str(file),
                "name": name,
                "todo": [{"line": p.line, "message": p.message} for p in todos],
            }
        )
        return
    out.lines([str(file)])
    out.message(
        f"wrote {file} ({len(todos)} TODO left). Fill them in, then check it with:\n"
        f"  zoo validate --build {file}"
    )
