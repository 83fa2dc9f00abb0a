"""`zoo list` and `zoo show`."""

from __future__ import annotations

from typing import Any

import click

from zoo.catalog import listing
from zoo.catalog.filters import select
from zoo.catalog.listing import WRAPPER_TYPES
from zoo.cli._output import Output

LIST_COLUMNS = [
    ("name", "name"),
    ("kind", "kind"),
    ("wrapper", "wrapper"),
    ("source", "weights"),
    ("embedding_dim", "dim"),
    ("input_size", "input"),
    ("license", "license"),
    ("gated", "gated"),
]


@click.command("list")
@click.argument("pattern", required=False)
@click.option("--group", help="Only this group (e.g. pathology).")
@click.option("--wrapper", type=click.Choice(WRAPPER_TYPES), help="Only this wrapper type.")
@click.option("--tag", help="Only models with this tag.")
@click.option(
    "--kind",
    type=click.Choice(["image", "volume", "tiles"]),
    help="Only this input kind (tiles: slide encoders, which take a patch encoder's features).",
)
@click.option(
    "--commercial",
    is_flag=True,
    default=None,
    help="Only models whose license allows commercial use.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_command(
    pattern: str | None,
    group: str | None,
    wrapper: str | None,
    tag: str | None,
    kind: str | None,
    commercial: bool | None,
    as_json: bool,
) -> None:
    """List the catalogue, optionally filtered (PATTERN is a glob on names, e.g. 'pathology/*')."""
    out = Output(as_json=as_json)
    everything, problems = listing.summaries()
    rows = select(
        everything, pattern, group=group, wrapper=wrapper, tag=tag, commercial=commercial, kind=kind
    )
    if (
        pattern is not None
        and pattern.startswith("timm/")
        and group in (None, "timm")
        and wrapper in (None, "timm")
        and kind in (None, "image")
    ):
        from zoo.catalog.timm import registry as timm_registry

        known = {r["name"] for r in rows}
        derived = [timm_registry.summary(n) for n in timm_registry.names(pattern) if n not in known]
        rows += [r for r in derived if _keep(r, tag, commercial)]
    elif (
        not as_json
        and pattern is None
        and group in (None, "timm")
        and wrapper in (None, "timm")
        and tag in (None, "timm")
        and kind in (None, "image")
    ):
        rows.append(_timm_row())
    out.table(
        rows,
        LIST_COLUMNS,
        empty="no model matches",
        optional=("source", "wrapper"),
        prose=("license",),
    )
    if problems:
        out.message(
            f"{len(problems)} problem(s) in the catalogue's manifests were skipped; run `zoo validate`."
        )


@click.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def show_command(name: str, as_json: bool) -> None:
    """Show one model's manifest (NAME or an alias)."""
    from zoo.catalog.lookup import describe

    out = Output(as_json=as_json)
    data, file = describe(name)
    identity = {
        k: data[k]
        for k in (
            "name",
            "aliases",
            "description",
            "tags",
            "license",
            "paper",
            "gated",
            "metrics",
            "same_weights_as",
            "pairs_with",
        )
        if data.get(k) not in (None, [], {})
    }
    identity["file"] = file or "none (derived from timm's registry)"
    sections = [
        ("identity", identity),
        ("wrapper", data["wrapper"]),
        ("checkpoint", data["checkpoint"] or {"weights": "none (random initialization)"}),
        ("input", data["input"]),
        ("output", data["output"]),
        ("precision", data["precision"]),
    ]
    out.record(data, sections, title=data["name"])


def _keep(row: dict[str, Any], tag: str | None, commercial: bool | None) -> bool:
    return (tag is None or tag in row["tags"]) and (
        commercial is None or row["commercial"] == commercial
    )


def _timm_row() -> dict[str, object]:
    """timm's one summary row, without importing timm."""
    from zoo.catalog.timm import registry as timm_registry

    version = timm_registry.installed_version()
    if version is None:
        what = "not installed: pip install 'zoo-backbones[timm]'"
    else:
        counts = timm_registry.cached_counts()
        what = (
            f"{counts[0]} architectures, {counts[1]} pretrained"
            if counts
            else "run: zoo list 'timm/*'"
        )
    return {
        "name": "timm/*",
        "kind": "image",
        "wrapper": "timm",
        "source": f"timm {version or ''}".strip(),
        "embedding_dim": None,
        "input_size": None,
        "license": what,
        "gated": None,
    }
