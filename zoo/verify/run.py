"""Run an entry through ``zoo.load`` and through its reference recipe, and compare.

With the real weights (:func:`verify` with ``random_weights=False``) zoo loads the entry as a
user would (cache or mirror) and the recipe loads the same file the authors' way. With random
weights (the CI mode) the recipe builds the authors' network (reduced when the recipe says how),
every parameter is perturbed so that nothing is left at a symmetric initial value, the weights
are written in the authors' released layout under the released file name, and served to
``zoo.load`` from a local mirror (``zoo pull --to``'s layout): the checkpoint's file name,
``checkpoint.key``, ``remap`` and ``strict`` are exercised as with the real file. Only the
manifest's sha256 is replaced by the random file's.

Both sides run in float32 on the CPU, on the same images (:mod:`zoo.verify.images`): the
preprocessed tensors are compared, then the embeddings of zoo's tensor by zoo and of the
recipe's tensor by the recipe. A volume encoder embeds one random volume and a slide encoder
one random bag of tile features (with coordinates), the same tensor on both sides.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zoo.catalog.reader import Catalog
from zoo.errors import UsageError
from zoo.manifest import Manifest
from zoo.verify.images import Image, bundled_images
from zoo.verify.recipe import Recipe, recipe_for
from zoo.weights.pull import files_pulled, write_mirror
from zoo.weights.sources import source_of
from zoo.weights.transport.integrity import file_sha256

#: The seed of the random weights and of the perturbation.
SEED = 0
#: Every parameter gets this much Gaussian noise on top of its initial value.
NOISE = 0.02
#: The level-0 size of a random bag's tiles (their coordinates are a grid of this step).
BAG_TILE = 512


@dataclass
class Comparison:
    """One image: the largest differences between zoo and the recipe."""

    image: str
    input_shape: tuple[int, ...]
    input_diff: float | None
    """Largest absolute difference of the preprocessed tensors (``None``: shapes differ)."""
    embedding_diff: float | None
    """Largest absolute difference of the embeddings, relative to the recipe's largest value."""
    shapes: str = ""


@dataclass
class Result:
    """What :func:`verify` found for one entry."""

    name: str
    source: str
    how: str
    mode: str
    tolerance: float
    comparisons: list[Comparison] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        """Every image matches: same tensors, embeddings within the tolerance."""
        return bool(self.comparisons) and all(
            c.input_diff is not None
            and c.input_diff <= self.tolerance
            and c.embedding_diff is not None
            and c.embedding_diff <= self.tolerance
            for c in self.comparisons
        )

    def row(self) -> dict[str, Any]:
        """A plain dict for tables and JSON."""
        return {
            "name": self.name,
            "ok": self.ok,
            "mode": self.mode,
            "source": self.source,
            "how": self.how,
            "tolerance": self.tolerance,
            "note": self.note,
            "images": [c.__dict__ for c in self.comparisons],
        }


def _relative(a: torch.Tensor, b: torch.Tensor) -> float | None:
    if a.shape != b.shape:
        return None
    scale = float(b.abs().max()) or 1.0
    return float((a - b).abs().max()) / scale


