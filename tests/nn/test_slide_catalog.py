"""The four transformer-style slide encoders through ``zoo.load``: each catalogue entry as written
(``checkpoint.key``, ``remap``, format, ``input``), its architecture shrunk in
``wrapper.arguments`` and its checkpoint a local file written in the authors' layout from the
references in zoo/verify/recipes/_ref_{titan,gigapath,prism,moozy}.py with random weights; the loaded model must return what the
reference computes (float32, max relative difference 1e-5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

import zoo
from tests.loading.loading_kit import Kit
from zoo.errors import TilesError
from zoo.verify.recipes._ref_gigapath import GigaPathReference
from zoo.verify.recipes._ref_moozy import MoozyReference
from zoo.verify.recipes._ref_prism import PrismReference, without_shared_duplicates
from zoo.verify.recipes._ref_titan import TitanReference


def _entry(
    name: str, path: Path, arguments: dict[str, Any], width: int, dim: int
) -> dict[str, Any]:
    data = zoo.Catalog().get(name).model_dump(mode="json", exclude_defaults=True)
    data["wrapper"]["arguments"] = arguments
    data["input"]["feature_dim"] = width
    data["output"]["embedding_dim"] = dim
    data["checkpoint"].pop("hf")
    data["checkpoint"].pop("sha256", None)
    data["checkpoint"]["path"] = str(path)
    data.pop("known_gaps", None)
    return data


def _titan(tmp: Path) -> tuple[dict[str, Any], Callable[..., torch.Tensor], int]:
    torch.manual_seed(0)
    ref = TitanReference(16, 24, 2, 12, 8, 5).eval()
    save_file(
        {k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp / "model.safetensors")
    )
    args = {
        "in_dim": 16,
        "embed_dim": 24,
        "depth": 2,
        "num_heads": 12,
        "pool_heads": 8,
        "pool_queries": 5,
    }
    data = _entry("pathology/mahmood_titan", tmp / "model.safetensors", args, 16, 24)
    return (
        data,
        lambda f, c, s: torch.cat([ref(f[i : i + 1], c[i : i + 1], s) for i in range(len(f))]),
        16,
    )


def _gigapath(tmp: Path) -> tuple[dict[str, Any], Callable[..., torch.Tensor], int]:
    torch.manual_seed(0)
    segments, ratios = (6, 10, 20, 37, 200), (1, 2, 4, 8, 16)
    ref = GigaPathReference(12, 32, 2, 16, 40, 512, segments, ratios).eval()
    torch.save({"model": ref.state_dict()}, tmp / "slide_encoder.pth")
    args = {
        "in_dim": 12,
        "embed_dim": 32,
        "depth": 2,
        "num_heads": 16,
        "slide_ngrids": 40,
        "segment_lengths": list(segments),
        "dilated_ratios": list(ratios),
        "global_pool": True,
        "layer": 2,
    }
    data = _entry("pathology/prov_gigapath_slide", tmp / "slide_encoder.pth", args, 12, 32)
    return data, lambda f, c, s: ref(f, c)[-1], 12


def _prism(tmp: Path) -> tuple[dict[str, Any], Callable[..., torch.Tensor], int]:
    torch.manual_seed(0)
    ref = PrismReference(20, 16, 6, 8, 2, 8).eval()
    save_file(without_shared_duplicates(ref.state_dict()), str(tmp / "model.safetensors"))
    args = {"context_dim": 20, "latent_dim": 16, "latent_seq": 6, "transformer_depth": 2}
    data = _entry("pathology/paige_prism", tmp / "model.safetensors", args, 20, 16)
    return data, lambda f, c, s: ref(f), 20


def _moozy(tmp: Path) -> tuple[dict[str, Any], Callable[..., torch.Tensor], int]:
    torch.manual_seed(0)
    ref = MoozyReference(12, 24, 12, 2, 48, 4).eval()
    torch.save(
        {"teacher_slide_encoder": ref.state_dict(), "slide_encoder_config": {"n_layers": 2}},
        tmp / "moozy.pt",
    )
    args = {"feat_dim": 12, "d_model": 24, "n_heads": 12, "n_layers": 2, "dim_feedforward": 48}
    data = _entry("pathology/moozy_slide", tmp / "moozy.pt", args, 12, 24)
    return data, lambda f, c, s: ref(f, c, s), 12


@pytest.mark.parametrize("build", [_titan, _gigapath, _prism, _moozy], ids=lambda b: b.__name__[1:])
def test_the_catalogue_entry_loads_the_authors_layout_strictly(
    kit: Kit, build: Callable[[Path], tuple[dict[str, Any], Callable[..., torch.Tensor], int]]
) -> None:
    data, reference, width = build(kit.tmp)
    model = kit.load(data)
    g = torch.Generator().manual_seed(5)
    cells = torch.randperm(30 * 30, generator=g)[:33]
    coords = torch.stack([cells // 30, cells % 30], dim=1) * 512 + 100
    features = torch.randn(2, 33, width, generator=g)
    coords = torch.stack([coords, coords.flip(0)])
    with torch.no_grad():
        got = model(features, coords=coords, patch_size_level0=512)
        want = reference(features, coords, 512)
    assert got.dtype == torch.float32
    assert got.shape == want.shape
    assert ((got - want).abs().max() / want.abs().max()).item() <= 1e-5


def test_a_checkpoint_missing_a_shared_layer_is_refused(kit: Kit) -> None:
    """PRISM's drop patterns remove repeated names only: without layer 1's own cross-attention
    the load is refused, not left random."""
    data, _, _ = _prism(kit.tmp)
    state = without_shared_duplicates(PrismReference(20, 16, 6, 8, 2, 8).state_dict())
    state = {k: v for k, v in state.items() if ".layers.1.xattn." not in k}
    save_file(state, str(kit.tmp / "model.safetensors"))
    with pytest.raises(Exception, match=r"layers\.1\.xattn"):
        kit.load(data)


def test_a_grid_encoder_refuses_a_bag_without_coordinates(kit: Kit) -> None:
    data, _, width = _titan(kit.tmp)
    model = kit.load(data)
    with pytest.raises(TilesError, match="coords"):
        model(torch.randn(1, 4, width))
