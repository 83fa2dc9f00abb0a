"""``zoo embed`` on volumes: NIfTI files (reoriented and resampled through their affine) and
``.npy`` arrays through a 3-D encoder, with the output format, keys, resuming and provenance of
images; rows equal a direct ``model(model.preprocess(volume)[None])`` call."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from tests.embed.conftest import QUICK, rows, summary
from zoo.catalog.parse import read_manifest

pytest.importorskip("lightning")
pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

#: A tiny SegResNet encoder: maps of 8 and 16 channels at strides 1 and 2, both pooled (24-d).
NETWORK: dict[str, Any] = {"type": "monai", "network": "SegResNet"}
NETWORK["kwargs"] = {"init_filters": 8, "blocks_down": [1, 1]}
INPUT: dict[str, Any] = {
    "kind": "volume",
    "size": [8, 8, 8],
    "channels": 1,
    "spacing": [2.0, 2.0, 2.0],
    "orientation": "RAS",
    "intensity": {"window": [-100, 200], "range": [0, 1]},
    "dynamic_size": True,
}
OUTPUT: dict[str, Any] = {
    "embedding_dim": 24,
    "pooling": "mean",
    "feature_levels": 2,
    "feature_dim": [8, 16],
    "grid": {"strides": [1, 2], "multiple": 2, "pool": [0, 1]},
}
GOOD = ["a.nii.gz", "c.npy", "d.npy", "sub/b.nii"]
BROKEN = ["broken.nii.gz", "nan.nii.gz", "objects.npy"]


@pytest.fixture
def ct_manifest(tmp_path: Path) -> Path:
    """The tiny encoder with a real checkpoint (its weights saved from a seeded build)."""
    from safetensors.torch import save_file

    import zoo

    data = {"schema_version": 1, "name": "testing/tiny_ct", "wrapper": NETWORK}
    data.update(input=INPUT, output=OUTPUT)
    root = tmp_path / "catalog" / "testing"
    root.mkdir(parents=True)
    path = root / "tiny_ct.yaml"
    path.write_text(yaml.safe_dump(data))
    torch.manual_seed(0)
    built = zoo.load_manifest(path, pretrained=False)
    save_file(built.backbone.state_dict(), str(root / "tiny_ct.safetensors"))
    data["checkpoint"] = {"path": "tiny_ct.safetensors"}
    path.write_text(yaml.safe_dump(data))
    return path


def _nifti(file: Path, array: np.ndarray, affine: np.ndarray) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), str(file))


@pytest.fixture
def volumes(tmp_path: Path) -> Path:
    """Two NIfTI files whose affines need reorienting and resampling, two .npy arrays, two
    unreadable files, and files zoo embed does not read for volumes."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "ct"
    hu = lambda *shape: rng.uniform(-300, 400, shape).astype(np.float32)  # noqa: E731
    # LPS voxel axes at 1.5 x 1.5 x 3 mm: RAS orientation flips two axes, 2 mm resamples all three
    _nifti(folder / "a.nii.gz", hu(12, 10, 6), np.diag([-1.5, -1.5, 3.0, 1.0]))
    _nifti(folder / "sub" / "b.nii", hu(9, 7, 11), np.diag([1.0, 1.0, 1.0, 1.0]))
    np.save(folder / "c.npy", hu(8, 6, 10))
    np.save(folder / "d.npy", hu(1, 4, 8, 8))  # channels first
    (folder / "broken.nii.gz").write_bytes(b"not a NIfTI file")
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _nifti(folder / "nan.nii.gz", np.full((8, 8, 8), np.nan, dtype=np.float32), np.eye(4))
    (folder / "notes.txt").write_text("not a volume")
    (folder / "slice.png").write_bytes(b"an image: not read for a 3-D encoder")
    return folder


def _read(file: Path) -> Any:
    """A volume as a user reads it: MONAI's own NIfTI loader (affine kept), or numpy."""
    if file.suffix == ".npy":
        return np.load(file)
    from monai.transforms import LoadImage

    return LoadImage(reader="NibabelReader", image_only=True, ensure_channel_first=True)(file)


