"""zoo.nn.slide: every released slide-encoder architecture runs on the meta device, as
``zoo validate --build`` runs it (shapes only, no data-dependent step)."""

from __future__ import annotations

import torch

from zoo.nn.slide import gigapath_slide, prism, titan


def test_the_released_encoders_run_on_meta() -> None:
    """``zoo validate --build`` runs the released architectures on the meta device: shapes only."""
    bag = {"coords": torch.zeros(2, 16, 2, device="meta"), "patch_size_level0": 512}
    for build, width, out in ((titan, 768, 768), (gigapath_slide, 1536, 768), (prism, 2560, 1280)):
        with torch.device("meta"):
            model = build()
        got = model(torch.empty(2, 16, width, device="meta"), **bag)
        assert got.shape == (2, out)
        assert got.device.type == "meta"


def test_moozy_runs_on_meta() -> None:
    from zoo.nn.slide import moozy

    with torch.device("meta"):
        model = moozy()
    got = model(
        torch.empty(2, 16, 384, device="meta"),
        coords=torch.zeros(2, 16, 2, device="meta"),
        patch_size_level0=224,
    )
    assert got.shape == (2, 768)
