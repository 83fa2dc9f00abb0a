"""`zoo load`: build a model, run one forward pass, print a summary."""

from __future__ import annotations

import time
from pathlib import Path

import click

from zoo.cli._output import Output, human_count
from zoo.cli._params import DtypeParam


def _sizes(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.replace("x", ",").split(",") if p.strip()]
    if len(parts) not in (1, 2) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(
            "give one size (224) or height,width (224,320)", param_hint="--input-size"
        )
    h = int(parts[0])
    return h, int(parts[-1])


@click.command("load")
@click.argument("name")
@click.option(
    "--out-indices", help="Feature maps instead of the embedding: 2 (last two blocks) or -2,-4."
)
@click.option("--input-size", help="Input size: 224 or height,width (default: the manifest's).")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Batch size of the test input.",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu).")
@click.option(
    "--dtype",
    type=DtypeParam(),
    default=None,
    help="float32, bfloat16 (bf16) or float16 (fp16, half); default: the manifest's.",
)
@click.option("--random-init", is_flag=True, help="Random weights: do not load the checkpoint.")
@click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Allow code from the model's repository, where the manifest declares it.",
)
@click.option(
    "--mirror",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Read the weights from this mirror (made by `zoo pull --to`), without network.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def load_command(
    name: str,
    out_indices: str | None,
    input_size: str | None,
    batch: int,
    device: str | None,
    dtype: str | None,
    random_init: bool,
    trust_remote_code: bool,
    mirror: Path | None,
    as_json: bool,
) -> None:
    """Build NAME, run one forward pass on a random input, and print a summary."""
    from zoo.loading.api import load
    from zoo.loading.indices import parse_out_indices
    from zoo.manifest import TilesInputSpec, VolumeInputSpec

    out = Output(as_json=as_json)
    indices = parse_out_indices(out_indices)
    size = _sizes(input_size)
    import torch

    start = time.perf_counter()
    model = load(
        name,
        out_indices=indices,
        pretrained=not random_init,
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        mirror=mirror,
    )
    build_seconds = time.perf_counter() - start
    manifest = model.manifest
    if isinstance(manifest.input, VolumeInputSpec):
        if size:
            raise click.BadParameter(
                f"an image's height,width; {manifest.name} takes volumes of "
                f"{list(manifest.input.size)} [D, H, W]",
                param_hint="--input-size",
            )
        shape: tuple[int, ...] = manifest.input.size
    elif isinstance(manifest.input, TilesInputSpec):
        shape = ()
    else:
        shape = size or manifest.input.size
    start = time.perf_counter()
    if isinstance(manifest.input, TilesInputSpec):  # a slide encoder: a random bag of tiles
        from zoo.loading.tiles import check_bag_for_build

        bag = check_bag_for_build(manifest, str(device or "cpu"), batch)
        x = bag["features"]
        with torch.inference_mode():
            result = model(**bag)
    else:
        x = torch.randn(batch, manifest.input.in_chans, *shape, device=device)
        with torch.inference_mode():
            result = model(x)
    forward_seconds = time.perf_counter() - start
    parameters = sum(p.numel() for p in model.parameters())
    data: dict[str, object] = {
        "name": manifest.name,
        "parameters": parameters,
        "pretrained": not random_init and manifest.checkpoint is not None,
        "dtype": str(model.dtype).removeprefix("torch."),
        "input_shape": list(x.shape),
        "build_seconds": round(build_seconds, 4),
        "forward_seconds": round(forward_seconds, 4),
    }
    if indices is None:
        data["embedding_shape"] = list(result.shape) if isinstance(result, torch.Tensor) else None
    else:
        data["feature_shapes"] = [list(t.shape) for t in result]
    if as_json:
        out.json(data)
        return
    shown = {**data, "parameters": human_count(parameters)}
    out.record(data, [("summary", shown)], title=manifest.name)
