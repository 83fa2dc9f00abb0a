"""TANGLE v2 (``pathology/mahmood_tangle``): zoo's build against the authors' computation, on their
checkpoint layout served as the entry's own URL.

Random weights are saved as the authors' training script saves them (the whole ``MMSSL`` state
dict, expression branch included, bfloat16, ``module.`` prefixes, file
``tangle_pancancer_model.pt``); the catalogue entry as written (its URL, ``remap``, format) loads
the file from a local mirror, and the authors' ``restore_model`` + ``get_features``, re-expressed
in zoo/verify/recipes/_ref_tangle.py, loads the same file. Both must agree on random bags
(float32, max relative difference 1e-5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import zoo
from tests.loading.loading_kit import Kit
from zoo.errors import ArgumentError, CheckpointMismatchError, TilesError
from zoo.manifest import Manifest
from zoo.verify.recipes._ref_tangle import TangleReference, restore, save_released
from zoo.weights.pull import files_pulled, write_mirror
from zoo.weights.sources import source_of
from zoo.weights.transport.integrity import file_sha256

NAME = "pathology/mahmood_tangle"
FILE = "tangle_pancancer_model.pt"
#: A stand-in gene count for a reconstruction head (its size is never read).
GENES_SMALL = 7


def _served(tmp: Path, weights: Path) -> tuple[Manifest, Path]:
    """The catalogue entry with the file's sha256, and a mirror serving the file for its URL."""
    entry = zoo.Catalog().get(NAME)
    assert entry.checkpoint is not None
    ckpt = entry.checkpoint.model_copy(update={"sha256": file_sha256(weights)})
    manifest = entry.model_copy(update={"checkpoint": ckpt})
    source = source_of(manifest)
    assert source is not None
    mirror = tmp / "mirror"
    write_mirror(files_pulled(manifest, source, weights), mirror)
    return manifest, mirror


def _load(tmp: Path, weights: Path) -> Any:
    manifest, mirror = _served(tmp, weights)
    return zoo.load(manifest, mirror=mirror, device="cpu", dtype="float32")


@pytest.mark.parametrize("data_parallel", [True, False], ids=["dataparallel", "one-gpu"])
def test_tangle_matches_the_authors_on_their_released_layout(
    tmp_path: Path, data_parallel: bool
) -> None:
    weights = tmp_path / FILE
    save_released(TangleReference().randomize(seed=4), weights, data_parallel=data_parallel)
    theirs = restore(weights)
    model = _load(tmp_path, weights)
    gen = torch.Generator().manual_seed(11)
    bags = torch.randn(2, 53, 1024, generator=gen)
    with torch.no_grad():
        ours = model(bags)
        want = theirs.get_features(bags)
    assert ours.shape == (2, 512)
    assert ours.dtype == torch.float32
    rel = ((ours - want).abs().max() / want.abs().max()).item()
    assert rel <= 1e-5, rel
    # strict: every parameter is the file's (bfloat16 values, now float32), none left random
    loaded = model.backbone.state_dict()
    assert len(loaded) == len(theirs.wsi_embedder.state_dict())
    for key, value in theirs.wsi_embedder.state_dict().items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_one_slide_alone_gives_its_row_of_the_batch(tmp_path: Path) -> None:
    """Each slide's softmax runs over its own tiles only: a slide embedded alone is its row."""
    weights = tmp_path / FILE
    save_released(TangleReference().randomize(seed=5), weights)
    model = _load(tmp_path, weights)
    bags = torch.randn(3, 20, 1024, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        batch = model(bags)
        alone = model(bags[1:2])
    torch.testing.assert_close(alone[0], batch[1])


def test_a_two_head_checkpoint_is_refused_not_misread(tmp_path: Path) -> None:
    """The launch script's ``--n_heads 2``: the shapes differ, the load stops with their names."""
    weights = tmp_path / FILE
    save_released(TangleReference(heads=2).randomize(seed=6), weights)
    with pytest.raises(CheckpointMismatchError, match=r"pre_attn\.8\.weight"):
        _load(tmp_path, weights)


def test_a_checkpoint_without_a_head_is_refused(tmp_path: Path) -> None:
    weights = tmp_path / FILE
    save_released(TangleReference().randomize(seed=7), weights)
    state = torch.load(weights, weights_only=True)
    del state["module.wsi_embedder.attn.3.attention_c.weight"]
    torch.save(state, weights)
    with pytest.raises(CheckpointMismatchError, match=r"attn\.3\.attention_c\.weight"):
        _load(tmp_path, weights)


def test_a_checkpoint_with_another_branch_is_refused(tmp_path: Path) -> None:
    """``remap`` drops only the expression encoder and the mean projector: a TANGLE-Rec file
    (its ``rna_reconstruction`` head) is not this entry's, and is refused by name."""
    weights = tmp_path / FILE
    save_released(TangleReference().randomize(seed=8), weights)
    state = torch.load(weights, weights_only=True)
    state["module.rna_reconstruction.weight"] = torch.zeros(GENES_SMALL, 512)
    torch.save(state, weights)
    with pytest.raises(CheckpointMismatchError, match="rna_reconstruction"):
        _load(tmp_path, weights)


def test_features_of_another_width_are_refused(tmp_path: Path) -> None:
    weights = tmp_path / FILE
    save_released(TangleReference().randomize(seed=9), weights)
    model = _load(tmp_path, weights)
    with pytest.raises(TilesError, match="768-d"):
        model(torch.randn(1, 5, 768))  # CONCH features, not UNI's


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"heads": 1}, "heads must be an integer of at least 2, got 1"),
        ({"dim": 0}, "dim must be an integer of at least 1, got 0"),
        ({"in_dim": True}, "in_dim must be an integer of at least 1, got True"),
        ({"heads": 2.5}, "heads must be an integer of at least 2, got 2.5"),
    ],
)
def test_bad_arguments_are_one_clear_error(
    kit: Kit, arguments: dict[str, Any], message: str
) -> None:
    data = zoo.Catalog().get(NAME).model_dump(mode="json", exclude_defaults=True)
    data["wrapper"]["arguments"].update(arguments)
    with pytest.raises(ArgumentError, match=f"{NAME}: zoo.nn.slide.tangle rejects.*{message}"):
        kit.load(data, pretrained=False)


def test_the_released_architecture_runs_on_meta() -> None:
    """``zoo validate --build`` runs it on the meta device: shapes only."""
    from zoo.nn.slide import tangle

    with torch.device("meta"):
        model = tangle()
    got = model(torch.empty(2, 16, 1024, device="meta"))
    assert got.shape == (2, 512)
    assert got.device.type == "meta"
