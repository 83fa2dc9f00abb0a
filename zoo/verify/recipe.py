"""Reference recipes: the authors' own way to build, feed and read each catalogue entry.

A :class:`Recipe` is written from the authors' usage code (the model card's snippet, their
repository, or the toolkit they point to), never from the manifest: it must not read it. It
says how the authors build the network (their library call with their arguments), how they
preprocess a PIL image, which tensor they call the embedding, and how their released weights
file is laid out (file name, format, key names). :mod:`zoo.verify.run` runs an entry through
``zoo.load`` and through its recipe on the same images and compares.

Recipes live in :mod:`zoo.verify.recipes` (one module per family of entries), registered with
:func:`register`; an entry whose authors' computation cannot be reproduced is registered with
:func:`gap` and its reason. Importing a recipe module must not import torch: every library is
imported inside the recipe's functions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zoo.errors import UsageError

#: ``package``: the recipe calls the authors' own library from the package index (timm,
#: open_clip, transformers, MONAI...) with the authors' arguments. ``re-expression``: the
#: authors' code is Hub remote code or unpublished; the recipe re-expresses their computation
#: in this project's own code, written from reading theirs (never copied).
How = Literal["package", "re-expression"]

#: The default tolerance: the largest difference of the embeddings, relative to the largest
#: absolute value of the recipe's embedding, in float32.
TOLERANCE = 1e-5


def no_image(image: Any) -> Any:
    """The ``preprocess`` of a recipe that embeds a random volume or bag, which has no images."""
    raise TypeError(
        "this recipe embeds a random volume or bag of tile features (Recipe.volume, Recipe.bag), "
        "not an image"
    )


@dataclass(frozen=True)
class Recipe:
    """How the authors build, preprocess and read one or more catalogue entries.

    Attributes:
        names: The catalogue entries this recipe reproduces (the same network and weights file;
            entries that differ in the embedding they return get their own recipe).
        source: Where the authors' code is: URL and commit (or Hub revision), and the file.
        how: ``package`` or ``re-expression`` (see :data:`How`).
        build: ``build(reduced)``: the authors' network with random weights, in eval mode;
            ``reduced=True`` builds the reduced network (fewer blocks) that ``reduce`` asks
            ``zoo.load`` for, the same way.
        preprocess: A PIL image in, the ``[C, H, W]`` float tensor the authors feed.
        embed: ``embed(net, batch)``: the authors' embedding ``[B, D]`` of a ``[B, C, H, W]`` batch.
        filename: The released weights file's name (or ``""`` for a folder: a transformers
            repository written by ``save``).
        save: ``save(net, path)``: write the network's weights at ``path`` in the released
            layout (format, key names, prefixes, wrapping dict).
        load: ``load(net, path)``: the authors' way to load the released file (for ``zoo verify``
            with the real weights); default: the inverse of ``save``.
        reduce: The ``zoo.load`` keyword arguments that build the reduced network.
        reduced_levels: How many blocks (``output.feature_levels``) the reduced network has.
        tolerance: The largest relative difference allowed on the embedding.
        note: A documented difference that cannot be avoided, or anything a reader should know.
        volume: For a volume encoder, the ``(C, D, H, W)`` size of the deterministic random volume
            both sides embed instead of the bundled images (``preprocess`` is then not used and
            the preprocessing is not compared).
        bag: For a slide encoder (``input.kind: tiles``), the ``(tiles, feature width)`` of the
            deterministic random bag both sides embed (with level-0 coordinates on a grid of
            :data:`~zoo.verify.run.BAG_TILE` pixels); ``embed(net, (features, coords))``.
    """

    names: tuple[str, ...]
    source: str
    how: How
    build: Callable[[bool], Any]
    preprocess: Callable[[Any], Any]
    embed: Callable[[Any, Any], Any]
    filename: str
    save: Callable[[Any, Path], None]
    load: Callable[[Any, Path], None] | None = None
    reduce: Mapping[str, Any] = field(default_factory=dict)
    reduced_levels: int = 2
    tolerance: float = TOLERANCE
    note: str = ""
    volume: tuple[int, ...] | None = None
    bag: tuple[int, int] | None = None


@dataclass(frozen=True)
class Gap:
    """An entry without a recipe, and why."""

    name: str
    reason: str


_RECIPES: dict[str, Recipe] = {}
_GAPS: dict[str, Gap] = {}
_LOADED = False


def register(recipe: Recipe) -> Recipe:
    """Add a recipe for its entries (one recipe per entry)."""
    for name in recipe.names:
        if name in _RECIPES or name in _GAPS:
            raise ValueError(f"{name} has two recipes")
        _RECIPES[name] = recipe
    return recipe


def gap(name: str, reason: str) -> Gap:
    """Declare that an entry has no recipe, with the reason a reviewer can check."""
    if name in _RECIPES or name in _GAPS:
        raise ValueError(f"{name} has a recipe and a gap")
    _GAPS[name] = found = Gap(name, reason)
    return found


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    from zoo.verify import recipes

    for info in pkgutil.iter_modules(recipes.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{recipes.__name__}.{info.name}")
    _LOADED = True


def recipes() -> dict[str, Recipe]:
    """Every registered recipe, by entry name."""
    _load_all()
    return dict(_RECIPES)


def gaps() -> dict[str, Gap]:
    """Every declared gap, by entry name."""
    _load_all()
    return dict(_GAPS)


def recipe_for(name: str) -> Recipe:
    """The recipe of an entry.

    Raises:
        UsageError: The entry has none (the message gives the gap's reason when one is declared).
    """
    found = recipes().get(name)
    if found is not None:
        return found
    missing = gaps().get(name)
    if missing is not None:
        raise UsageError(f"{name} has no reference recipe: {missing.reason}")
    raise UsageError(
        f"{name} has no reference recipe yet; add one in zoo/verify/recipes/ (CONTRIBUTING.md: "
        "'A reference recipe')"
    )
