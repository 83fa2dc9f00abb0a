"""Slide encoders against the patch encoders they name: the catalogue-level ``pairs_with`` check.

A slide encoder (``input.kind: tiles``) was trained on the features of one patch encoder at one
scale. Each name in its ``pairs_with`` must be an entry of the catalogue (its name, not an
alias), a patch encoder (not another slide encoder), whose embedding is as wide as the slide
encoder's ``input.feature_dim``. The pooling is part of the entry: a patch encoder with two
entries (``cls`` and ``cls+mean``) is paired by naming the one whose embedding the slide encoder
was trained on. The scale: where the patch encoder declares ``input.mpp``, its value must equal
the slide encoder's ``input.mpp.value`` (a patch encoder without one is not checked here;
``zoo embed --from-features`` checks the features' own scale), unless the slide encoder's scale is
``stated`` and the patch encoder's only ``inferred``: the slide encoder's authors say at which
scale they ran that patch encoder (MADELEINE: CONCH v1 at 10x), which outranks a scale inferred
for the patch encoder on its own (CONCH v1: 20x, from TRIDENT's default). Two stated scales, or
an inferred slide-encoder scale, must agree. The tile size is not compared
with the patch encoder's ``input.size``: the slide encoder's ``tile_size`` is what is cut from
the slide at ``mpp``, which the patch encoder's preprocessing then resizes to its input size.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo.manifest import Manifest, TilesInputSpec
from zoo.problems import Problem


def _problem(m: Manifest, message: str, code: str) -> Problem:
    return Problem(str(m.file), "pairs_with", message, code=code)


def pairing_problems(manifests: Sequence[Manifest]) -> list[Problem]:
    """Every ``pairs_with`` problem of the manifests, checked against each other."""
    by_name = {m.name: m for m in manifests}
    by_alias = {alias: m for m in manifests for alias in m.aliases}
    problems: list[Problem] = []
    for m in manifests:
        spec = m.input
        if not isinstance(spec, TilesInputSpec):
            continue
        for name in m.pairs_with:
            patch = by_name.get(name)
            if patch is None:
                if name in by_alias:
                    message = f"{name!r} is an alias of {by_alias[name].name}: name the entry"
                else:
                    message = f"no entry named {name!r}"
                problems.append(_problem(m, message, "unknown_reference"))
                continue
            if isinstance(patch.input, TilesInputSpec):
                problems.append(
                    _problem(
                        m,
                        f"{name} is a slide encoder too: pairs_with names the patch encoders whose "
                        "tile features it takes",
                        "pairing",
                    )
                )
                continue
            width = patch.output.embedding_dim
            if width != spec.feature_dim:
                problems.append(
                    _problem(
                        m,
                        f"{name} returns {width}-d embeddings ({patch.output.pooling} pooling) but "
                        f"input.feature_dim is {spec.feature_dim}: name the entry whose embedding "
                        "the slide encoder was trained on",
                        "pairing",
                    )
                )
            mpp = getattr(patch.input, "mpp", None)
            outranked = mpp is not None and mpp.basis == "inferred" and spec.mpp.basis == "stated"
            if mpp is not None and mpp.value != spec.mpp.value and not outranked:
                problems.append(
                    _problem(
                        m,
                        f"{name} was trained at {mpp.value:g} mpp (its input.mpp) but this slide "
                        f"encoder takes tiles at {spec.mpp.value:g} mpp (input.mpp)",
                        "pairing",
                    )
                )
    return problems
