"""Fixtures of the eva-compatibility tests: tiny models written as real files (a hub repo, a module).

Nothing here stands in for zoo or for the libraries: every test loads through zoo's real loader.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

#: A tiny DINOv2-style ViT: ``forward`` returns the final tokens, ``get_intermediate_layers`` the blocks.
TINY_SOURCE = """
import torch
from torch import nn


class TinyViT(nn.Module):
    def __init__(self, dim=16, depth=3, patch=8, in_chans=3):
        super().__init__()
        self.patch = patch
        self.embed = nn.Conv2d(in_chans, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU()) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def _run(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(len(t), -1, -1), t], 1)
        outs = []
        for block in self.blocks:
            t = t + block(t)
            outs.append(t)
        return outs

    def forward(self, x):
        return self.norm(self._run(x)[-1])

    def get_intermediate_layers(self, x, n=1, reshape=False, return_class_token=False, norm=False):
        outs = self._run(x)
        chosen = range(len(outs) - n, len(outs)) if isinstance(n, int) else n
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        maps = [outs[i][:, 1:] for i in chosen]
        if reshape:
            maps = [m.transpose(1, 2).reshape(len(x), -1, h, w) for m in maps]
        return tuple(maps)


def tiny_vit(pretrained=False, seed=0, **kwargs):
    torch.manual_seed(seed)
    return TinyViT(**kwargs)
"""


@pytest.fixture(autouse=True)
def _timm_names(with_timm_index: Path | None) -> None:
    """eva's registries serve timm names (``timm/...``): they read zoo's index of timm's registry."""


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables that override a model name or out_indices are unset unless a test sets them."""
    for name in ("ZOO_MODEL", "MODEL_NAME", "ZOO_OUT_INDICES", "OUT_INDICES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def hub_repo(tmp_path: Path) -> Path:
    """A local torch.hub repository (``hubconf.py``) with the entry point ``tiny_vit``."""
    repo = tmp_path / "hubrepo"
    repo.mkdir()
    (repo / "hubconf.py").write_text("dependencies = ['torch']\n" + TINY_SOURCE)
    return repo


@pytest.fixture
def tiny_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The tiny model source as an importable module with a unique name; returns that name."""
    name = f"zoo_eva_tiny_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "pymodules"
    folder.mkdir()
    (folder / f"{name}.py").write_text(TINY_SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    yield name
    sys.modules.pop(name, None)
