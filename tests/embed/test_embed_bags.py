"""``zoo embed NAME --from-features DIR``: slide embeddings from TRIDENT's h5 tile features.

The inputs are written here in TRIDENT's layout (datasets ``features`` and ``coords`` with the
attributes TRIDENT's ``WSI.extract_patch_features`` and ``IO.coords_to_h5`` write, at
https://github.com/mahmoodlab/TRIDENT/tree/a91fa8490e0210ebbbe58452c3babe009e0ab7ca).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import CliRunner, ManifestFactory, ManifestWriter
from tests.manifest.test_tiles_manifest import slide_data

h5py = pytest.importorskip("h5py")


def write_trident(
    path: Path,
    features: np.ndarray,
    *,
    encoder: str | None = "tiny",
    magnification: float = 20,
    patch_size: int = 224,
) -> Path:
    """One slide's tile features as TRIDENT writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = features.shape[0]
    coords = np.stack([np.arange(count) * 448, np.zeros(count)], axis=1).astype(np.int64)
    with h5py.File(path, "w") as f:
        feats = f.create_dataset("features", data=features.astype(np.float32))
        feats.attrs["name"] = path.stem
        feats.attrs["savetodir"] = str(path.parent)
        feats.attrs["encoder"] = "None" if encoder is None else encoder
        c = f.create_dataset("coords", data=coords)
        for key, value in {
            "patch_size": patch_size,
            "patch_size_level0": patch_size * 40 // int(magnification),
            "level0_magnification": 40,
            "target_magnification": magnification,
            "overlap": 0,
            "name": path.stem,
            "savetodir": str(path.parent),
            "level0_width": 100000,
            "level0_height": 80000,
        }.items():
            c.attrs[key] = value
    return path


