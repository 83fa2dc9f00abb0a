"""The tissue finder and the tiling on arrays: Otsu's threshold, the morphology, glass alone, the
pyramid level a tile is read from, and which tiles a mask keeps."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.embed.slides.open import SlideInfo
from zoo.embed.slides.tiling import Tiling, best_level, cut
from zoo.embed.slides.tissue import MIN_SATURATION, morphology, otsu, saturation, tissue_mask


def test_otsu_splits_two_populations() -> None:
    values = np.concatenate([np.full(900, 10), np.full(100, 200)]).astype(np.uint8)
    threshold = otsu(values)
    assert 10 <= threshold < 200
    assert otsu(np.zeros(0, dtype=np.uint8)) == 255


def test_saturation_of_grey_and_colour() -> None:
    rgb = np.array([[[240, 240, 240], [0, 0, 0], [200, 100, 100]]], dtype=np.uint8)
    assert saturation(rgb).tolist() == [[0, 0, 127]]


def test_morphology_fills_holes_and_drops_specks() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 10:30] = True
    mask[20, 20] = False  # a hole in the tissue
    mask[2, 36] = True  # a speck on the glass
    cleaned = morphology(mask)
    assert cleaned[20, 20]
    assert not cleaned[2, 36]
    assert cleaned[10:30, 10:30].all()
    assert cleaned.sum() == 400


def test_glass_alone_has_no_tissue() -> None:
    rng = np.random.default_rng(0)
    glass = np.clip(240 + rng.integers(-6, 6, (64, 64, 1)), 0, 255).astype(np.uint8).repeat(3, 2)
    mask, threshold = tissue_mask(glass)
    assert threshold >= MIN_SATURATION
    assert not mask.any()


def test_tissue_on_glass() -> None:
    picture = np.full((64, 64, 3), 240, dtype=np.uint8)
    picture[16:48, 8:40] = (190, 80, 160)
    mask, _ = tissue_mask(picture)
    assert mask[16:48, 8:40].all()
    assert mask.sum() == 32 * 32


@pytest.mark.parametrize(
    ("downsamples", "wanted", "level"),
    [
        ((1.0, 4.0, 16.0), 2.0, 0),
        ((1.0, 2.0, 8.0), 2.0, 1),
        ((1.0, 2.0003, 8.0), 2.0, 1),  # vendors round downsamples
        ((1.0, 4.0), 0.5, 0),  # finer than level 0: level 0, upsampled
        ((1.0, 4.0, 16.0), 20.0, 2),
    ],
)
def test_best_level(downsamples: tuple[float, ...], wanted: float, level: int) -> None:
    assert best_level(downsamples, wanted) == level


def test_cut_keeps_tiles_on_tissue_row_by_row() -> None:
    info = SlideInfo("aperio", 1000, 600, 0.25, "openslide.mpp-x", (1.0, 4.0))
    mask = np.zeros((60, 100), dtype=bool)  # one mask pixel per 10 level-0 pixels
    mask[0:20, 40:60] = True  # level 0: x 400..600, y 0..200
    tiles = cut(info, Tiling(0.5, 50), mask)  # 100 level-0 pixels per tile
    assert (tiles.patch_size_level0, tiles.step_level0) == (100, 100)
    assert (tiles.level, tiles.read_size) == (0, 100)  # downsample 2 wanted, 4 is too coarse
    assert tiles.coords.tolist() == [[400, 0], [500, 0], [400, 100], [500, 100]]
    # a tile a quarter on tissue is kept (MIN_TISSUE), less is not
    mask[:] = False
    mask[0:5, 0:5] = True  # 50x50 of the first 100x100 tile: exactly a quarter
    mask[0:2, 10:14] = True  # 20x40 of the second: 8 %
    assert cut(info, Tiling(0.5, 50), mask).coords.tolist() == [[0, 0]]
    # tiles lying partly outside the slide are not cut
    mask[:] = True
    assert len(cut(info, Tiling(0.5, 50), mask).coords) == 10 * 6
    assert len(cut(info, Tiling(0.5, 50, overlap=25), mask).coords) == 19 * 11


def test_tissue_mask_cleans_specks_and_holes() -> None:
    picture = np.full((64, 64, 3), 240, dtype=np.uint8)
    picture[16:48, 8:40] = (190, 80, 160)
    picture[30, 20] = (240, 240, 240)  # a white hole in the tissue
    picture[4:6, 56:58] = (190, 80, 160)  # a 2-pixel speck of stain on the glass
    mask, _ = tissue_mask(picture)
    assert mask[30, 20]
    assert not mask[4:6, 56:58].any()
