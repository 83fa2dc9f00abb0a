"""``zoo embed`` input: images found in folders and list files, their keys, the packed list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.embed.conftest import BAD, embed, summary, write_images
from zoo.embed.images import ImageDataset, collect_images, entry_key, list_entries
from zoo.errors import UsageError


def keys_of(images: object) -> list[str]:
    return list(images.keys())  # type: ignore[attr-defined]


def test_folder_keys_are_relative_and_sorted(images: Path) -> None:
    found = collect_images([images])
    keys = keys_of(found)
    assert keys == sorted(keys)
    assert len(keys) == 11
    assert "sub/deep/img9.png" in keys
    assert "notes.txt" not in keys
    assert found.file(keys.index(BAD)) == images.absolute() / BAD
    (images / ".hidden").mkdir()
    write_images(images / ".hidden", 1)
    (images / ".dot.png").write_bytes(b"x")
    assert keys_of(collect_images([images])) == keys


def test_list_file_keys_relative_to_the_list_and_normalized(images: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# two images, one listed three times\n"
        "images/img1.png\n\n"
        "  images/sub/img0.png  \n"
        "./images/img1.png\n"
        "images/sub/../img1.png\r\n"
    )
    listed = collect_images([listing])
    assert keys_of(listed) == ["images/img1.png", "images/sub/img0.png"]
    assert listed.file(0) == tmp_path / "images" / "img1.png"


def test_only_whole_line_comments(tmp_path: Path) -> None:
    write_images(tmp_path, 1)
    (tmp_path / "slide#3.png").write_bytes((tmp_path / "img000.png").read_bytes())
    listing = tmp_path / "list.txt"
    listing.write_text(
        "#img000.png\n   # indented comment\nslide#3.png\nimg000.png # not a comment\n"
    )
    assert list_entries(listing) == ["slide#3.png", "img000.png # not a comment"]
    with pytest.raises(UsageError, match=r"img000\.png # not a comment"):
        collect_images([listing])  # the `#` part is part of the path: that file does not exist
    listing.write_text("#img000.png\nslide#3.png\n")
    assert keys_of(collect_images([listing])) == ["slide#3.png"]


def test_absolute_entries_keep_their_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data"
    write_images(folder, 2)
    lists = tmp_path / "lists"
    lists.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    listing = lists / "list.txt"
    listing.write_text(f"{folder}/sub/../img000.png\n~/data/img001.png\n../data/img001.png\n")
    found = collect_images([listing])
    assert keys_of(found) == [
        "../data/img001.png",
        f"{folder.as_posix()}/img000.png",
        f"{folder.as_posix()}/img001.png",
    ]
    assert found.file(1) == folder / "img000.png"
    assert entry_key("/a/./b/../c.png") == "/a/c.png"
    assert entry_key("x//y/./z.png") == "x/y/z.png"


def test_missing_listed_files_are_an_error_unless_skipped(tmp_path: Path) -> None:
    write_images(tmp_path, 1)
    listing = tmp_path / "list.txt"
    (tmp_path / "folder.png").mkdir()  # not a file either
    listing.write_text("img000.png\ngone1.png\ngone2.png\nfolder.png\n")
    with pytest.raises(UsageError, match=r"3 listed image\(s\) do not exist") as caught:
        collect_images([listing])
    assert "gone1.png" in str(caught.value)
    assert "--skip-missing" in str(caught.value)
    found = collect_images([listing], skip_missing=True)
    assert keys_of(found) == ["folder.png", "gone1.png", "gone2.png", "img000.png"]
    assert found.missing == 3
    index, tensor, error = ImageDataset(found, transform=lambda img: img)[1]
    assert (index, tensor) == (1, None)
    assert str(error).startswith("FileNotFoundError")


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
    # the same file reached twice counts once
    listing = images / "list.txt"
    listing.write_text("img1.png\n")
    assert keys_of(collect_images([images, listing])) == keys_of(collect_images([images]))


def test_packed_list(tmp_path: Path) -> None:
    write_images(tmp_path / "ü", 3)
    found = collect_images([tmp_path])
    assert len(found) == 3
    assert found.key(2) == "ü/img002.png"
    blob, offsets = found.encoded([2, 0])
    assert offsets.tolist() == [0, 13, 26]
    assert blob.tobytes().decode() == "ü/img002.pngü/img000.png"
    assert found.encoded([])[1].tolist() == [0]
    again = collect_images([tmp_path])
    assert found.sha256() == again.sha256()
    write_images(tmp_path / "ü", 4)
    assert collect_images([tmp_path]).sha256() != found.sha256()


def test_a_symlink_loop_in_an_image_folder_is_one_line(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    (images / "loop.png").symlink_to(images / "loop2.png")
    (images / "loop2.png").symlink_to(images / "loop.png")
    with pytest.raises(UsageError, match=r"loop2?\.png: Too many levels of symbolic links"):
        collect_images([images])
    code, stdout, stderr = embed(run_cli, manifest_file, [images], tmp_path / "out")
    assert code == 2
    assert stderr.startswith("error: ")
    assert "Too many levels of symbolic links" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert stdout == ""
    assert not (tmp_path / "out").exists()


def test_strips_and_nan_rows_are_skipped_and_counted(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    """A 20000x1 PNG is skipped before any resize (it once cost 5.9 GB); a checkpoint whose
    outputs are NaN gives no NaN rows: each image is an error naming it."""
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.torch import load_file, save_file

    Image.fromarray(np.full((1, 20000), 200, dtype=np.uint8)).save(images / "strip.png")
    weights = manifest_file.parent / "tiny.safetensors"
    state = load_file(str(weights))
    state = {k: torch.full_like(v, float("nan")) if "norm" in k else v for k, v in state.items()}
    save_file(state, str(weights))
    out = tmp_path / "out"
    code, stdout, stderr = embed(run_cli, manifest_file, [images], out, "--json")
    assert code == 0, stderr
    result = summary(stdout)
    assert (result["images"], result["embedded"], result["skipped"]) == (12, 0, 12)
    reasons = {"ImageSizeError": 1, "NonFiniteEmbeddingError": 10, "UnidentifiedImageError": 1}
    assert result["skipped_reasons"] == reasons
    assert "skipped img1.png: NonFiniteEmbeddingError: the model's output" in stderr
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["images"]["skipped_reasons"] == reasons
    strip = next(s for s in prov["images"]["skipped"] if s["path"] == "strip.png")
    assert strip["error"].startswith("ImageSizeError: the image is 20000x1, more than 100 times")
