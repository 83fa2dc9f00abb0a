"""Child process of the ``slides`` benchmark.

    python benchmarks/_slides_child.py slides FOLDER COUNT WIDTH HEIGHT
    python benchmarks/_slides_child.py loop SLIDE COORDS ARCH BATCH WORKERS OUT

``slides`` writes COUNT Aperio SVS files (JPEG tiles of 256, three levels, 0.25 µm/px),
each textured tissue on glass with a margin of glass around it (once; a marker file says
the set is complete). ``loop`` is what a user writes without zoo: the tile coordinates
(a ``.npy`` of level-0 top-left corners, the ones ``zoo embed`` cut), a DataLoader whose
dataset opens the slide once per worker and reads each tile with ``read_region`` from
the level ``get_best_level_for_downsample`` gives, resized to 224 and normalised, the
bare timm model on CPU, the rows saved to one file; it prints ``BENCH {json}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

MARKER = ".complete"
MPP = 0.25


def emit(data: dict[str, Any]) -> None:
    print("BENCH " + json.dumps(data))


def slides(folder: str, count: int, width: int, height: int) -> None:
    import numpy as np
    import tifffile

    root = Path(folder)
    if (root / MARKER).is_file():
        return
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for number in range(count):
        pixels = np.full((height, width, 3), 242, dtype=np.uint8)
        margin = 256
        inner = (height - 2 * margin, width - 2 * margin)
        noise = rng.integers(-40, 40, (*inner, 1))
        pixels[margin:-margin, margin:-margin] = np.clip(
            np.array([190, 80, 160]) + noise, 0, 255
        ).astype(np.uint8)
        desc = f"Aperio Image Library v12.0.15\n{width}x{height} (256x256) JPEG/RGB Q=80"
        with tifffile.TiffWriter(root / f"slide{number:03d}.svs") as tif:
            level = pixels
            for index in range(3):
                text = f"{desc}|AppMag = 40|MPP = {MPP}" if index == 0 else desc
                tif.write(
                    level, tile=(256, 256), compression="jpeg", photometric="rgb",
                    description=text, metadata=None,
                )  # fmt: skip
                level = level[::2, ::2]
    (root / MARKER).write_text(f"{count} slides of {width}x{height}\n")


def loop(
    slide: str, coords_file: str, arch: str, batch: int, workers: int, out: str, mpp: float
) -> None:
    """The plain OpenSlide + DataLoader + timm baseline (see the module docstring)."""
    import numpy as np
    import openslide
    import timm
    import torch
    from safetensors.torch import save_file
    from torchvision import transforms

    coords = np.load(coords_file)
    norm = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    )

    class Tiles(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.handle: Any = None

        def __len__(self) -> int:
            return len(coords)

        def __getitem__(self, i: int) -> Any:
            if self.handle is None:
                self.handle = openslide.OpenSlide(slide)
            downsample = mpp / float(self.handle.properties["openslide.mpp-x"])
            level = self.handle.get_best_level_for_downsample(downsample)
            size0 = round(224 * downsample)
            size = round(size0 / self.handle.level_downsamples[level])
            x, y = coords[i]
            tile = self.handle.read_region((int(x), int(y)), level, (size, size)).convert("RGB")
            return norm(tile.resize((224, 224)))

    model = timm.create_model(arch, num_classes=0).eval()
    loader = torch.utils.data.DataLoader(Tiles(), batch_size=batch, num_workers=workers)
    chunks = []
    start = time.perf_counter()
    with torch.inference_mode():
        for x in loader:
            chunks.append(model(x))
    seconds = time.perf_counter() - start
    Path(out).mkdir(parents=True, exist_ok=True)
    save_file({"features": torch.cat(chunks)}, str(Path(out) / "features.safetensors"))
    emit({"tiles": len(coords), "loop_s": seconds})


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "slides":
        slides(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif mode == "loop":
        loop(args[0], args[1], args[2], int(args[3]), int(args[4]), args[5], float(args[6]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
