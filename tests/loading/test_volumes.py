"""3-D encoders on the output contract: MONAI networks built from manifests, run on real volumes.

Every model here is a real MONAI SwinUNETR or SegResNet built by zoo's monai loader; checkpoints
are written in the authors' key layouts (a DistributedDataParallel ``module.`` prefix, the
Universal-Model ``backbone.``, a ``net`` entry beside the optimizer state) and loaded strictly.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import zoo
from zoo import load_manifest
from zoo.errors import CheckpointMismatchError, ContractError, MissingExtraError, UsageError
from zoo.loading.check import check_build

pytest.importorskip("monai")

from monai.networks.nets import SegResNet, SwinUNETR

#: A Swin UNETR of feature size 12 (the smallest MONAI allows) on 64x32x32 inputs (the deepest
#: map must keep more than one voxel for its instance norm).
SWIN: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/tiny_swin",
    "wrapper": {
        "type": "monai",
        "network": "SwinUNETR",
        "kwargs": {"feature_size": 12, "use_v2": False},
    },
    "input": {"kind": "volume", "size": [64, 32, 32], "channels": 1},
    "output": {
        "embedding_dim": 288,
        "pooling": "mean",
        "feature_levels": 6,
        "feature_dim": [12, 12, 24, 48, 96, 192],
        "grid": {"strides": [1, 2, 4, 8, 16, 32], "multiple": 32, "pool": [0, 1, 2, 3, 5]},
    },
}

#: The top-level modules of SwinUNETR's encoder (eva's SwinUNETREncoder has exactly these).
ENCODER = {"swinViT", "encoder1", "encoder2", "encoder3", "encoder4", "encoder10"}

#: A SegResNet of 8 initial filters (group norm of 8 groups), three stages, on 16^3 inputs.
SEGRESNET: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/tiny_segresnet",
    "wrapper": {
        "type": "monai",
        "network": "SegResNet",
        "kwargs": {"init_filters": 8, "blocks_down": [1, 1, 1]},
    },
    "input": {"kind": "volume", "size": [16, 16, 16], "channels": 1, "dynamic_size": True},
    "output": {
        "embedding_dim": 32,
        "pooling": "mean",
        "feature_levels": 3,
        "feature_dim": [8, 16, 32],
        "grid": {"strides": [1, 2, 4], "multiple": 4},
    },
}


def _write(tmp_path: Path, data: dict[str, Any], **changes: Any) -> Path:
    data = copy.deepcopy(data)
    data.update(changes)
    path = tmp_path / f"{data['name'].split('/')[1]}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def swin_net() -> SwinUNETR:
    """The whole network whose encoder the tiny manifest describes (seeded)."""
    torch.manual_seed(0)
    return SwinUNETR(in_channels=1, out_channels=3, feature_size=12, use_v2=False).eval()


def _encoder_maps(net: SwinUNETR, x: torch.Tensor) -> list[torch.Tensor]:
    """The six encoder maps of MONAI's own SwinUNETR.forward, written out independently."""
    hidden = net.swinViT(x, net.normalize)
    return [
        net.encoder1(x),
        net.encoder2(hidden[0]),
        net.encoder3(hidden[1]),
        net.encoder4(hidden[2]),
        hidden[3],
        net.encoder10(hidden[4]),
    ]


# -- a random-init forward pass: the declared shapes ---------------------------------------------


@pytest.mark.slow
def test_random_swin_unetr_returns_the_declared_embedding_and_maps(tmp_path: Path) -> None:
    file = _write(tmp_path, SWIN)
    model = load_manifest(file, pretrained=False)
    x = torch.randn(2, 1, 64, 32, 32)
    with torch.no_grad():
        emb = model(x)
        maps = model.features(x, list(range(6)))
    assert emb.shape == (2, 288)
    assert [tuple(m.shape) for m in maps] == [
        (2, 12, 64, 32, 32),
        (2, 12, 32, 16, 16),
        (2, 24, 16, 8, 8),
        (2, 48, 8, 4, 4),
        (2, 96, 4, 2, 2),
        (2, 192, 2, 1, 1),
    ]
    # the embedding is the global average of levels 0, 1, 2, 3 and 5, in that order
    pooled = torch.cat([maps[i].mean(dim=(2, 3, 4)) for i in (0, 1, 2, 3, 5)], dim=1)
    torch.testing.assert_close(emb, pooled)


