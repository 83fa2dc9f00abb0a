"""Small whole-slide images written in the tests: an Aperio SVS (JPEG tiles, a pyramid, ``MPP``
in its ImageDescription; OpenSlide opens it as ``aperio``), a generic tiled TIFF that states
no scale, and a truncated SVS. Each has a known tissue square on white glass."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Level-0 size of the test slides (width, height) and their tissue (x0, y0, x1, y1), chosen
#: so that 32-pixel tiles at 0.5 µm/px on a 0.25 µm/px slide (64 level-0 pixels) fit it exactly.
SIZE = (1024, 768)
TISSUE = (384, 256, 640, 512)
#: Those tiles: level-0 top-left corners, row by row.
TILES = [(x, y) for y in range(256, 512, 64) for x in range(384, 640, 64)]
GLASS = (242, 242, 240)


def slide_pixels(
    size: tuple[int, int] = SIZE, tissue: tuple[int, int, int, int] | None = TISSUE
) -> np.ndarray:
    """White glass with a stained square (pink-purple, with some texture) at ``tissue``."""
    width, height = size
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = GLASS
    if tissue is not None:
        x0, y0, x1, y1 = tissue
        rng = np.random.default_rng(0)
        noise = rng.integers(-25, 25, (y1 - y0, x1 - x0, 1))
        base = np.array([190, 80, 160])
        pixels[y0:y1, x0:x1] = np.clip(base + noise, 0, 255).astype(np.uint8)
    return pixels


def write_svs(path: Path, pixels: np.ndarray, mpp: float | None = 0.25, levels: int = 3) -> Path:
    """An Aperio SVS: tiled JPEG levels, each half the one before; ``MPP`` when given."""
    import tifffile

    height, width = pixels.shape[:2]
    scale = f"|MPP = {mpp}" if mpp is not None else ""
    head = f"Aperio Image Library v12.0.15\n{width}x{height} [0,0 {width}x{height}] (256x256) JPEG/RGB Q=90"
    with tifffile.TiffWriter(path) as tif:
        level = pixels
        for number in range(levels):
            text = f"{head}|AppMag = 40{scale}" if number == 0 else head
            tif.write(
                level, tile=(128, 128), compression="jpeg", photometric="rgb",
                description=text, metadata=None,
            )  # fmt: skip
            level = level[::2, ::2]
    return path


def write_generic_tiff(path: Path, pixels: np.ndarray) -> Path:
    """A tiled TIFF without any scale (OpenSlide: ``generic-tiff``, no ``openslide.mpp-x``)."""
    import tifffile

    tifffile.imwrite(
        path, pixels, tile=(128, 128), compression="jpeg", photometric="rgb", metadata=None
    )
    return path


def write_truncated(path: Path, pixels: np.ndarray) -> Path:
    """An SVS cut off after its first kilobytes (a copy that stopped half-way)."""
    write_svs(path, pixels)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path
