"""MADELEINE: zoo's build against the authors' computation on their released checkpoint layout.

Random weights are written as the authors' ``model.pt`` (a pickled ``nn.DataParallel`` state
dict: ``module.`` keys, ``token_projector`` included) into a Hugging Face cache at the revision
the catalogue pins, loaded by ``zoo.load`` through the catalogue's own manifest (offline, only the
sha256 swapped for the random file's), and compared with the re-expression of ``encode_he`` in
zoo/verify/recipes/_ref_madeleine.py, which reads the same file the authors' way.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
import torch

import zoo
from tests.loading import conftest as loading_fixtures
from tests.loading.loading_kit import HfCache, Kit
from zoo.errors import CheckpointMismatchError, TilesError
from zoo.nn.slide import Madeleine, madeleine
from zoo.verify.recipes._ref_madeleine import authors_state_dict, encode_he, released_layout

#: The loading tests' Hugging Face cache in tmp_path (HF_HUB_CACHE pointed at it).
hf_cache = loading_fixtures.hf_cache

NAME = "pathology/mahmood_madeleine"
#: The released architecture (the authors' defaults and launch scripts): CONCH v1's 512-d
#: features, width 512, four heads.
IN_DIM, DIM, HEADS = 512, 512, 4


def _random_file(layout: dict[str, tuple[int, ...]], seed: int = 5) -> tuple[dict[str, Any], bytes]:
    gen = torch.Generator().manual_seed(seed)
    state = {key: torch.randn(shape, generator=gen) * 0.05 for key, shape in layout.items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)  # torch.save(ssl_model.state_dict(), "model.pt"), as they did
    return state, buffer.getvalue()


def _entry_from_cache(
    cache: HfCache, monkeypatch: pytest.MonkeyPatch, data: bytes, **changes: Any
) -> dict[str, Any]:
    """The catalogue's manifest, its file served from the Hub cache at the pinned revision."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = zoo.Catalog().get(NAME).model_dump(mode="json", exclude_defaults=True)
    hf = entry["checkpoint"]["hf"]
    cache.add(hf["repo"], {hf["filename"]: data}, commit=hf["revision"])
    entry["checkpoint"]["sha256"] = hashlib.sha256(data).hexdigest()
    entry.update(changes)
    return entry


def test_madeleine_matches_the_authors_on_the_released_layout(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved, data = _random_file(released_layout(IN_DIM, DIM, HEADS))
    model = kit.load(_entry_from_cache(hf_cache, monkeypatch, data))
    gen = torch.Generator().manual_seed(11)
    feats = torch.randn(2, 53, IN_DIM, generator=gen)
    with torch.no_grad():
        ours = model(feats)
    want = encode_he(authors_state_dict(saved), feats, HEADS)
    assert ours.shape == (2, 512)
    assert ours.dtype == torch.float32
    rel = ((ours - want).abs().max() / want.abs().max()).item()
    assert rel <= 1e-5, rel
    # strict: every weight the H&E path uses is the file's; the token head is not in the module
    loaded = model.backbone.state_dict()
    assert "token_projector.weight" not in loaded
    assert len(loaded) == len(saved) - 2
    torch.testing.assert_close(loaded["projector.weight"], saved["module.projector.weight"])
    torch.testing.assert_close(
        loaded["wsi_embedders.attn.3.attention_c.bias"],
        saved["module.wsi_embedders.attn.3.attention_c.bias"],
    )


def test_a_one_tile_bag_and_a_bag_alone_give_the_authors_embedding(kit: Kit) -> None:
    """The bag's size does not enter the computation but through the softmax over its tiles."""
    saved, data = _random_file(released_layout(16, 8, HEADS), seed=2)
    path = kit.tmp / "model.pt"
    path.write_bytes(data)
    model = madeleine(16, 8, HEADS).eval()
    state = {k.removeprefix("module."): v for k, v in saved.items()}
    state.pop("token_projector.weight"), state.pop("token_projector.bias")
    model.load_state_dict(state, strict=True)
    gen = torch.Generator().manual_seed(4)
    for count in (1, 7):
        feats = torch.randn(1, count, 16, generator=gen)
        with torch.no_grad():
            ours = model(feats)
        want = encode_he(authors_state_dict(torch.load(path, weights_only=True)), feats, HEADS)
        torch.testing.assert_close(ours, want, rtol=1e-5, atol=1e-6)


def test_a_file_saved_without_the_dataparallel_prefix_loads_too(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The authors' loader takes both forms; so does the manifest (strip_prefix leaves others)."""
    layout = {k.removeprefix("module."): s for k, s in released_layout(IN_DIM, DIM, HEADS).items()}
    saved, data = _random_file(layout, seed=8)
    model = kit.load(_entry_from_cache(hf_cache, monkeypatch, data))
    feats = torch.randn(1, 9, IN_DIM, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = model(feats)
    torch.testing.assert_close(ours, encode_he(saved, feats, HEADS), rtol=1e-5, atol=1e-6)


def test_a_checkpoint_with_another_head_count_is_refused_naming_the_keys(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Had the Hub's model_config.json another ``n_heads``, the strict load says so: nothing
    is left random."""
    _, data = _random_file(released_layout(IN_DIM, DIM, 2), seed=9)
    with pytest.raises(CheckpointMismatchError) as caught:
        kit.load(_entry_from_cache(hf_cache, monkeypatch, data))
    message = str(caught.value)
    assert "wsi_embedders.attn.2.attention_a.0.weight" in message
    assert "projector.weight" in message


def test_a_bag_of_another_encoders_features_is_a_one_line_error(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, data = _random_file(released_layout(IN_DIM, DIM, HEADS))
    model = kit.load(_entry_from_cache(hf_cache, monkeypatch, data))
    with pytest.raises(TilesError, match=r"tile features are 768-d, but it takes 512-d"):
        model(torch.randn(1, 5, 768))
    with pytest.raises(TilesError, match=r"pathology/mahmood_conch"):
        model(torch.randn(1, 5, 1024))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"heads": 0}, "heads must be 1 or more, got 0"),
        ({"dim": -4}, "dim must be 1 or more, got -4"),
        ({"in_dim": 0}, "in_dim must be 1 or more, got 0"),
    ],
)
def test_impossible_arguments_are_refused(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        madeleine(**arguments)


def test_madeleine_runs_on_meta() -> None:
    with torch.device("meta"):
        model = madeleine()
    assert isinstance(model, Madeleine)
    got = model(torch.empty(2, 16, IN_DIM, device="meta"))
    assert got.shape == (2, 512)
    assert got.device.type == "meta"