@pytest.mark.parametrize(
    ("out_indices", "channels"),
    [(6, [12, 12, 24, 48, 96, 192]), (2, [96, 192]), ((-1, 0), [192, 12]), ("[3, 1]", [48, 12])],
)
def test_out_indices_select_maps_in_the_order_asked(
    tmp_path: Path, out_indices: Any, channels: list[int]
) -> None:
    model = load_manifest(_write(tmp_path, SWIN), pretrained=False, out_indices=out_indices)
    with torch.no_grad():
        maps = model(torch.randn(1, 1, 64, 32, 32))
    assert [m.shape[1] for m in maps] == channels
    assert all(m.ndim == 5 for m in maps)


def test_other_sizes_need_dynamic_size_and_a_multiple(tmp_path: Path) -> None:
    fixed = load_manifest(_write(tmp_path, SWIN), pretrained=False)
    with pytest.raises(UsageError, match=r"input 32x32x64 but the model takes 64x32x32"):
        fixed(torch.randn(1, 1, 32, 32, 64))
    data = copy.deepcopy(SWIN)
    data["input"]["dynamic_size"] = True
    model = load_manifest(_write(tmp_path, data), pretrained=False, out_indices=1)
    with torch.no_grad():
        (deepest,) = model(torch.randn(1, 1, 32, 64, 32))
    assert deepest.shape == (1, 192, 1, 2, 1)
    with pytest.raises(UsageError, match=r"48x32x32 is not a multiple of 32x32x32 per axis"):
        model(torch.randn(1, 1, 48, 32, 32))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((1, 64, 32, 32), r"expected a volume batch \[B, C, D, H, W\].*add the channel axis"),
        ((1, 1, 32), r"expected a volume batch \[B, C, D, H, W\], got shape \(1, 1, 32\)$"),
        ((1, 2, 64, 32, 32), "expected 1 input channels, got 2"),
    ],
)
def test_wrong_batches_are_usage_errors(
    tmp_path: Path, shape: tuple[int, ...], message: str
) -> None:
    model = load_manifest(_write(tmp_path, SWIN), pretrained=False)
    with pytest.raises(UsageError, match=message):
        model(torch.zeros(shape))


def test_segresnet_levels_and_embedding(tmp_path: Path) -> None:
    model = load_manifest(_write(tmp_path, SEGRESNET), pretrained=False)
    x = torch.randn(1, 1, 16, 24, 8)
    with torch.no_grad():
        emb = model(x)
        maps = model.features(x, [0, 1, 2])
    assert [tuple(m.shape) for m in maps] == [
        (1, 8, 16, 24, 8),
        (1, 16, 8, 12, 4),
        (1, 32, 4, 6, 2),
    ]
    torch.testing.assert_close(emb, maps[2].mean(dim=(2, 3, 4)))  # default pool: the deepest


# -- declared against built ---------------------------------------------------------------------


