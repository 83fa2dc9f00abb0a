"""`zoo embed`: run a model over images with Lightning and write sharded embeddings plus provenance."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from zoo.cli._output import Output


@click.command("embed")
@click.argument("name")
@click.argument("images", nargs=-1)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: new or empty, or zoo's earlier output of the same run (resumed).",
)
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--devices",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes per node.",
)
@click.option("--num-nodes", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--accelerator",
    type=click.Choice(["auto", "cpu", "gpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--precision",
    default=None,
    help="Lightning precision: 32-true, bf16-mixed, 16-mixed, bf16-true... (default: 32-true).",
)
@click.option(
    "--out-indices", help="Feature maps instead of the embedding: 2 (last two blocks) or -2,-4."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["safetensors", "parquet", "h5"]),
    default="safetensors",
    show_default=True,
    help="h5: one <slide>.h5 per slide in TRIDENT's layout: the tile features (features, "
    "coords) of slides, or with --from-features the slide embedding.",
)
@click.option(
    "--mpp",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Slides: microns per pixel to tile at (default: the entry's input.mpp).",
)
@click.option(
    "--tile-size",
    type=click.IntRange(min=1),
    default=None,
    help="Slides: tile side in pixels at --mpp (default: the entry's input size).",
)
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=None,
    help="Slides: pixels (at --mpp) that neighbouring tiles share (default: 0).",
)
@click.option(
    "--slide-mpp",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Slides: level-0 microns per pixel of every slide, replacing what the slides state.",
)
@click.option(
    "--slides",
    "slides",
    is_flag=True,
    help="Read .tif/.tiff files as whole-slide images (implied by .svs, .ndpi, .mrxs... files "
    "and by the other slide options).",
)
@click.option(
    "--from-features",
    "from_features",
    type=click.Path(path_type=Path),
    help="Slide embeddings from tile features already made: TRIDENT's <slide>.h5 files or zoo "
    "embed output folders (one per slide). NAME is a slide encoder, or a patch encoder with "
    "--slide-pool.",
)
@click.option(
    "--slide-pool",
    type=click.Choice(["mean", "max"]),
    help="With --from-features and a patch encoder: the mean or max of its tile features.",
)
@click.option(
    "--no-pairing-check",
    is_flag=True,
    help="With --from-features: take features whose files do not say (or say otherwise) which "
    "encoder and scale made them; only their width is checked.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Data-loading worker processes per device (default: min(4, CPUs per device)).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of a random init.")
@click.option("--random-init", is_flag=True, help="Random weights: do not load the checkpoint.")
@click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Allow code from the model's repository, where the manifest declares it.",
)
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    default=4096,
    show_default=True,
    help="Images per shard (the unit of writing and of resuming).",
)
@click.option(
    "--skip-missing",
    is_flag=True,
    help="Embed the others when a list file names files that do not exist (they are recorded as skipped).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace zoo's earlier output in --out (refused when --out holds anything else).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON document.")
def embed_command(
    name: str,
    images: tuple[str, ...],
    out: Path,
    batch: int,
    devices: int,
    num_nodes: int,
    accelerator: str,
    precision: str | None,
    out_indices: str | None,
    fmt: str,
    mpp: float | None,
    tile_size: int | None,
    overlap: int | None,
    slide_mpp: float | None,
    slides: bool,
    from_features: Path | None,
    slide_pool: str | None,
    no_pairing_check: bool,
    workers: int | None,
    seed: int,
    random_init: bool,
    trust_remote_code: bool,
    shard_size: int,
    skip_missing: bool,
    overwrite: bool,
    no_progress: bool,
    as_json: bool,
) -> None:
    """Embed IMAGES (folders, searched recursively, or list files with one path per line) with
    NAME: OUT/index.json and OUT/shards/ (rows in key order), OUT/provenance.json. For a 3-D
    encoder the files are volumes: NIfTI (.nii, .nii.gz; reoriented and resampled as the
    manifest says) or .npy (taken as already in the model's orientation and spacing).

    Whole-slide images (.svs, .ndpi, .mrxs, .scn, .bif, .tif... read by OpenSlide, the
    'slides' extra) are found on a thumbnail (tissue), cut into tiles at --mpp (the entry's
    input.mpp) and --tile-size, and embedded tile by tile, each row with its slide and level-0
    coordinates; --format h5 writes OUT/<slide>.h5 as TRIDENT does. OUT/thumbnails/<slide>.png
    shows the tissue and the tiles. A slide that cannot be read, states no scale or has no
    tissue is reported and skipped (exit status 1); the others are embedded.

    Re-running the same command after a crash or Ctrl-C embeds only what is missing.
    With --devices N (and --num-nodes) it runs N processes with DDP (gloo on CPU).
    """
    import logging
    import signal

    from zoo.embed.runner import EmbedConfig, run
    from zoo.errors import EmbedInterruptedError
    from zoo.loading.indices import parse_out_indices

    if from_features is not None:
        _embed_bags(
            name,
            images,
            out,
            from_features,
            slide_pool,
            fmt,
            not random_init,
            trust_remote_code,
            accelerator,
            not no_pairing_check,
            overwrite,
            not no_progress,
            as_json,
            seed,
        )
        return
    if not images:
        raise click.UsageError("give IMAGES (folders or list files), or --from-features DIR")
    if slide_pool or no_pairing_check:
        raise click.UsageError("--slide-pool and --no-pairing-check go with --from-features")
    # Lightning's banner lines (devices found, tips) are noise here; the provenance records the run.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    if workers is None:
        workers = min(4, max((os.cpu_count() or 1) // devices, 1))
    config = EmbedConfig(
        name=name,
        images=list(images),
        out=out,
        batch=batch,
        devices=devices,
        num_nodes=num_nodes,
        accelerator=accelerator,
        precision=precision,
        out_indices=parse_out_indices(out_indices),
        fmt=fmt,
        workers=workers,
        pretrained=not random_init,
        trust_remote_code=trust_remote_code,
        overwrite=overwrite,
        skip_missing=skip_missing,
        shard_size=shard_size,
        seed=seed,
        progress=not no_progress,
        mpp=mpp,
        tile_size=tile_size,
        overlap=overlap,
        slide_mpp=slide_mpp,
        slides=slides,
    )
    output = Output(as_json=as_json)
    if _slide_encoder(name) is not None:
        _embed_slides_then_encode(config, output)
        return
    try:
        summary = run(config, report=output.message)
    except EmbedInterruptedError as exc:
        output.message(
            f"{exc}. Run the same command again to embed the other {exc.total - exc.done}."
        )
        raise SystemExit(128 + signal.Signals[exc.signal]) from None
    if summary is None:  # not global rank 0: rank 0 reports
        return
    if summary["skipped"]:
        first = "; ".join(f"{s['path']} ({s['error']})" for s in summary["skipped_first"])
        more = ", ..." if summary["skipped"] > len(summary["skipped_first"]) else ""
        noun = {"volume": "volumes", "slide": "slides"}.get(summary["kind"], "images")
        output.message(
            f"{summary['skipped']} of {summary['images']} {noun} could not be read or embedded "
            f"and were skipped: {first}{more}. All are listed in {summary['provenance']}."
        )
    shown = {k: v for k, v in summary.items() if k != "skipped_first"}  # in the message above
    output.record(summary, [("embed", shown)], title=summary["name"])
    if summary["kind"] == "slide" and summary["skipped"]:
        raise SystemExit(1)  # every slide was tried; the failed ones are named above


def _slide_encoder(name: str) -> Any:
    """The manifest of NAME when it is a slide encoder, else ``None``."""
    from zoo.catalog.reader import Catalog
    from zoo.embed.slide_chain import is_slide_encoder

    if name.startswith("timm/"):  # timm's models are image encoders
        return None
    manifest = Catalog().resolve(name)
    return manifest if is_slide_encoder(manifest) else None


def _embed_slides_then_encode(config: Any, output: Output) -> None:
    """``zoo embed <slide encoder> SLIDE...``: OUT/tiles, then OUT/slides (zoo.embed.slide_chain)."""
    from zoo.embed.slide_chain import run_chain

    summary = run_chain(config, _slide_encoder(config.name), report=output.message)
    if summary is None:  # not global rank 0: rank 0 reports
        return
    tiles, slides = summary["tiles"], summary["slides"]
    shown = {k: v for k, v in tiles.items() if k != "skipped_first"}
    output.record(summary, [("tiles", shown), ("slides", slides)], title=slides["name"])
    if tiles["skipped"]:
        raise SystemExit(1)  # every slide was tried; the failed ones are named above


def _embed_bags(
    name: str,
    images: tuple[str, ...],
    out: Path,
    features: Path,
    slide_pool: str | None,
    fmt: str,
    pretrained: bool,
    trust_remote_code: bool,
    accelerator: str,
    check: bool,
    overwrite: bool,
    progress: bool,
    as_json: bool,
    seed: int = 0,
) -> None:
    """``zoo embed NAME --from-features DIR``: one slide embedding per bag (zoo.embed.slide_run)."""
    from zoo.embed.slide_run import SlideConfig, run_slides

    if images:
        raise click.UsageError("--from-features DIR reads the tile features there: give no IMAGES")
    if fmt == "parquet":
        raise click.UsageError("--from-features writes safetensors or h5")
    device = None
    if accelerator in ("gpu", "cuda") or accelerator == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else None
    config = SlideConfig(
        name=name,
        features=features,
        out=out,
        slide_pool=slide_pool,
        fmt=fmt,
        pretrained=pretrained,
        trust_remote_code=trust_remote_code,
        device=device,
        check_pairing=check,
        overwrite=overwrite,
        progress=progress,
        seed=seed,
    )
    output = Output(as_json=as_json)
    summary = run_slides(config, report=output.message)
    output.record(summary, [("embed", summary)], title=summary["name"])
