"""COBRA: zoo's build against the authors' computation on their released checkpoint layouts.

Random weights are written as the authors' files (COBRA I: ``pytorch_model.bin``, the flat state
dict ``get_cobra`` loads; COBRA II: ``cobraII.pth.tar``, the training checkpoint ``pretrain.py``
saves, which ``get_cobraII`` filters) into a Hugging Face cache, loaded by ``zoo.load`` through the
catalogue's own manifests (offline), and compared with the re-expression of the authors' forward in
zoo/verify/recipes/_ref_cobra.py, which reads the same file their way and runs the Mamba-2
scan a token at a time. mamba_ssm itself does not import without CUDA (2.3.2.post1 built with
MAMBA_SKIP_CUDA_BUILD: ``import selective_scan_cuda`` fails), so it cannot be called here.
"""

from __future__ import annotations

import functools
import hashlib
import io
from typing import Any

import pytest
import torch

import zoo
from tests.loading import conftest as loading_fixtures
from tests.loading.loading_kit import HfCache, Kit
from zoo.errors import CheckpointMismatchError, LoadError, TilesError
from zoo.nn.slide import Cobra, cobra
from zoo.nn.slide._mamba2 import CHUNK, Mamba2Mixer
from zoo.verify.recipes import _ref_cobra as ref

#: The loading tests' Hugging Face cache in tmp_path (HF_HUB_CACHE pointed at it).
hf_cache = loading_fixtures.hf_cache

#: entry -> (configuration, patch-encoder width)
ENTRIES: dict[str, tuple[dict[str, Any], int]] = {
    "pathology/katherlab_cobra_ctranspath": (ref.COBRA_I, 768),
    "pathology/katherlab_cobra_uni": (ref.COBRA_I, 1024),
    "pathology/katherlab_cobra_virchow2": (ref.COBRA_I, 1280),
    "pathology/katherlab_cobra2_conch": (ref.COBRA_II, 512),
    "pathology/katherlab_cobra2_uni": (ref.COBRA_II, 1024),
    "pathology/katherlab_cobra2_virchow2": (ref.COBRA_II, 1280),
}


def _save(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@functools.cache
def _released(version: str, prefix: str = "module.") -> tuple[dict[str, torch.Tensor], bytes]:
    """The authors' weights as their loader yields them, and the released file's bytes."""
    if version == "cobra":
        state = ref.random_cobra(ref.COBRA_I, seed=5)
        return state, _save(state)  # get_cobra: the flat state dict
    checkpoint = ref.cobra_ii_file(ref.COBRA_II, seed=5, prefix=prefix)
    return ref.load_like_get_cobra_ii(checkpoint), _save(checkpoint)


def _entry(cache: HfCache, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes) -> Any:
    """The catalogue's manifest, its file served from the Hub cache's main."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = zoo.Catalog().get(name).model_dump(mode="json", exclude_defaults=True)
    hf = entry["checkpoint"]["hf"]
    commit = hashlib.sha1(data).hexdigest()  # the snapshot main points at
    cache.add(hf["repo"], {hf["filename"]: data}, commit=commit)
    return entry


def _rel(ours: torch.Tensor, want: torch.Tensor) -> float:
    return ((ours - want).abs().max() / want.abs().max()).item()


@pytest.mark.parametrize("name", list(ENTRIES))
def test_cobra_matches_the_authors_on_the_released_layout(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    config, width = ENTRIES[name]
    version = "cobra" if config is ref.COBRA_I else "cobra2"
    weights, data = _released(version)
    model = kit.load(_entry(hf_cache, monkeypatch, name, data))
    # two bags of 70 tiles: the scan crosses a chunk boundary (64 tokens) in each
    feats = torch.randn(2, CHUNK + 6, width, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        ours = model(feats)
        weights_ours = model.backbone.attention(feats)
    want = ref.slide_embedding(weights, feats, config)
    assert ours.shape == (2, width)
    assert ours.dtype == torch.float32
    assert _rel(ours, want) <= 1e-5
    # the tiles' weights themselves, which carry everything before the pooling
    s64 = {k: v.double() for k, v in weights.items()}
    attention = torch.stack([ref.attention(s64, bag, config) for bag in feats.double()]).float()
    assert _rel(weights_ours, attention) <= 1e-5
    # strict: every weight is the file's (momentum_enc for COBRA II, not base_enc)
    loaded = model.backbone.state_dict()
    assert loaded.keys() == weights.keys()
    key = "mamba_enc.layers.0.1.in_proj.weight"
    torch.testing.assert_close(loaded[key], weights[key], rtol=0, atol=0)


def test_a_cobra_ii_file_without_the_distributed_prefix_loads_too(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``get_cobraII`` cuts every key after ``momentum_enc.``; so does the manifest's remap."""
    weights, data = _released("cobra2", prefix="")
    model = kit.load(_entry(hf_cache, monkeypatch, "pathology/katherlab_cobra2_uni", data))
    feats = torch.randn(1, 9, 1024, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = model(feats)
    assert _rel(ours, ref.slide_embedding(weights, feats, ref.COBRA_II)) <= 1e-5


def test_a_cobra_i_file_under_a_cobra_ii_entry_is_refused_naming_the_keys(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of the two versions differ in layers, heads and input heads: never a partial load."""
    _, data = _released("cobra")
    entry = _entry(hf_cache, monkeypatch, "pathology/katherlab_cobra_uni", data)
    other = zoo.Catalog().get("pathology/katherlab_cobra2_uni")
    entry["wrapper"] = other.model_dump(mode="json", exclude_defaults=True)["wrapper"]
    with pytest.raises(CheckpointMismatchError) as caught:
        kit.load(entry)
    message = str(caught.value)
    assert "6 missing: embed.512.head.0.weight" in message  # COBRA II's CONCH head
    assert "40 unexpected: embed.768.head.0.weight" in message  # COBRA I's CTransPath head, ...
    assert "attn.0.attention_a.0.weight (96, 96) vs (256, 192)" in message


def test_a_training_file_without_the_momentum_encoder_is_refused(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slide encoder is ``momentum_enc``; a file holding only ``base_enc`` loads nothing."""
    checkpoint = ref.cobra_ii_file(ref.COBRA_II, seed=2)
    checkpoint["state_dict"] = {
        k: v for k, v in checkpoint["state_dict"].items() if "momentum_enc" not in k
    }
    entry = _entry(hf_cache, monkeypatch, "pathology/katherlab_cobra2_conch", _save(checkpoint))
    with pytest.raises(CheckpointMismatchError, match=r"66 missing: embed\.512\.head\.0\.weight"):
        kit.load(entry)


def test_features_of_another_width_are_a_one_line_error(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint has an input head for 512-d features too, but this entry takes UNI's: a bag
    of CONCH features is refused, not silently encoded with another head."""
    _, data = _released("cobra2")
    model = kit.load(_entry(hf_cache, monkeypatch, "pathology/katherlab_cobra2_uni", data))
    with pytest.raises(TilesError, match=r"tile features are 512-d, but it takes 1024-d"):
        model(torch.randn(1, 5, 512))
    with pytest.raises(TilesError, match=r"pathology/mahmood_uni"):
        model(torch.randn(1, 5, 768))


@pytest.mark.parametrize("length", [1, 3, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5])
def test_the_chunked_scan_is_the_token_by_token_recurrence(length: int) -> None:
    """zoo's Mamba-2 layer against ``Mamba2.step`` run over the sequence, at every chunk edge."""
    mixer = Mamba2Mixer(64, state=16).eval()  # inner 128: two heads of 64
    gen = torch.Generator().manual_seed(length)
    state = {k: torch.randn(v.shape, generator=gen) * 0.2 for k, v in mixer.state_dict().items()}
    state["A_log"] = torch.rand(2, generator=gen).mul(15).add(1).log()
    state["norm.weight"] = 1 + 0.1 * torch.randn(128, generator=gen)
    mixer.load_state_dict(state)
    u = torch.randn(1, length, 64, generator=gen)
    with torch.no_grad():
        ours = mixer(u)[0]
    want = ref.mamba2_layer({k: v.double() for k, v in state.items()}, "", u[0].double(), 16)
    assert _rel(ours, want.float()) <= 1e-5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"in_dim": 384}, r"in_dim 384 has no input head: input_dims are \[512, 1024\]"),
        ({"heads": 1}, "heads must be 2 or more, got 1"),
        ({"layers": 0}, "layers must be 1 or more, got 0"),
        ({"dim": 100, "heads": 8}, r"dim \(100\) must be a multiple of heads \(8\)"),
        ({"dim": 100, "heads": 4}, r"expand \* dim \(200\) must be a multiple of headdim \(64\)"),
    ],
)
def test_impossible_arguments_are_refused(arguments: dict[str, int], message: str) -> None:
    build = {"in_dim": 512, "input_dims": [512, 1024], "dim": 64, "heads": 4} | arguments
    with pytest.raises(ValueError, match=message):
        cobra(**build)


