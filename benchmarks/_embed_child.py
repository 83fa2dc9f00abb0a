"""Child process of the ``embed`` benchmark.

    python benchmarks/_embed_child.py images FOLDER COUNT SIZE
    python benchmarks/_embed_child.py loop FOLDER ARCH BATCH WORKERS OUT

``images`` writes COUNT random RGB PNGs of SIZE x SIZE pixels under FOLDER, 1000 per
subfolder (once; a marker file says the set is complete). ``loop`` is what a user writes
without zoo: a DataLoader over the same files (sorted), the same evaluation transform,
the bare timm model on CPU, the rows saved to one safetensors file; it prints
``BENCH {json}`` with the images and the seconds of its loop.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

MARKER = ".complete"
PER_FOLDER = 1000


def emit(data: dict[str, Any]) -> None:
    print("BENCH " + json.dumps(data))


def images(folder: str, count: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    root = Path(folder)
    if (root / MARKER).is_file():
        return
    rng = np.random.default_rng(0)
    for i in range(count):
        sub = root / f"{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(sub / f"{i:07d}.png", compress_level=1)
    (root / MARKER).write_text(f"{count} images of {size}x{size}\n")


def loop(folder: str, arch: str, batch: int, workers: int, out: str) -> None:
    """The plain PyTorch baseline (see the module docstring)."""
    import timm
    import torch
    from PIL import Image
    from safetensors.torch import save_file
    from torchvision import transforms

    files = sorted(Path(folder).rglob("*.png"))
    tf = transforms.Compose(
        [
            transforms.Resize(248, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )

    class Images(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(files)

        def __getitem__(self, i: int) -> Any:
            with Image.open(files[i]) as im:
                return tf(im.convert("RGB"))

    model = timm.create_model(arch, num_classes=0).eval()
    loader = torch.utils.data.DataLoader(Images(), batch_size=batch, num_workers=workers)
    chunks = []
    start = time.perf_counter()
    with torch.inference_mode():
        for x in loader:
            chunks.append(model(x))
    seconds = time.perf_counter() - start
    Path(out).mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": torch.cat(chunks)}, str(Path(out) / "embeddings.safetensors"))
    emit({"images": len(files), "loop_s": seconds})


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "images":
        images(args[0], int(args[1]), int(args[2]))
    elif mode == "loop":
        loop(args[0], args[1], int(args[2]), int(args[3]), args[4])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