def perturb(net: Any, seed: int = SEED) -> None:
    """Add :data:`NOISE` to every floating parameter (buffers such as batch-norm statistics are
    left as built), deterministically."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.is_floating_point():
                p.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * NOISE)


def _random_manifest(
    manifest: Manifest, weights: Path, mirror: Path, levels: int | None
) -> Manifest:
    """The manifest with the random file's sha256, and a mirror at ``mirror`` serving the file.

    A reduced network has fewer blocks than the manifest's ``output.feature_levels`` says: that
    one number is the recipe's ``reduced_levels`` (everything else of the contract is checked).
    """
    assert manifest.checkpoint is not None
    sha = file_sha256(weights) if weights.is_file() else None
    # The random file's sha256 replaces the declared one; a declared md5 (some authors publish
    # only that) is of the real file, so it goes.
    ckpt = manifest.checkpoint.model_copy(update={"sha256": sha, "md5": None})
    update: dict[str, Any] = {"checkpoint": ckpt}
    if levels is not None:
        update["output"] = manifest.output.model_copy(update={"feature_levels": levels})
    random = manifest.model_copy(update=update)
    source = source_of(random)
    assert source is not None
    write_mirror(files_pulled(random, source, weights), mirror)
    return random


def _load_zoo(
    manifest: Manifest,
    recipe: Recipe,
    mirror: Path | None,
    random_weights: bool,
    trust_remote_code: bool = False,
) -> Any:
    from zoo.loading.api import load

    overrides = dict(recipe.reduce) if random_weights else {}
    if trust_remote_code:
        overrides["trust_remote_code"] = True
    return load(manifest, mirror=mirror, dtype="float32", device="cpu", **overrides)


def _compare_volume(model: Any, net: Any, recipe: Recipe) -> Comparison:
    """A volume encoder on one deterministic random volume of the recipe's size (the same tensor
    to both sides: the input difference is zero by construction, preprocessing not compared)."""
    assert recipe.volume is not None
    generator = torch.Generator().manual_seed(SEED)
    x = torch.rand((1, *recipe.volume), generator=generator)
    with torch.no_grad():
        a = model(x).float()
        b = recipe.embed(net, x).float()
    shapes = "" if a.shape == b.shape else f"zoo {tuple(a.shape)}, recipe {tuple(b.shape)}"
    size = "x".join(str(n) for n in recipe.volume)
    return Comparison(f"random volume {size}", tuple(recipe.volume), 0.0, _relative(a, b), shapes)


def _compare_bag(model: Any, net: Any, recipe: Recipe) -> Comparison:
    """A slide encoder on one deterministic random bag of tile features, with level-0
    coordinates on a square grid (the same tensors to both sides: no preprocessing)."""
    assert recipe.bag is not None
    tiles, width = recipe.bag
    generator = torch.Generator().manual_seed(SEED)
    features = torch.randn((1, tiles, width), generator=generator)
    side = max(1, int(tiles**0.5))
    steps = torch.arange(tiles)
    coords = torch.stack((steps % side, steps // side), dim=-1)[None].float() * BAG_TILE
    with torch.no_grad():
        a = model(features, coords, patch_size_level0=BAG_TILE).float()
        b = recipe.embed(net, (features, coords)).float()
    shapes = "" if a.shape == b.shape else f"zoo {tuple(a.shape)}, recipe {tuple(b.shape)}"
    return Comparison(f"random bag {tiles}x{width}", (tiles, width), 0.0, _relative(a, b), shapes)


def _compare(model: Any, net: Any, recipe: Recipe, images: list[Image]) -> list[Comparison]:
    if recipe.volume is not None:
        return [_compare_volume(model, net, recipe)]
    if recipe.bag is not None:
        return [_compare_bag(model, net, recipe)]
    found = []
    with torch.no_grad():
        for image in images:
            ours = model.preprocess(image.pil())
            theirs = recipe.preprocess(image.pil())
            input_diff = float((ours - theirs).abs().max()) if ours.shape == theirs.shape else None
            a = model(ours.unsqueeze(0)).float()
            b = recipe.embed(net, theirs.unsqueeze(0)).float()
            found.append(
                Comparison(
                    image.name,
                    tuple(ours.shape),
                    input_diff,
                    _relative(a, b),
                    ""
                    if a.shape == b.shape and input_diff is not None
                    else f"zoo input {tuple(ours.shape)} embedding {tuple(a.shape)}; recipe input "
                    f"{tuple(theirs.shape)} embedding {tuple(b.shape)}",
                )
            )
    return found


def verify(
    name: str,
    *,
    random_weights: bool = False,
    images: Path | None = None,
    mirror: Path | None = None,
    catalog: Catalog | None = None,
    trust_remote_code: bool = False,
) -> Result:
    """Compare an entry with its recipe (see the module docstring).

    ``trust_remote_code`` is passed to ``zoo.load`` for an entry that declares repository code.

    Raises:
        UsageError: The entry has no recipe (the gap's reason), or no weights to compare.
        WeightsNotAvailableError: Real-weights mode without the weights here or reachable.
    """
    catalog = catalog or Catalog()
    manifest = catalog.get(name)
    recipe = recipe_for(manifest.name)
    if manifest.checkpoint is None:
        raise UsageError(f"{manifest.name} has no weights to verify (random initialization)")
    shown = bundled_images() if images is None else bundled_images(images)
    result = Result(
        manifest.name,
        recipe.source,
        recipe.how,
        "random-weights" if random_weights else "weights",
        recipe.tolerance,
        note=recipe.note,
    )
    torch.manual_seed(SEED)
    net = recipe.build(random_weights)
    if random_weights:
        perturb(net)
        with tempfile.TemporaryDirectory(prefix="zoo-verify-") as tmp:
            released = Path(tmp, "released")
            released.mkdir()
            weights = released / recipe.filename if recipe.filename else released
            recipe.save(net, weights)
            served = _random_manifest(
                manifest,
                weights,
                Path(tmp, "mirror"),
                recipe.reduced_levels if recipe.reduce else None,
            )
            model = _load_zoo(served, recipe, Path(tmp, "mirror"), True)
    else:
        model = _load_zoo(manifest, recipe, mirror, False, trust_remote_code)
        source = source_of(manifest)
        assert source is not None
        from zoo.weights.transport.mirror import use_mirror

        with use_mirror(mirror):
            path = source.fetch()
        loader = recipe.load
        if loader is None:
            raise UsageError(f"{manifest.name}: its recipe has no way to load the released file")
        loader(net, path / recipe.filename if path.is_dir() and recipe.filename else path)
    net.eval()
    result.comparisons = _compare(model, net, recipe, shown)
    return result
