"""One ``<slide>.h5`` per slide in TRIDENT's layout, so that the code that reads TRIDENT's patch
features reads zoo's unchanged.

What those readers take from the file (read at the commits below; zoo's own code):

- TRIDENT ``trident/wsi_objects/WSI.py`` ``extract_slide_features`` (github.com/mahmoodlab/TRIDENT
  at a91fa8490e0210ebbbe58452c3babe009e0ab7ca): ``f['coords'][:]``, ``f['features'][:]`` and
  ``dict(f['coords'].attrs)``; its slide encoders (``trident/slide_encoder_models/load.py``)
  read ``attributes['patch_size_level0']``. Features are ``[N, D]``, coordinates ``[N, 2]``
  level-0 top-left ``(x, y)`` integers.
- Patho-Bench ``patho_bench/datasets/PatchEmbeddingsDataset.py`` and ``BaseDataset.load_h5``
  (github.com/mahmoodlab/Patho-Bench at 660e77044640e3d7d2f1150cc6721e97454993bf): every
  ``*.h5`` directly in the folder, the slide id its name without ``.h5``; datasets
  ``features`` and ``coords`` read whole with the attributes of each, of which it uses
  ``coords.attrs['patch_size_level0']``.

The attributes of ``coords`` are TRIDENT's (``patch_size``, ``patch_size_level0``,
``level0_magnification``, ``target_magnification``, ``overlap``, ``name``, ``level0_width``,
``level0_height``; ``trident/IO.py`` ``save_coords``) plus the scale itself in microns per
pixel (``target_mpp``, ``level0_mpp``). Magnifications follow TRIDENT's binning of microns
per pixel (``WSI._fetch_magnification``: below 0.16 is 80x, 0.2 60x, 0.3 40x, 0.6 20x,
1.2 10x, 2.4 5x).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo import atomic
from zoo.errors import require

_BINS = ((0.16, 80), (0.2, 60), (0.3, 40), (0.6, 20), (1.2, 10), (2.4, 5))


def h5py() -> Any:
    """h5py (the ``slides`` extra)."""
    return require("h5py", package="h5py", extra="slides", purpose="--format h5")


def magnification(mpp: float) -> int:
    """The objective magnification a scale is called by (TRIDENT's bins; 1 below 2.4 µm/px)."""
    return next((mag for limit, mag in _BINS if mpp < limit), 1)


def coords_attributes(
    name: str, *, tiling: dict[str, Any], slide: dict[str, Any], tiles: dict[str, Any]
) -> dict[str, Any]:
    """The attributes of ``coords``: TRIDENT's, and the scales in microns per pixel."""
    return {
        "patch_size": int(tiling["tile_size"]),
        "patch_size_level0": int(tiles["patch_size_level0"]),
        "target_mpp": float(tiling["target_mpp"]),
        "level0_mpp": float(slide["mpp"]),
        "target_magnification": magnification(tiling["target_mpp"]),
        "level0_magnification": magnification(slide["mpp"]),
        "overlap": int(tiling["overlap"]),
        "name": name,
        "level0_width": int(slide["width"]),
        "level0_height": int(slide["height"]),
    }


def write_h5(
    path: Path,
    features: np.ndarray,
    coords: np.ndarray,
    attributes: dict[str, Any],
    feature_attributes: dict[str, Any],
) -> None:
    """``path`` (atomically, never through a link): ``features`` ``[N, D]`` float32, ``coords``
    ``[N, 2]`` int64 with ``attributes``; ``features`` carries ``feature_attributes``."""
    module = h5py()

    def write(tmp: Path) -> None:
        with module.File(tmp, "w") as f:
            f.create_dataset("features", data=np.asarray(features, dtype=np.float32))
            f.create_dataset("coords", data=np.asarray(coords, dtype=np.int64).reshape(-1, 2))
            for key, value in attributes.items():
                f["coords"].attrs[key] = value
            for key, value in feature_attributes.items():
                f["features"].attrs[key] = value

    try:
        atomic.write_with(path, write, path.with_name(path.name + ".tmp"))
    except OSError as exc:
        raise atomic.write_error(path, exc) from None


def read_h5(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(features, coords, coords attributes)`` of a file :func:`write_h5` wrote."""
    with h5py().File(path, "r") as f:
        return f["features"][:], f["coords"][:], dict(f["coords"].attrs)