def test_every_3d_catalogue_entry_builds_on_meta_with_its_contract() -> None:
    entries = zoo.Catalog().list(group="radiology")
    volumes = [m for m in entries if m.output.grid is not None]
    assert len(volumes) == 9  # eva's 8 and CT-FM
    for m in volumes:
        result = check_build(m)
        assert result.ok, (m.name, result.problems)
        assert result.device == "meta"
        assert result.embedding_shape == [1, m.output.embedding_dim]
        assert len(result.feature_shapes) == m.output.feature_levels
        assert all(len(s) == 5 for s in result.feature_shapes)
        deepest = result.feature_shapes[-1]
        assert deepest[2:] == [s // m.output.grid.stride_of(-1)[0] for s in m.input.size]


def test_a_manifest_that_disagrees_with_the_network_is_a_contract_error(tmp_path: Path) -> None:
    data = copy.deepcopy(SWIN)
    data["wrapper"]["kwargs"]["feature_size"] = 24  # the output block still describes 12
    with pytest.raises(ContractError) as info:
        load_manifest(_write(tmp_path, data), meta=True)
    assert "output.feature_dim" in info.value.fields
    result = check_build(_read(tmp_path, data))
    assert not result.ok
    assert {p.path for p in result.problems} == {"output.feature_dim"}


def _read(tmp_path: Path, data: dict[str, Any]) -> Any:
    from zoo.catalog.parse import read_manifest

    return read_manifest(_write(tmp_path, data), check_name=False)


def test_overrides_change_the_network_and_the_declared_contract(tmp_path: Path) -> None:
    model = load_manifest(_write(tmp_path, SWIN), meta=True, feature_size=24, in_channels=2)
    m = model.manifest
    assert all(t.is_meta for t in model.backbone.state_dict().values())  # buffers too: no memory
    assert m.input.in_chans == 2
    assert m.output.feature_dim == [24, 24, 48, 96, 192, 384]
    assert m.output.embedding_dim == 576
    assert model(torch.zeros(1, 2, 64, 32, 32, device="meta")).shape == (1, 576)
    with pytest.raises(UsageError, match="rejects its arguments"):
        load_manifest(_write(tmp_path, SWIN), meta=True, no_such_argument=1)


# -- checkpoints in the authors' key layouts ----------------------------------------------------


def _suprem_layout(net: SwinUNETR, prefix: str = "module.backbone.") -> dict[str, Any]:
    """A training state as SuPreM and the Universal Model save it: the network under
    DistributedDataParallel (``prefix`` + SwinUNETR key) with the model's own heads, in ``net``
    next to the optimizer state."""
    state = {f"{prefix}{k}": v.clone() for k, v in net.state_dict().items()}
    state["module.precls_conv.0.weight"] = torch.ones(48)
    state["module.organ_embedding"] = torch.zeros(32, 256)
    return {"net": state, "epoch": 7, "optimizer": {"lr": 1e-4}}


def _with_checkpoint(data: dict[str, Any], **checkpoint: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["checkpoint"] = checkpoint
    return data


@pytest.mark.parametrize(
    ("entry", "prefix"),
    [
        ("radiology/suprem_swin_unetr", "module.backbone."),
        ("radiology/universal_swinunetr", "module."),
    ],
)
def test_the_catalogue_remap_rules_load_the_authors_layout_strictly(
    tmp_path: Path, swin_net: SwinUNETR, entry: str, prefix: str
) -> None:
    """The entry's own key and remap rules, on a tiny Swin UNETR saved in the authors' layout."""
    ckpt = zoo.Catalog().get(entry).checkpoint
    assert ckpt is not None
    weights = tmp_path / "weights.pth"
    torch.save(_suprem_layout(swin_net, prefix), weights)
    data = _with_checkpoint(
        SWIN, path=str(weights), format="pickle", key=ckpt.key, remap=ckpt.remap.model_dump()
    )
    model = load_manifest(_write(tmp_path, data), out_indices=6)
    x = torch.randn(1, 1, 64, 32, 32)
    with torch.no_grad():
        got, want = model(x), _encoder_maps(swin_net, x)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)
    assert {k.split(".")[0] for k in model.backbone.state_dict()} == ENCODER


def test_without_keep_the_decoder_keys_make_the_strict_load_fail(
    tmp_path: Path, swin_net: SwinUNETR
) -> None:
    weights = tmp_path / "supervised_suprem_swinunetr.pth"
    torch.save(_suprem_layout(swin_net), weights)
    data = _with_checkpoint(
        SWIN, path=str(weights), key="net", remap={"rename": {r"^.*?backbone\.": ""}}
    )
    with pytest.raises(CheckpointMismatchError) as info:
        load_manifest(_write(tmp_path, data))
    assert any(k.startswith("decoder5.") for k in info.value.unexpected)
    assert "precls_conv.0.weight" in " ".join(info.value.unexpected)


def test_voco_layout_is_the_encoder_state_dict_as_it_is(
    tmp_path: Path, swin_net: SwinUNETR, server: Any
) -> None:
    """VoCo's *_SSL_head.pt: eva loads it with no key changes, so it is exactly the encoder."""
    encoder = {k: v for k, v in swin_net.state_dict().items() if k.split(".")[0] in ENCODER}
    weights = tmp_path / "VoCo_B_SSL_head.pt"
    torch.save(encoder, weights)
    url = server.add("VoCo_B_SSL_head.pt", weights.read_bytes())
    model = load_manifest(_write(tmp_path, _with_checkpoint(SWIN, url=url, format="pickle")))
    x = torch.randn(1, 1, 64, 32, 32)
    with torch.no_grad():
        emb = model(x)
    want = _encoder_maps(swin_net, x)
    torch.testing.assert_close(
        emb, torch.cat([want[i].mean(dim=(2, 3, 4)) for i in (0, 1, 2, 3, 5)], 1)
    )


def test_missing_encoder_keys_are_named(tmp_path: Path, swin_net: SwinUNETR) -> None:
    partial = {
        k: v for k, v in swin_net.state_dict().items() if k.split(".")[0] in ENCODER - {"encoder10"}
    }
    weights = tmp_path / "partial.pt"
    torch.save(partial, weights)
    with pytest.raises(CheckpointMismatchError) as info:
        load_manifest(_write(tmp_path, _with_checkpoint(SWIN, path=str(weights))))
    assert info.value.missing
    assert all(k.startswith("encoder10.") for k in info.value.missing)


def test_monai_missing_is_an_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "monai.networks.nets", None)  # what an absent package raises
    with pytest.raises(MissingExtraError, match=r"pip install 'zoo-backbones\[monai\]'"):
        load_manifest(_write(tmp_path, SWIN), meta=True)