@pytest.fixture
def catalogue(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_manifest_data: ManifestFactory,
    write_manifest: ManifestWriter,
) -> dict[str, Any]:
    """A catalogue with the tiny patch encoder (alias trident/tiny) and a slide encoder with
    weights on disk; returns the slide encoder's source module."""
    from zoo.nn.slide import abmil

    root = tmp_path / "cat"
    write_manifest(root, tiny_manifest_data(aliases=["trident/tiny"]))
    torch.manual_seed(0)
    source = abmil(384, head_dim=32).eval()
    weights = tmp_path / "abmil.safetensors"
    from safetensors.torch import save_file

    save_file(dict(source.state_dict()), str(weights))
    write_manifest(root, slide_data(checkpoint={"path": str(weights)}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    return {"source": source, "root": root}


def _bags(folder: Path, count: int = 2, **kwargs: Any) -> list[np.ndarray]:
    gen = np.random.default_rng(0)
    found = []
    for i in range(count):
        feats = gen.standard_normal((5 + i, kwargs.pop("dim", 384))).astype(np.float32)
        write_trident(folder / f"slide_{i}.h5", feats, **kwargs)
        found.append(feats)
    return found


def test_a_slide_encoder_embeds_each_trident_bag(
    tmp_path: Path, run_cli: CliRunner, catalogue: dict[str, Any]
) -> None:
    from safetensors.numpy import load_file

    bags = _bags(tmp_path / "feats")
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        "embed", "testing/tiny_abmil", "--from-features", tmp_path / "feats", "--out", out, "--json"
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["slides"] == 2
    assert summary["embedding_dim"] == 384
    got = load_file(str(out / "slide_embeddings.safetensors"))["slide_embeddings"]
    with torch.no_grad():
        want = np.stack([catalogue["source"](torch.from_numpy(b)[None])[0].numpy() for b in bags])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    record = json.loads((out / "provenance.json").read_text())
    assert [s["name"] for s in record["slides"]] == ["slide_0", "slide_1"]
    assert record["slides"][0]["encoder"] == "tiny"


def test_format_h5_writes_tridents_slide_feature_layout(
    tmp_path: Path, run_cli: CliRunner, catalogue: dict[str, Any]
) -> None:
    _bags(tmp_path / "feats")
    out = tmp_path / "out"
    code, _, err = run_cli(
        "embed",
        "testing/tiny_abmil",
        "--from-features",
        tmp_path / "feats",
        "--out",
        out,
        "--format",
        "h5",
    )
    assert code == 0, err
    with h5py.File(out / "slide_1.h5", "r") as f:
        assert f["features"].shape == (384,)
        assert f["features"].attrs["name"] == "slide_1"
        assert f["coords"].shape == (6, 2)
        assert f["coords"].attrs["target_magnification"] == 20
    assert sorted(p.name for p in out.iterdir()) == ["provenance.json", "slide_0.h5", "slide_1.h5"]


@pytest.mark.parametrize(
    ("kwargs", "flag_passes", "says"),
    [
        (
            {"encoder": "uni_v1"},
            True,
            "holds features of uni_v1; it takes 384-d features of testing/tiny_vit",
        ),
        ({"encoder": None}, True, "does not say which patch encoder made its features"),
        ({"magnification": 40}, True, "holds tiles at 0.25 mpp; it takes tiles at 0.5 mpp (20x)"),
        ({"patch_size": 256}, True, "holds 256 px tiles; it takes 224 px tiles at 0.5 mpp"),
        ({"dim": 1024}, False, "holds 1024-d tile features; it takes 384-d features"),
    ],
)
def test_features_of_another_encoder_or_scale_are_refused(
    tmp_path: Path,
    run_cli: CliRunner,
    catalogue: dict[str, Any],
    kwargs: dict[str, Any],
    flag_passes: bool,
    says: str,
) -> None:
    _bags(tmp_path / "feats", count=1, **kwargs)
    args = ["embed", "testing/tiny_abmil", "--from-features", tmp_path / "feats"]
    code, _, err = run_cli(*args, "--out", tmp_path / "out")
    assert code == 2  # a usage error: the wrong input for this model
    assert says in " ".join(err.split()), err
    assert not (tmp_path / "out").exists()
    code, _, err = run_cli(*args, "--out", tmp_path / "out2", "--no-pairing-check")
    assert (code == 0) is flag_passes, err


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_slide_pool_pools_a_patch_encoders_features(
    tmp_path: Path, run_cli: CliRunner, catalogue: dict[str, Any], pool: str
) -> None:
    from safetensors.numpy import load_file

    bags = _bags(tmp_path / "feats")
    out = tmp_path / "out"
    code, _, err = run_cli(
        "embed",
        "testing/tiny_vit",
        "--from-features",
        tmp_path / "feats",
        "--out",
        out,
        "--slide-pool",
        pool,
    )
    assert code == 0, err
    got = load_file(str(out / "slide_embeddings.safetensors"))["slide_embeddings"]
    want = np.stack([b.mean(axis=0) if pool == "mean" else b.max(axis=0) for b in bags])
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "extra", "says"),
    [
        ("testing/tiny_abmil", ["--slide-pool", "mean"], "is a slide encoder"),
        ("testing/tiny_vit", [], "pass --slide-pool mean or max"),
    ],
)
def test_pooling_and_model_kind_must_agree(
    tmp_path: Path,
    run_cli: CliRunner,
    catalogue: dict[str, Any],
    name: str,
    extra: list[str],
    says: str,
) -> None:
    _bags(tmp_path / "feats", count=1)
    code, _, err = run_cli(
        "embed", name, "--from-features", tmp_path / "feats", "--out", tmp_path / "o", *extra
    )
    assert code == 2
    assert says in err


def test_the_output_folder_is_claimed_and_replaced_only_when_zoos(
    tmp_path: Path, run_cli: CliRunner, catalogue: dict[str, Any]
) -> None:
    _bags(tmp_path / "feats", count=1)
    out = tmp_path / "out"
    args = ["embed", "testing/tiny_abmil", "--from-features", tmp_path / "feats", "--out", out]
    assert run_cli(*args)[0] == 0
    code, _, err = run_cli(*args)
    assert code == 2
    assert "pass --overwrite" in err
    assert run_cli(*args, "--overwrite")[0] == 0
    (out / "mine.txt").write_text("x")
    code, _, err = run_cli(*args, "--overwrite")
    assert code == 2
    assert "mine.txt is not zoo's" in err
    assert (out / "mine.txt").read_text() == "x"


def test_usage_errors_of_from_features(
    tmp_path: Path, run_cli: CliRunner, catalogue: dict[str, Any]
) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(
        "embed",
        "testing/tiny_abmil",
        "--from-features",
        tmp_path / "empty",
        "--out",
        tmp_path / "o",
    )
    assert code == 2
    assert "no TRIDENT features (*.h5)" in err
    code, _, err = run_cli("embed", "testing/tiny_vit", "--out", tmp_path / "o")
    assert code == 2
    assert "--from-features" in err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.h5").write_bytes(b"not h5")
    code, _, err = run_cli(
        "embed", "testing/tiny_abmil", "--from-features", tmp_path / "bad", "--out", tmp_path / "o"
    )
    assert code == 2
    assert "not a readable h5 file" in err
