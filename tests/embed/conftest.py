"""Fixtures of the ``zoo embed`` tests: a tiny ViT with a real local checkpoint, a folder of images,
and helpers to run the command and read what it wrote."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

BAD = "sub/broken.png"
#: Fast, deterministic settings for the command under test.
QUICK = ("--workers", "0", "--accelerator", "cpu", "--batch", "4", "--no-progress")


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


def write_images(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` small RGB PNGs ``img<i>.png`` (sorted by name in creation order)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = []
    for i in range(count):
        file = folder / f"img{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (20 + i % 7, 24, 3), dtype=np.uint8)).save(file)
        files.append(file)
    return files


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


def embed(run_cli: Any, manifest: Path, sources: Sequence[Any], out: Path, *extra: Any) -> Any:
    """``zoo embed`` in this process with the quick settings; returns ``(code, stdout, stderr)``."""
    return run_cli("embed", manifest, *sources, "--out", out, *QUICK, *extra)


def embed_command(manifest: Path, sources: Sequence[Any], out: Path, *extra: Any) -> list[str]:
    """The same as a command line for a subprocess (``python -m zoo embed ...``)."""
    return [sys.executable, "-m", "zoo", "embed", str(manifest), *map(str, sources)] + [
        str(a) for a in ("--out", out, *QUICK, *extra)
    ]


def run_process(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ), timeout=300, **kwargs
    )


def direct(manifest: Path, files: dict[str, Path], out_indices: Any = None) -> dict[str, Any]:
    """The same model run in this process, one image at a time: key -> outputs."""
    from PIL import Image

    import zoo

    model = zoo.load_manifest(manifest, out_indices=out_indices)
    results = {}
    with torch.no_grad():
        for key, file in files.items():
            with Image.open(file) as img:
                out = model(model.preprocess(img)[None])
            results[key] = [t[0] for t in out] if isinstance(out, list) else [out[0]]
    return results


def rows(out: Path) -> tuple[list[str], dict[str, torch.Tensor]]:
    """Keys and every level of an output folder, read with zoo's reader."""
    import zoo

    emb = zoo.read_embeddings(out)
    return list(emb.keys), {name: emb[name][:] for name in emb.levels}


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: relative path -> sha256 of a file, ``dir`` for a folder."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        found[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def summary(stdout: str) -> dict[str, Any]:
    """The ``--json`` summary: stdout is exactly one JSON document."""
    data = json.loads(stdout)
    assert isinstance(data, dict)
    return data
