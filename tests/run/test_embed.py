"""``zoo embed``: images found, read, embedded once each (1 and 2 processes), merged, with provenance."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import zoo
from zoo.errors import UsageError
from zoo.run.embed import check_out
from zoo.run.embed_io import collect_images

BAD = "sub/broken.png"


@pytest.fixture
def manifest_file(tmp_path: Path, write_manifest: Any, tiny_manifest_data: Any) -> Path:
    """A tiny ViT (32x32 input, 3 blocks) with a real local checkpoint, so every process agrees."""
    import timm
    from safetensors.torch import save_file

    kwargs = {"img_size": 32, "patch_size": 8, "depth": 3, "embed_dim": 24, "num_heads": 2}
    torch.manual_seed(0)
    source = timm.create_model("vit_tiny_patch16_224", num_classes=0, **kwargs)
    root = tmp_path / "catalog"
    (root / "testing").mkdir(parents=True)
    save_file(source.state_dict(), str(root / "testing" / "tiny.safetensors"))
    data = tiny_manifest_data(name="testing/tiny")
    data["wrapper"] = {"type": "timm", "architecture": "vit_tiny_patch16_224", "kwargs": kwargs}
    data["checkpoint"] = {"path": "tiny.safetensors"}
    data["input"]["size"] = [32, 32]
    data["output"].update(embedding_dim=24, feature_levels=3, feature_dim=24, patch_size=8)
    return write_manifest(root, data)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Ten images of varied sizes and modes in nested folders, plus one file that is not an image."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    for i in range(10):
        sub = folder / ("sub" if i % 3 == 0 else "") / ("deep" if i == 9 else "")
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (30 + 3 * i, 40 + 2 * i, 3), dtype=np.uint8)
        img = Image.fromarray(pixels)
        img = img.convert("L") if i == 4 else img.convert("RGBA") if i == 5 else img
        img.save(sub / f"img{i}.{'jpg' if i == 7 else 'png'}")
    (folder / BAD).write_bytes(b"this is not a png")
    (folder / "notes.txt").write_text("not an image extension: ignored")
    return folder


def direct(manifest: Path, folder: Path, keys: list[str], out_indices: Any = None) -> Any:
    """The same model run in this process, one image at a time."""
    from PIL import Image

    model = zoo.load_manifest(manifest, out_indices=out_indices)
    results = {}
    with torch.no_grad():
        for key in keys:
            with Image.open(folder / key) as img:
                results[key] = model(model.preprocess(img)[None])
    return results


def good_keys(folder: Path) -> list[str]:
    return sorted(k for k, _ in collect_images([folder]) if k != BAD)


# -- finding images ------------------------------------------------------------------------------


def test_collect_folder_and_list_file(images: Path, tmp_path: Path) -> None:
    found = collect_images([images])
    keys = [k for k, _ in found]
    assert keys == sorted(keys)
    assert len(keys) == 11
    assert "sub/deep/img9.png" in keys
    assert "notes.txt" not in keys
    listing = tmp_path / "list.txt"
    listing.write_text("# two images\nimages/img1.png\n\nimages/sub/img0.png\nimages/img1.png\n")
    listed = collect_images([listing])
    assert [k for k, _ in listed] == ["images/img1.png", "images/sub/img0.png"]
    assert listed[0][1] == tmp_path / "images" / "img1.png"


def test_collect_errors(images: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such folder or list file"):
        collect_images([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no images"):
        collect_images([tmp_path / "empty"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "img1.png").write_bytes((images / "img1.png").read_bytes())
    with pytest.raises(UsageError, match=r"two images have the key 'img1\.png'"):
        collect_images([images, other])


# -- one process ---------------------------------------------------------------------------------


def test_embed_one_process(run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        "embed",
        manifest_file,
        images,
        "--out",
        out,
        "--batch",
        "4",
        "--workers",
        "0",
        "--accelerator",
        "cpu",
        "--no-progress",
        "--json",
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["embedded"] == 10
    assert summary["skipped"] == 1
    assert summary["shapes"] == [[24]]
    from safetensors.torch import load_file

    got = load_file(str(out / "embeddings.safetensors"))
    keys = good_keys(images)
    assert sorted(got) == keys
    want = direct(manifest_file, images, keys)
    for key in keys:
        torch.testing.assert_close(got[key], want[key][0], rtol=1e-4, atol=1e-5)
    assert sorted(p.name for p in out.iterdir()) == ["embeddings.safetensors", "provenance.json"]

    prov = json.loads((out / "provenance.json").read_text())
    weights = manifest_file.parent / "tiny.safetensors"
    assert prov["model"]["name"] == "testing/tiny"
    assert (
        prov["model"]["manifest_sha256"] == hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    )
    assert prov["model"]["pretrained"] is True
    assert prov["weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (prov["weights"]["source"], prov["weights"]["field"]) == ("path", "checkpoint.path")
    assert prov["preprocessing"]["size"] == [32, 32]
    assert "EvalTransform" in prov["preprocessing"]["transform"]
    assert prov["output"]["kind"] == "embedding"
    assert prov["run"]["world_size"] == 1
    assert prov["images"]["count"] == 11
    assert [s["path"] for s in prov["images"]["skipped"]] == [BAD]
    assert {"zoo", "torch", "timm", "lightning"} <= set(prov["versions"])
    assert prov["created"].endswith("+00:00")

    # a second run refuses the folder, then replaces it with --overwrite
    code, _, stderr = run_cli("embed", manifest_file, images, "--out", out, "--workers", "0")
    assert code == 2  # a usage error: the folder is not empty
    assert "not empty" in stderr
    assert "--overwrite" in stderr
    code, _, stderr = run_cli(
        "embed",
        manifest_file,
        images,
        "--out",
        out,
        "--workers",
        "0",
        "--no-progress",
        "--accelerator",
        "cpu",
        "--overwrite",
        "--random-init",
        "--seed",
        "3",
    )
    assert code == 0, stderr
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["weights"] == {"source": "none", "note": "random initialization"}
    assert prov["model"]["seed"] == 3


def test_embed_feature_maps_parquet(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    code, _, stderr = run_cli(
        "embed",
        manifest_file,
        images,
        "--out",
        out,
        "--out-indices",
        "(-1, 0)",
        "--format",
        "parquet",
        "--workers",
        "1",
        "--batch",
        "3",
        "--accelerator",
        "cpu",
        "--no-progress",
    )
    assert code == 0, stderr
    table = pq.read_table(out / "embeddings.parquet")
    keys = good_keys(images)
    assert table.column_names == ["path", "feature_0", "feature_1"]
    assert table.column("path").to_pylist() == keys
    shapes = json.loads(table.schema.metadata[b"zoo.shapes"])
    assert shapes == {"feature_0": [24, 4, 4], "feature_1": [24, 4, 4]}
    want = direct(manifest_file, images, keys, out_indices=(-1, 0))
    for row, key in enumerate(keys):
        for level in range(2):
            got = torch.tensor(table.column(f"feature_{level}")[row].as_py()).reshape(24, 4, 4)
            torch.testing.assert_close(got, want[key][level][0], rtol=1e-4, atol=1e-5)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["output"]["kind"] == "feature_maps"
    assert prov["output"]["out_indices"] == [-1, 0]


def test_embed_usage_errors(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    code, _, stderr = run_cli("embed", manifest_file, tmp_path / "nowhere", "--out", tmp_path / "o")
    assert code == 2
    assert "no such folder or list file" in stderr
    (tmp_path / "file").write_text("x")
    code, _, stderr = run_cli("embed", manifest_file, images, "--out", tmp_path / "file")
    assert code == 2  # a usage error, caught by click
    assert "is a file" in stderr
    with pytest.raises(UsageError, match="is a file"):
        check_out(tmp_path / "file", overwrite=True)
    code, _, stderr = run_cli(
        "embed", manifest_file, images, "--out", tmp_path / "o", "--out-indices", "x"
    )
    assert code == 2
    assert "out_indices" in stderr
    code, _, stderr = run_cli(
        "embed", manifest_file, images, "--out", tmp_path / "o", "--precision", "fp8"
    )
    assert code == 2
    assert "--precision 'fp8'" in stderr
    code, _, stderr = run_cli("embed", manifest_file, images, "--out", images.parent, "--overwrite")
    assert code == 2
    assert "holds input images" in stderr
    code, _, stderr = run_cli("embed", "testing/nope", images, "--out", tmp_path / "o")
    assert code == 1
    assert "no model named" in stderr
    assert not (tmp_path / "o").exists()


# -- two processes -------------------------------------------------------------------------------


def test_embed_ddp_two_cpu_processes(manifest_file: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "zoo",
        "embed",
        str(manifest_file),
        str(images),
        "--out",
        str(out),
        "--devices",
        "2",
        "--accelerator",
        "cpu",
        "--batch",
        "2",
        "--workers",
        "0",
        "--no-progress",
        "--json",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ), timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)  # printed once, by rank 0
    assert summary["world_size"] == 2
    assert summary["embedded"] == 10
    from safetensors.torch import load_file

    got = load_file(str(out / "embeddings.safetensors"))
    keys = good_keys(images)
    assert sorted(got) == keys  # every readable image exactly once
    want = direct(manifest_file, images, keys)
    for key in keys:
        torch.testing.assert_close(got[key], want[key][0], rtol=1e-4, atol=1e-5)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["run"]["world_size"] == 2
    assert [s["path"] for s in prov["images"]["skipped"]] == [BAD]
    assert sorted(p.name for p in out.iterdir()) == ["embeddings.safetensors", "provenance.json"]