def _direct(manifest: Path, folder: Path, out_indices: Any = None, transform: Any = None) -> Any:
    import zoo

    model = zoo.load_manifest(manifest, out_indices=out_indices)
    transform = transform or model.preprocess
    found = {}
    with torch.no_grad():
        for key in GOOD:
            out = model(transform(_read(folder / key))[None])
            found[key] = [t[0] for t in out] if isinstance(out, list) else [out[0]]
    return found


def test_embed_reads_nifti_and_npy_volumes(
    run_cli: Any, ct_manifest: Path, volumes: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        "embed", ct_manifest, volumes, "--out", out, *QUICK, "--shard-size", "3", "--json"
    )
    assert code == 0, stderr
    result = summary(stdout)
    assert (result["kind"], result["images"], result["embedded"]) == ("volume", 7, 4)
    assert result["shapes"] == [[24]]
    # unreadable volumes are named as they happen and counted at the end, like images
    assert "skipped broken.nii.gz: " in stderr
    assert (
        f"skipped nan.nii.gz: VolumeValueError: {volumes / 'nan.nii.gz'}: the volume holds NaN"
        in stderr
    )
    assert "skipped objects.npy: ValueError" in stderr
    assert "3 of 7 volumes could not be read or embedded and were skipped: broken.nii.gz" in stderr

    keys, levels = rows(out)
    assert keys == GOOD  # one key rule: paths relative to the folder, .nii.gz whole
    want = _direct(ct_manifest, volumes)
    for row, key in enumerate(keys):
        torch.testing.assert_close(levels["embedding"][row], want[key][0], rtol=1e-4, atol=1e-5)

    # the NIfTI rows went through reorientation and resampling: not the raw array's embedding
    import zoo

    model = zoo.load_manifest(ct_manifest)
    with torch.no_grad():
        raw = model(model.preprocess(nib.load(str(volumes / "a.nii.gz")).get_fdata())[None])[0]
    assert not torch.allclose(levels["embedding"][0], raw, atol=1e-4)

    prov = json.loads((out / "provenance.json").read_text())
    assert "VolumeTransform" in prov["preprocessing"]["transform"]
    assert prov["preprocessing"]["kind"] == "volume"
    assert sorted(s["path"] for s in prov["images"]["skipped"]) == BROKEN
    assert prov["images"]["count"] == 7

    # the same command resumes: nothing left to do
    code, stdout, stderr = run_cli(
        "embed", ct_manifest, volumes, "--out", out, *QUICK, "--shard-size", "3", "--json"
    )
    assert code == 0, stderr
    assert "all 7 volumes are already done" in stderr
    again = summary(stdout)
    assert (again["computed"], again["reused"]) == (0, 4)


def test_feature_maps_of_volumes_are_taken_at_the_input_size(
    run_cli: Any, ct_manifest: Path, volumes: Path, tmp_path: Path
) -> None:
    from zoo.catalog.parse import read_manifest
    from zoo.loading.preprocess_volume import VolumeTransform

    out = tmp_path / "maps"
    code, _, stderr = run_cli(
        "embed", ct_manifest, volumes, "--out", out, *QUICK, "--out-indices", "-1,0"
    )
    assert code == 0, stderr
    assert "feature maps of volumes are taken at input.size [8, 8, 8]" in stderr
    keys, levels = rows(out)
    assert keys == GOOD
    assert levels["feature_0"].shape == (4, 16, 4, 4, 4)  # the deepest map first, as asked
    assert levels["feature_1"].shape == (4, 8, 8, 8, 8)
    manifest = read_manifest(ct_manifest)
    fixed = manifest.model_copy(
        update={"input": manifest.input.model_copy(update={"dynamic_size": False})}
    )
    want = _direct(ct_manifest, volumes, out_indices=(-1, 0), transform=VolumeTransform(fixed))
    for row, key in enumerate(keys):
        for j, name in enumerate(("feature_0", "feature_1")):
            torch.testing.assert_close(levels[name][row], want[key][j], rtol=1e-4, atol=1e-5)


