"""Reading tiles in data-loader workers: one OpenSlide handle per worker, kept while the worker
reads tiles of the same slide (tiles arrive slide after slide), closed when it moves on.

A tile is read with ``read_region`` (RGBA; pixels outside the scanned area are transparent
and become white, like glass), resized to the tile size and normalised with the entry's
mean and std. There is no resize or crop of the model's evaluation transform: a crop would
change the physical scale the tiles were cut at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.embed.slides.open import open_slide


@dataclass(frozen=True)
class SlideRead:
    """How to read one slide's tiles: its file, pyramid level, size there, and target size."""

    path: str
    level: int
    read_size: int
    tile_size: int


class Normalise:
    """``(pixel / 255 - mean) / std`` per channel, ``[H, W, 3]`` uint8 to ``[3, H, W]`` float32.

    With ``size`` (a model that takes one input size only, tiles of another size) the whole tile
    is first resized to ``size`` with the entry's interpolation, as its evaluation transform
    resizes: never cropped, so the tile's field of view is kept.
    """

    def __init__(
        self,
        mean: list[float],
        std: list[float],
        size: tuple[int, int] | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, 1, -1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, 1, -1)
        self.size, self.interpolation = size, interpolation

    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        if self.size is not None and rgb.shape[:2] != self.size:
            from PIL import Image

            resample = getattr(Image.Resampling, self.interpolation.upper())
            height, width = self.size
            rgb = np.asarray(Image.fromarray(rgb).resize((width, height), resample))
        x = (rgb.astype(np.float32) / 255.0 - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))

    def __repr__(self) -> str:
        mean, std = self.mean.reshape(-1).tolist(), self.std.reshape(-1).tolist()
        resize = (
            f"each tile resized to {self.size[0]}x{self.size[1]} ({self.interpolation})"
            if self.size is not None
            else "no resize"
        )
        return f"Normalise(mean={mean}, std={std}, {resize}, no crop)"


def read_tile(slide: Any, read: SlideRead, x: int, y: int) -> np.ndarray:
    """One tile, RGB uint8 ``[tile_size, tile_size, 3]``: transparent pixels white."""
    from PIL import Image

    region = slide.read_region((int(x), int(y)), read.level, (read.read_size, read.read_size))
    white = Image.new("RGBA", region.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, region).convert("RGB")
    if rgb.size != (read.tile_size, read.tile_size):
        rgb = rgb.resize((read.tile_size, read.tile_size), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


class TileDataset(torch.utils.data.Dataset):
    """The tiles of a process's slides, slide after slide; item ``i`` is tile ``i`` of them all.

    A tile that cannot be read yields its error instead of raising (the writer then records
    its slide as failed, and the other slides go on).
    """

    def __init__(
        self, reads: list[SlideRead], slide_of: np.ndarray, coords: np.ndarray, transform: Any
    ) -> None:
        self.reads, self.slide_of, self.coords = reads, slide_of, coords
        self.transform = transform
        self._open: tuple[int, Any] | None = None

    def __len__(self) -> int:
        return len(self.slide_of)

    def _slide(self, number: int) -> Any:
        if self._open is not None and self._open[0] == number:
            return self._open[1]
        self.close()
        slide = open_slide(Path(self.reads[number].path))
        self._open = (number, slide)
        return slide

    def close(self) -> None:
        """Close the open slide, if any."""
        if self._open is not None:
            self._open[1].close()
            self._open = None

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        index = int(index)
        number = int(self.slide_of[index])
        x, y = self.coords[index]
        try:
            tile = read_tile(self._slide(number), self.reads[number], int(x), int(y))
            return index, self.transform(tile), None
        except Exception as exc:  # reported for its slide, never fatal to the run
            self.close()  # OpenSlide errors are sticky: a later read of the handle fails too
            return index, None, f"{type(exc).__name__}: {exc} (tile at x={x}, y={y})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"] = None  # each worker opens its own handle
        return state
