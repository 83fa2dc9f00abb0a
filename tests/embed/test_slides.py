"""``zoo embed`` on whole-slide images written in the test (tests/embed/slides_kit.py): the tiles
cut (which, where), their features (the model's on the same pixels), the TRIDENT-layout h5 read
as TRIDENT's and Patho-Bench's loaders read it, the thumbnail, and the default format with
``read_embeddings``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zoo
from tests.embed.conftest import embed, summary
from tests.embed.slides_kit import SIZE, TILES, slide_pixels, write_generic_tiff, write_svs

pytest.importorskip("openslide")
h5py = pytest.importorskip("h5py")


@pytest.fixture
def slide_manifest(tmp_path: Path, write_manifest: Any, tiny_manifest_data: Any) -> Path:
    """A tiny ViT (32x32 tiles) trained, says its manifest, at 0.5 µm/px."""
    import timm
    from safetensors.torch import save_file

    kwargs = {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 24, "num_heads": 2}
    torch.manual_seed(0)
    source = timm.create_model("vit_tiny_patch16_224", num_classes=0, **kwargs)
    root = tmp_path / "catalog"
    (root / "testing").mkdir(parents=True)
    save_file(source.state_dict(), str(root / "testing" / "tiles.safetensors"))
    data = tiny_manifest_data(name="testing/tiles")
    data["wrapper"] = {"type": "timm", "architecture": "vit_tiny_patch16_224", "kwargs": kwargs}
    data["checkpoint"] = {"path": "tiles.safetensors"}
    data["input"]["size"] = [32, 32]
    data["input"]["mpp"] = {"value": 0.5, "basis": "stated", "source": "the test"}
    data["output"].update(embedding_dim=24, feature_levels=2, feature_dim=24, patch_size=8)
    return write_manifest(root, data)


@pytest.fixture
def slides(tmp_path: Path) -> Path:
    folder = tmp_path / "slides"
    folder.mkdir()
    write_svs(folder / "s1.svs", slide_pixels())
    return folder


def expected_features(manifest: Path, slide: Path, coords: list[tuple[int, int]]) -> torch.Tensor:
    """The model on the same tiles read by hand: level 1 (downsample 2 = 0.5 / 0.25), 32 pixels,
    normalised with the manifest's mean and std, nothing else."""
    import openslide

    model = zoo.load_manifest(manifest)
    spec = model.manifest.input
    mean = torch.tensor(spec.mean).view(3, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1)
    handle = openslide.OpenSlide(str(slide))
    tiles = []
    for x, y in coords:
        rgb = np.asarray(handle.read_region((x, y), 1, (32, 32)).convert("RGB"))
        tiles.append((torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255 - mean) / std)
    with torch.no_grad():
        return model(torch.stack(tiles))


def test_h5_in_tridents_layout(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    out = tmp_path / "feats"
    code, stdout, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5", "--json")
    assert code == 0, stderr
    result = summary(stdout)
    assert (result["kind"], result["images"], result["embedded"]) == ("slide", 1, len(TILES))
    assert "slide s1.svs: 16 tiles" in stderr
    # Read as TRIDENT's extract_slide_features reads it (trident/wsi_objects/WSI.py at
    # a91fa8490e0210ebbbe58452c3babe009e0ab7ca): coords[:], features[:], dict(coords.attrs),
    # and its slide encoders take attributes['patch_size_level0'].
    with h5py.File(out / "s1.h5", "r") as f:
        coords = f["coords"][:]
        features = f["features"][:]
        attrs = dict(f["coords"].attrs)
    assert coords.dtype == np.int64 and coords.shape == (16, 2)
    assert [tuple(c) for c in coords.tolist()] == TILES
    assert features.shape == (16, 24) and features.dtype == np.float32
    assert attrs["patch_size_level0"] == 64 and attrs["patch_size"] == 32
    assert attrs["target_mpp"] == 0.5 and attrs["level0_mpp"] == 0.25
    assert (attrs["target_magnification"], attrs["level0_magnification"]) == (20, 40)
    assert (attrs["overlap"], attrs["name"]) == (0, "s1")
    assert (attrs["level0_width"], attrs["level0_height"]) == SIZE
    # Patho-Bench (patho_bench/datasets/PatchEmbeddingsDataset.py and BaseDataset.load_h5 at
    # 660e77044640e3d7d2f1150cc6721e97454993bf): every *.h5 directly in the folder, slide id =
    # its name without .h5; features and coords read whole, coords.attrs['patch_size_level0'].
    ids = {Path(n).stem for n in out.iterdir() if n.name.endswith(".h5")}
    assert ids == {"s1"}
    with h5py.File(out / "s1.h5", "r") as f:
        assets = {key: f[key][:] for key in ["features", "coords"]}
        attributes = {key: dict(f[key].attrs) for key in ["features", "coords"]}
    assert attributes["coords"]["patch_size_level0"] == 64
    assert attributes["features"]["encoder"] == "testing/tiles"
    want = expected_features(slide_manifest, slides / "s1.svs", TILES)
    torch.testing.assert_close(torch.from_numpy(assets["features"]), want, rtol=1e-4, atol=1e-5)
    # the same through zoo's reader
    emb = zoo.read_embeddings(out)
    assert emb.slides == ["s1"]
    one = emb.slide("s1")
    assert one.coords.tolist() == [list(t) for t in TILES]
    torch.testing.assert_close(one.features, want, rtol=1e-4, atol=1e-5)
    assert emb.keys[0] == "s1.svs/384_256"
