"""zoo.nn.slide.prism: PRISM's Perceiver against an independent re-expression of the authors'
``slide_representations`` (zoo/verify/recipes/_ref_prism.py), with the same random weights saved the two
ways a module with shared layers can be: ``model.safetensors`` with each shared tensor once (what
``save_pretrained`` writes) or a pickle with every name; both load strictly once the shared names
are dropped, as the catalogue entry's ``checkpoint.remap.drop`` does. Reduced width and latent count;
the 8 layers and their sharing as released."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from zoo.errors import TilesError
from zoo.nn.slide import Prism, prism
from zoo.verify.recipes._ref_prism import PrismReference, without_shared_duplicates

TINY = {"context_dim": 20, "latent_dim": 16, "latent_seq": 6, "transformer_depth": 2}
#: The catalogue entry's drop patterns: the names under which shared layers repeat.
DROP = ["perceiver.layers.[2-7].*", "perceiver.layers.[1-7].tf.*"]


def reference() -> PrismReference:
    torch.manual_seed(0)
    return PrismReference(20, 16, 6, 8, 2, 8).eval()


def load(state: dict[str, torch.Tensor]) -> Prism:
    picked = {
        k.removeprefix("image_resampler."): v
        for k, v in state.items()
        if k.startswith("image_resampler.")
    }
    picked = {k: v for k, v in picked.items() if not any(fnmatch(k, p) for p in DROP)}
    model = prism(**TINY).eval()
    model.load_state_dict(picked, strict=True)
    return model


def tiles(n: int = 30, batch: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, n, 20, generator=torch.Generator().manual_seed(seed))


def close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    return bool(((got - expected).abs().max() / expected.abs().max()) <= 1e-5)


def test_prism_from_safetensors_with_shared_tensors_once(tmp_path: Path) -> None:
    ref = reference()
    path = tmp_path / "model.safetensors"
    save_file(without_shared_duplicates(ref.state_dict()), str(path))
    saved = load_file(str(path))
    assert "image_resampler.perceiver.layers.1.xattn.xattn.to_kv.weight" in saved
    assert not any(k.startswith("image_resampler.perceiver.layers.2.") for k in saved)
    model = load(saved)
    features = tiles()
    with torch.no_grad():
        got, expected = model(features), ref(features)
    assert got.shape == (1, 16)
    assert got.dtype == torch.float32
    assert close(got, expected)


def test_prism_from_a_pickle_with_every_name(tmp_path: Path) -> None:
    ref = reference()
    path = tmp_path / "prism.pth"
    torch.save(ref.state_dict(), path)
    model = load(torch.load(path, weights_only=True))
    features = tiles(n=7, batch=2, seed=3)
    with torch.no_grad():
        assert close(model(features), ref(features))


def test_prism_ignores_coordinates(tmp_path: Path) -> None:
    model = load(reference().state_dict())
    features = tiles()
    with torch.no_grad():
        torch.testing.assert_close(model(features, torch.zeros(1, 30, 2), 224), model(features))


def test_prism_released_configuration() -> None:
    model = prism()
    keys = set(model.state_dict())
    assert "perceiver.latents" in keys
    assert model.perceiver.latents.shape == (513, 1280)
    assert "perceiver.layers.1.xattn.xattn.to_kv.weight" in keys
    assert "perceiver.layers.0.tf.5.mhsa.mha.in_proj_weight" in keys
    assert not any(k.startswith("perceiver.layers.1.tf") for k in keys)
    assert model.perceiver.layers[0]["xattn"]["xattn"].to_kv.weight.shape == (2560, 2560)


def test_prism_refuses_a_bad_bag() -> None:
    with pytest.raises(TilesError, match="2560-d tile features"):
        prism()(torch.zeros(1, 3, 1280))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_dim": 100}, "multiple of the head counts"),
        ({"share_xattn_start_layer": 8}, "share_xattn_start_layer"),
        ({"share_tf_start_layer": -1}, "share_tf_start_layer"),
    ],
)
def test_prism_refuses_a_bad_configuration(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prism(**kwargs)