# -- a catalogue entry end to end: weights in the authors' layout, a 96^3 CT volume -------------


@pytest.mark.slow
def test_suprem_segresnet_loads_and_embeds_a_96_cube(tmp_path: Path, server: Any) -> None:
    """The catalogue's radiology/suprem_segresnet with its own remap rules, its checkpoint written
    as SuPreM's training saves it (``net`` of a DistributedDataParallel SegResNet) and served over
    HTTP; a CT volume in Hounsfield units goes through ``model.preprocess`` and the model."""
    torch.manual_seed(0)
    net = SegResNet(in_channels=1, out_channels=3, init_filters=16, blocks_down=(1, 2, 2, 4)).eval()
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    weights = tmp_path / "supervised_suprem_segresnet_2100.pth"
    torch.save({"net": state, "epoch": 2000}, weights)
    entry = zoo.Catalog().get("radiology/suprem_segresnet")
    assert entry.checkpoint is not None
    url = server.add(weights.name, weights.read_bytes())
    md5 = hashlib.md5(weights.read_bytes(), usedforsecurity=False).hexdigest()  # checked too
    manifest = entry.model_copy(
        update={"checkpoint": entry.checkpoint.model_copy(update={"url": url, "md5": md5})}
    )

    model = load_manifest(manifest)
    ct = torch.linspace(-1000, 1000, 96**3).reshape(96, 96, 96)  # air to bone, in HU
    x = model.preprocess(ct)
    assert x.shape == (1, 96, 96, 96)
    assert x.min() == 0.0
    assert x.max() == 1.0
    with torch.no_grad():
        emb = model(x[None])
        maps = model.features(x[None], [0, 1, 2, 3])
        _, reference = net.encode(x[None])
    assert emb.shape == (1, 240)
    assert [tuple(m.shape) for m in maps] == [
        (1, 16, 96, 96, 96),
        (1, 32, 48, 48, 48),
        (1, 64, 24, 24, 24),
        (1, 128, 12, 12, 12),
    ]
    for got, want in zip(maps, reference, strict=True):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(emb, torch.cat([m.mean(dim=(2, 3, 4)) for m in reference], dim=1))