def test_a_list_of_files_that_are_not_volumes_is_refused(
    run_cli: Any, ct_manifest: Path, volumes: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "cases.txt"
    listing.write_text(f"{volumes / 'a.nii.gz'}\n{volumes / 'slice.png'}\nscan.mha\n")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("embed", ct_manifest, listing, "--out", out, *QUICK)
    assert code == 2  # a usage error
    assert stdout == ""
    message = stderr.strip()
    assert "\n" not in message
    assert "2 listed file(s) are not volumes zoo embed reads" in message
    assert "slice.png" in message
    assert "scan.mha" in message
    assert ".nii, .nii.gz, .npy" in message
    assert not out.exists()


def test_a_folder_without_volumes_is_refused(
    run_cli: Any, ct_manifest: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pngs"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"")
    code, _, stderr = run_cli("embed", ct_manifest, folder, "--out", tmp_path / "out", *QUICK)
    assert code == 2
    assert f"no volumes in {folder} (extensions: .nii, .nii.gz, .npy)" in stderr


def test_nifti_without_nibabel_is_one_error_naming_the_extra(
    run_cli: Any, ct_manifest: Path, volumes: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setitem(sys.modules, "nibabel", None)  # as if it were not installed
    out = tmp_path / "out"
    code, _, stderr = run_cli("embed", ct_manifest, volumes, "--out", out, *QUICK)
    assert code == 1
    assert "reading NIfTI volumes needs the 'nibabel' package" in stderr
    assert "pip install 'zoo-backbones[monai]'" in stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ct.nii.gz", ".nii.gz"),
        ("CT.NII.GZ", ".nii.gz"),
        ("ct.nii", ".nii"),
        ("ct.npy", ".npy"),
        ("a.b.png", ".png"),
        (".nii.gz", ".gz"),  # a hidden name, not a type of two parts
        ("archive.gz", ".gz"),
        ("noext", ""),
    ],
)
def test_file_types(name: str, kind: str) -> None:
    from zoo.embed.images import suffix

    assert suffix(name) == kind


def test_read_volume_channels_and_refusals(tmp_path: Path) -> None:
    from zoo.embed.volumes import read_volume

    four = tmp_path / "two_channels.nii.gz"
    _nifti(four, np.zeros((5, 6, 7, 2), dtype=np.float32), np.eye(4))
    volume = read_volume(four)
    assert tuple(volume.shape) == (2, 5, 6, 7)  # NIfTI's fourth axis becomes channels, first
    assert torch.equal(volume.affine, torch.eye(4, dtype=torch.float64))
    flat = tmp_path / "slice.nii"
    _nifti(flat, np.zeros((5, 6), dtype=np.float32), np.eye(4))
    with pytest.raises(ValueError, match=r"has 3 axes .* this one has 2: shape"):
        read_volume(flat)
    words = tmp_path / "words.npy"
    np.save(words, np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"a \.npy volume holds numbers, not <U1"):
        read_volume(words)
    with pytest.raises(ValueError, match=r"reads volumes from \.nii, \.nii\.gz and \.npy files"):
        read_volume(tmp_path / "scan.mha")


def test_a_sheared_header_is_refused_before_resampling(ct_manifest: Path, tmp_path: Path) -> None:
    """A 16^3 NIfTI whose affine shears each axis by 1000 would resample (RAS, 2 mm) to about
    8000^3 voxels: terabytes. The size is computed first and refused, naming the file."""
    from zoo.embed.volumes import read_volume
    from zoo.loading.preprocess import transforms
    from zoo.loading.preprocess_volume import VolumeSizeError

    affine = np.array([[1, 1000, 0, 0], [0, 1, 1000, 0], [1000, 0, 1, 0], [0, 0, 0, 1]], float)
    file = tmp_path / "sheared.nii.gz"
    _nifti(file, np.zeros((16, 16, 16), dtype=np.float32), affine)
    assert file.stat().st_size < 20_000
    transform = transforms(read_manifest(ct_manifest))
    with pytest.raises(
        VolumeSizeError,
        match=r"sheared\.nii\.gz: the volume would be \d+x\d+x\d+ voxels once resampled",
    ):
        transform(read_volume(file))


def test_a_header_claiming_a_huge_volume_is_refused_before_reading(tmp_path: Path) -> None:
    from zoo.embed.volumes import read_volume
    from zoo.loading.preprocess_volume import VolumeSizeError

    file = tmp_path / "huge.nii"
    header = nib.Nifti1Header()
    header.set_data_shape((4096, 4096, 4096))
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    file.write_bytes(header.binaryblock + b"\0" * 4)  # 356 bytes claiming 64 GiB of voxels
    with pytest.raises(VolumeSizeError, match="4096x4096x4096 voxels, more than"):
        read_volume(file)
