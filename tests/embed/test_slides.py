"""``zoo embed`` on whole-slide images written in the test (tests/embed/slides_kit.py): the tiles
cut (which, where), their features (the model's on the same pixels), the TRIDENT-layout h5 read
as TRIDENT's and Patho-Bench's loaders read it, the thumbnail, and the default format with
``read_embeddings``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zoo
from tests.embed.conftest import embed, embed_command, run_process, summary, tree
from tests.embed.slides_kit import (
    SIZE,
    TILES,
    slide_pixels,
    write_generic_tiff,
    write_svs,
    write_truncated,
)

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
    assert (coords.dtype, coords.shape) == (np.int64, (16, 2))
    assert [tuple(c) for c in coords.tolist()] == TILES
    assert (features.dtype, features.shape) == (np.float32, (16, 24))
    assert (attrs["patch_size_level0"], attrs["patch_size"]) == (64, 32)
    assert (attrs["target_mpp"], attrs["level0_mpp"]) == (0.5, 0.25)
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


@pytest.mark.parametrize("fmt", ["safetensors", "parquet"])
def test_default_format_keeps_slide_and_coordinates(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path, fmt: str
) -> None:
    write_svs(slides / "s2.svs", slide_pixels(tissue=(0, 0, 128, 128)))  # 4 tiles top-left
    out = tmp_path / "feats"
    code, stdout, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", fmt, "--json")
    assert code == 0, stderr
    assert summary(stdout)["embedded"] == 20
    emb = zoo.read_embeddings(out)
    assert emb.slides == ["s1", "s2"]
    assert emb.slide("s2").coords.tolist() == [[0, 0], [64, 0], [0, 64], [64, 64]]
    assert emb.slide("s2").key == "s2.svs"
    want = expected_features(slide_manifest, slides / "s1.svs", TILES)
    torch.testing.assert_close(emb.slide("s1").features, want, rtol=1e-4, atol=1e-5)
    # rows: slide after slide, each slide's tiles row by row; a key is <slide key>/<x>_<y>
    assert list(emb.keys)[:2] == ["s1.svs/384_256", "s1.svs/448_256"]
    assert list(emb.keys)[16:] == ["s2.svs/0_0", "s2.svs/64_0", "s2.svs/0_64", "s2.svs/64_64"]
    assert emb["embedding"][:].shape == (20, 24)
    assert emb.shards[1].coords().tolist() == emb.slide("s2").coords.tolist()
    with pytest.raises(KeyError, match="no slide 'nope'"):
        emb.slide("nope")
    assert sorted(p.name for p in out.iterdir()) == [
        "index.json", "provenance.json", "shards", "thumbnails", "zoo-embed.json",
    ]  # fmt: skip
    prov = json.loads((out / "provenance.json").read_text())
    tiling = prov["slides"]["tiling"]
    assert (tiling["target_mpp"], tiling["tile_size"], tiling["overlap"]) == (0.5, 32, 0)
    assert prov["slides"]["tissue_method"]["name"] == "otsu-saturation"
    first = prov["slides"]["slides"][0]
    assert (first["key"], first["slide"]["mpp"], first["slide"]["vendor"]) == (
        "s1.svs",
        0.25,
        "aperio",
    )
    assert first["slide"]["mpp_source"] == "openslide.mpp-x"
    assert (first["tiles"], first["patch_size_level0"], first["read_level"]) == (16, 64, 1)
    assert prov["model"]["name"] == "testing/tiles"


def test_thumbnail_shows_tissue_and_tiles(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    from PIL import Image

    from zoo.embed.slides.thumbnail import TILE_COLOUR, TISSUE_COLOUR

    out = tmp_path / "feats"
    code, _, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5")
    assert code == 0, stderr
    with Image.open(out / "thumbnails" / "s1.png") as img:
        assert img.format == "PNG"
        picture = np.asarray(img.convert("RGB"))
    assert picture.shape == (768, 1024, 3)  # longest side 1024: here one pixel per level-0 pixel
    tiles = np.all(picture == TILE_COLOUR, axis=2)
    tissue = np.all(picture == TISSUE_COLOUR, axis=2)
    assert (tiles[300, 384 + 64], tiles[256 + 64, 400]) == (True, True)  # inner tile borders
    ys, xs = np.nonzero(tiles | tissue)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (384, 256, 639, 511)  # nothing on glass
    ys, xs = np.nonzero(tissue)  # the outline, drawn over the tiles: the square's border
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (384, 256, 639, 511)
    assert (tissue[256, 500], tissue[400, 639], tissue[400, 500]) == (True, True, False)


def test_resume_and_other_settings(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    out = tmp_path / "feats"
    code, _, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5")
    assert code == 0, stderr
    before = tree(out)
    code, stdout, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5", "--json")
    assert code == 0, stderr
    assert "nothing to do: all 1 slides are already done" in stderr
    assert summary(stdout)["computed"] == 0
    after = tree(out)
    assert after["s1.h5"] == before["s1.h5"]  # a finished slide is not recomputed
    assert after["thumbnails/s1.png"] == before["thumbnails/s1.png"]
    # a new slide: only it is embedded
    write_svs(slides / "s0.svs", slide_pixels(tissue=(0, 0, 128, 128)))
    code, stdout, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5", "--json")
    assert code != 0  # the slide list changed: another run
    assert "images.keys_sha256" in stderr or "images.count" in stderr
    (slides / "s0.svs").unlink()
    # other settings are refused, naming what differs
    code, _, stderr = embed(
        run_cli, slide_manifest, [slides], out, "--format", "h5", "--mpp", "0.25", "--tile-size", "32"
    )  # fmt: skip
    assert code == 2
    assert "slides.target_mpp: 0.5 then, 0.25 now" in stderr
    assert tree(out) == after
    # --overwrite replaces zoo's own files, the h5 and the thumbnail included
    code, _, stderr = embed(
        run_cli, slide_manifest, [slides], out, "--format", "h5", "--mpp", "0.25", "--overwrite"
    )
    assert code == 0, stderr
    with h5py.File(out / "s1.h5", "r") as f:
        assert f["coords"].attrs["patch_size_level0"] == 32
    assert sorted(p.name for p in (out / "thumbnails").iterdir()) == ["s1.png"]


def test_killed_between_slides_resumes(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    """A run whose second slide was never committed (its record missing, its h5 and thumbnail
    half-written) embeds that slide again and only it."""
    write_svs(slides / "s2.svs", slide_pixels(tissue=(0, 0, 128, 128)))
    out = tmp_path / "feats"
    code, _, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5")
    assert code == 0, stderr
    first = tree(out)
    (out / "shards" / "000000000001-000000000002.json").unlink()
    (out / "index.json").unlink()
    (out / "s2.h5").write_bytes(b"half")
    (out / "thumbnails" / "s2.png.tmp").write_bytes(b"half")
    record = json.loads((out / "zoo-embed.json").read_text())
    record["complete"], record["files"] = False, {}  # as a run killed before its end leaves it
    (out / "zoo-embed.json").write_text(json.dumps(record))
    code, stdout, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5", "--json")
    assert code == 0, stderr
    assert "resuming: 1 of 2 slides are already done" in stderr
    assert summary(stdout)["computed"] == 4
    again = tree(out)
    assert again["s1.h5"] == first["s1.h5"]
    assert again["s2.h5"] == first["s2.h5"]
    assert "thumbnails/s2.png.tmp" not in again


def test_bad_slides_are_named_and_the_others_complete(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    write_generic_tiff(slides / "nompp.tif", slide_pixels())
    write_truncated(slides / "cut.svs", slide_pixels())
    write_svs(slides / "glass.svs", slide_pixels(tissue=None))
    (slides / "text.svs").write_text("not a slide")
    out = tmp_path / "feats"
    code, stdout, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5", "--json")
    assert code == 1
    result = summary(stdout)
    assert (result["images"], result["slides_embedded"], result["skipped"]) == (5, 1, 4)
    assert "slide nompp.tif failed: NoMppError" in stderr
    assert "--slide-mpp" in stderr
    assert "slide glass.svs failed: NoTissueError" in stderr
    assert "slide text.svs failed: OpenSlideUnsupportedFormatError" in stderr
    assert "slide cut.svs failed:" in stderr
    assert "4 of 5 slides could not be read or embedded" in stderr
    assert sorted(p.name for p in out.glob("*.h5")) == ["s1.h5"]
    prov = json.loads((out / "provenance.json").read_text())
    reasons = {f["path"]: f["error"].partition(":")[0] for f in prov["slides"]["failed"]}
    assert reasons["nompp.tif"] == "NoMppError"
    assert reasons["glass.svs"] == "NoTissueError"
    assert set(reasons) == {"nompp.tif", "cut.svs", "glass.svs", "text.svs"}
    # failed slides are done too: a second run does not retry them, and still says they failed
    code, _, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5")
    assert code == 1
    assert "nothing to do" in stderr


def test_slide_mpp_gives_a_scale(run_cli: Any, slide_manifest: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tiffs"
    folder.mkdir()
    write_generic_tiff(folder / "g.tif", slide_pixels())
    out = tmp_path / "feats"
    code, _, stderr = embed(
        run_cli, slide_manifest, [folder], out, "--format", "h5", "--slide-mpp", "0.25"
    )
    assert code == 0, stderr
    with h5py.File(out / "g.h5", "r") as f:
        assert [tuple(c) for c in f["coords"][:].tolist()] == TILES
        assert f["coords"].attrs["level0_mpp"] == 0.25
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["slides"]["slides"][0]["slide"]["mpp_source"] == "--slide-mpp"
    assert prov["slides"]["slides"][0]["read_level"] == 0  # one level only: read and resized


def test_overlap_and_scale(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    out = tmp_path / "half"
    code, _, stderr = embed(
        run_cli, slide_manifest, [slides], out, "--format", "h5", "--overlap", "16"
    )
    assert code == 0, stderr
    with h5py.File(out / "s1.h5", "r") as f:
        coords = f["coords"][:]
        assert (f["coords"].attrs["overlap"], f["coords"].attrs["patch_size_level0"]) == (16, 64)
    assert set(np.diff(np.unique(coords[:, 0]))) == {32}  # a tile every 32 level-0 pixels
    assert {tuple(t) for t in TILES} <= {tuple(c) for c in coords.tolist()}
    out = tmp_path / "fine"
    code, _, stderr = embed(
        run_cli, slide_manifest, [slides], out, "--format", "h5", "--mpp", "0.25"
    )
    assert code == 0, stderr
    with h5py.File(out / "s1.h5", "r") as f:
        assert len(f["coords"]) == 64  # 8 x 8 tiles of 32 level-0 pixels
        assert f["coords"].attrs["target_mpp"] == 0.25


def test_usage_errors(
    run_cli: Any,
    slide_manifest: Path,
    slides: Path,
    tmp_path: Path,
    write_manifest: Any,
    tiny_manifest_data: Any,
    images: Path,
) -> None:
    data = tiny_manifest_data(name="testing/nompp")
    data["input"]["size"] = [32, 32]
    no_mpp = write_manifest(tmp_path / "other", data)
    out = tmp_path / "feats"
    cases = [
        ((no_mpp, slides), (), "pass --mpp"),
        ((slide_manifest, slides), ("--overlap", "32"), "less than the tile size"),
        ((slide_manifest, slides), ("--out-indices", "1"), "--out-indices"),
        ((slide_manifest, images), ("--format", "h5"), "no slides in"),
    ]
    for (manifest, source), extra, message in cases:
        code, _, stderr = embed(run_cli, manifest, [source], out, "--random-init", *extra)
        assert code == 2, (extra, stderr)
        assert message in stderr, (extra, stderr)
        assert not out.exists()


def test_slide_names_must_be_unique(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    (slides / "sub").mkdir()
    shutil.copy(slides / "s1.svs", slides / "sub" / "s1.svs")
    code, _, stderr = embed(run_cli, slide_manifest, [slides], tmp_path / "o", "--format", "h5")
    assert code == 2
    assert "two slides are named 's1'" in stderr


def test_a_link_where_an_h5_goes_is_refused(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    out = tmp_path / "feats"
    code, _, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5")
    assert code == 0, stderr
    target = tmp_path / "precious"
    target.write_text("keep")
    (out / "s1.h5").unlink()
    (out / "s1.h5").symlink_to(target)
    code, _, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5", "--overwrite")
    assert code == 2
    assert "s1.h5" in stderr
    assert target.read_text() == "keep"


def test_slide_file_and_list_file(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text("slides/s1.svs\n")
    code, stdout, stderr = embed(
        run_cli, slide_manifest, [listed], tmp_path / "a", "--format", "h5", "--json"
    )
    assert code == 0, stderr
    assert summary(stdout)["embedded"] == 16
    code, stdout, stderr = embed(
        run_cli, slide_manifest, [slides / "s1.svs"], tmp_path / "b", "--json"
    )
    assert code == 0, stderr
    assert zoo.read_embeddings(tmp_path / "b").slides == ["s1"]


@pytest.mark.slow
def test_two_processes_write_each_slide_once(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    """Three slides over two gloo processes: each slide is written once, by one process, and
    equals one process's result; with one slide the other process has no work."""
    for number in (2, 3):
        write_svs(slides / f"s{number}.svs", slide_pixels(tissue=(0, 0, 64 * number, 128)))
    one, two = tmp_path / "one", tmp_path / "two"
    code, _, stderr = embed(run_cli, slide_manifest, [slides], one, "--format", "h5")
    assert code == 0, stderr
    done = run_process(
        [
            *embed_command(slide_manifest, [slides], two, "--format", "h5"),
            "--devices",
            "2",
            "--json",
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert summary(done.stdout)["world_size"] == 2
    records = [json.loads(p.read_text()) for p in (two / "shards").glob("*.json")]
    assert sorted((r["start"], r["rank"]) for r in records) == [(0, 0), (1, 1), (2, 0)]
    for name in ("s1", "s2", "s3"):
        with h5py.File(one / f"{name}.h5") as a, h5py.File(two / f"{name}.h5") as b:
            assert np.array_equal(a["coords"][:], b["coords"][:])
            np.testing.assert_allclose(a["features"][:], b["features"][:], rtol=1e-5, atol=1e-6)
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(slides / "s1.svs", lone / "s1.svs")
    done = run_process(
        [
            *embed_command(slide_manifest, [lone], tmp_path / "three", "--format", "h5"),
            "--devices",
            "2",
            "--json",
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert summary(done.stdout)["embedded"] == 16


def test_a_record_claims_only_names_a_slide_run_writes(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    """A hand-edited zoo-embed.json listing the user's file among a slide run's files does not
    make it zoo's: --overwrite refuses the folder and the file stays."""
    out = tmp_path / "feats"
    code, _, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5")
    assert code == 0, stderr
    (out / "notes.txt").write_text("mine")
    record = json.loads((out / "zoo-embed.json").read_text())
    record["slide_files"] += ["notes.txt", "../outside.h5", "thumbnails/../notes.txt"]
    (out / "zoo-embed.json").write_text(json.dumps(record))
    code, _, stderr = embed(run_cli, slide_manifest, [slides], out, "--format", "h5", "--overwrite")
    assert code == 2
    assert "notes.txt" in stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "s1.h5").is_file()


def test_missing_openslide_names_the_extra(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "openslide", None)  # as if not installed
    code, _, stderr = embed(run_cli, slide_manifest, [slides], tmp_path / "o", "--format", "h5")
    assert code == 1
    assert "pip install 'zoo-backbones[slides]'" in stderr
    assert "openslide-python" in stderr


def test_tif_is_a_slide_only_in_a_slide_run(
    run_cli: Any, slide_manifest: Path, tmp_path: Path
) -> None:
    """A folder of .tif files is a folder of images unless a slide option says otherwise."""
    folder = tmp_path / "tiffs"
    folder.mkdir()
    write_svs(folder / "scan.tif", slide_pixels())  # an Aperio slide with a .tif name
    code, stdout, stderr = embed(run_cli, slide_manifest, [folder], tmp_path / "a", "--json")
    assert code == 0, stderr
    assert summary(stdout)["kind"] == "image"
    code, stdout, stderr = embed(
        run_cli, slide_manifest, [folder], tmp_path / "b", "--slides", "--json"
    )
    assert code == 0, stderr
    result = summary(stdout)
    assert (result["kind"], result["embedded"]) == ("slide", 16)


@pytest.mark.parametrize("layout", ["safetensors", "h5"])
def test_a_slide_run_is_read_back_as_one_bag_per_slide(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path, layout: str
) -> None:
    # zoo embed SLIDES, then zoo embed --from-features on that output: each slide is a bag
    # whose encoder and scale come from the run's provenance (or its h5 attributes).
    from safetensors.numpy import load_file

    write_svs(slides / "s2.svs", slide_pixels(tissue=(0, 0, 128, 128)))
    feats = tmp_path / "feats"
    code, _, stderr = embed(run_cli, slide_manifest, [slides], feats, "--format", layout)
    assert code == 0, stderr
    out = tmp_path / "pooled"
    code, _, stderr = run_cli(
        "embed", slide_manifest, "--from-features", feats, "--slide-pool", "mean", "--out", out
    )
    assert code == 0, stderr
    got = load_file(str(out / "slide_embeddings.safetensors"))["slide_embeddings"]
    emb = zoo.read_embeddings(feats)
    want = np.stack([emb.slide(name).features.numpy().mean(axis=0) for name in ("s1", "s2")])
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_tiles_of_another_size_are_resized_whole_for_a_fixed_size_model(
    run_cli: Any, slide_manifest: Path, slides: Path, tmp_path: Path
) -> None:
    # TRIDENT's way: 64 px tiles cut at 0.5 µm/px, each resized whole to the 32x32 the model
    # takes (its evaluation resize; no crop), the tile size recorded is the one cut.
    import openslide
    from PIL import Image

    assert "dynamic_size: true" not in slide_manifest.read_text()  # it takes 32x32 only
    out = tmp_path / "feats"
    code, _, stderr = embed(
        run_cli, slide_manifest, [slides], out, "--tile-size", "64", "--format", "h5"
    )
    assert code == 0, stderr
    with h5py.File(out / "s1.h5") as f:
        coords = [tuple(map(int, c)) for c in f["coords"][:]]
        assert (f["coords"].attrs["patch_size"], f["coords"].attrs["patch_size_level0"]) == (
            64,
            128,
        )
        features = torch.from_numpy(f["features"][:])
    model = zoo.load_manifest(slide_manifest)
    spec = model.manifest.input
    mean = torch.tensor(spec.mean).view(3, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1)
    handle = openslide.OpenSlide(str(slides / "s1.svs"))
    tiles = []
    for x, y in coords:
        region = handle.read_region((x, y), 1, (64, 64)).convert("RGB")
        small = region.resize((32, 32), getattr(Image.Resampling, spec.interpolation.upper()))
        rgb = torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1).float() / 255
        tiles.append((rgb - mean) / std)
    with torch.no_grad():
        want = model(torch.stack(tiles))
    torch.testing.assert_close(features, want, rtol=1e-4, atol=1e-5)


def test_a_slide_encoder_over_slides_writes_tiles_then_slide_embeddings(
    run_cli: Any,
    slide_manifest: Path,
    slides: Path,
    tmp_path: Path,
    write_manifest: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # zoo embed <slide encoder> SLIDES: its paired patch encoder tiles the slides at the slide
    # encoder's scale into OUT/tiles, then the slide encoder embeds each slide into OUT/slides;
    # the same as the two commands run one after the other.
    from safetensors.numpy import load_file

    from tests.manifest.test_tiles_manifest import slide_data

    slide = slide_data(pairs_with=["testing/tiles"])
    slide["wrapper"]["arguments"] = {"feature_dim": 24, "head_dim": 8}
    slide["input"].update(feature_dim=24, tile_size=64)
    slide["output"]["embedding_dim"] = 24
    encoder = write_manifest(slide_manifest.parents[1], slide)
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(slide_manifest.parents[1]))
    write_svs(slides / "s2.svs", slide_pixels(tissue=(0, 0, 256, 256)))
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        "embed", encoder, slides, "--out", out, "--random-init", "--no-progress", "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["slides"]["slides"] == 2
    tiles = zoo.read_embeddings(out / "tiles")
    assert tiles.slides == ["s1", "s2"]
    prov = json.loads((out / "tiles" / "provenance.json").read_text())
    assert prov["model"]["name"] == "testing/tiles"
    assert (prov["slides"]["tiling"]["target_mpp"], prov["slides"]["tiling"]["tile_size"]) == (
        0.5,
        64,
    )
    got = load_file(str(out / "slides" / "slide_embeddings.safetensors"))["slide_embeddings"]
    by_hand = tmp_path / "by_hand"
    code, _, stderr = run_cli(
        "embed", encoder, "--from-features", out / "tiles", "--out", by_hand, "--random-init"
    )
    assert code == 0, stderr
    want = load_file(str(by_hand / "slide_embeddings.safetensors"))["slide_embeddings"]
    assert got.shape == (2, 24)
    np.testing.assert_allclose(got, want, rtol=1e-6)