def test_cobra_runs_on_meta() -> None:
    """``zoo validate --build`` runs the released architectures on the meta device."""
    for config, width in ((ref.COBRA_I, 1280), (ref.COBRA_II, 512)):
        with torch.device("meta"):
            model = cobra(width, **config)
        assert isinstance(model, Cobra)
        got = model(torch.empty(2, 2 * CHUNK + 3, width, device="meta"))
        assert got.shape == (2, width)
        assert got.device.type == "meta"


def test_the_tiles_order_enters_the_embedding() -> None:
    """The Mamba-2 layers read the bag as a sequence (the README says so): unlike an ABMIL, the
    same tiles in another order give another embedding."""
    model = cobra(32, [32], dim=64, heads=2, layers=1, att_dim=8, state=8).eval()
    feats = torch.randn(1, 12, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        forward = model(feats)
        backward = model(feats.flip(1))
    assert not torch.allclose(forward, backward, rtol=1e-4, atol=1e-6)


def test_a_cobra_i_file_wrapped_as_a_training_checkpoint_is_refused(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``get_cobra`` would also take a ``{state_dict: ...}`` file; the manifest declares the flat
    form, so a wrapped ``pytorch_model.bin`` is a one-line error, never a partial load."""
    data = _save(ref.cobra_ii_file(ref.COBRA_I, seed=4))
    entry = _entry(hf_cache, monkeypatch, "pathology/katherlab_cobra_uni", data)
    with pytest.raises(
        LoadError, match=r"holds no tensors at the top level\. Nested dicts: state_dict"
    ):
        kit.load(entry)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_runs_with_the_scan_in_float32(dtype: torch.dtype) -> None:
    """The authors fall back to float16 on older GPUs; a half-precision model runs (the scan in
    float32, as mamba_ssm's kernels accumulate) and stays near the float32 embedding."""
    model = cobra(32, [32], dim=64, heads=2, layers=1, att_dim=8, state=8).eval()
    feats = torch.randn(1, CHUNK + 6, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = model(feats)
        got = model.to(dtype)(feats.to(dtype))
    assert got.dtype == dtype
    assert _rel(got.float(), want) <= 2e-2
