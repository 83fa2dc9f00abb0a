"""PRISM's slide encoder re-expressed: the reference of ``zoo verify pathology/paige_prism`` and
tests/nn/test_slide_prism.py.

PRISM is Hugging Face remote code, not on a package index, so the reference here is written from
reading the authors' code at the commit its docstring cites, never copied, with attention as
explicit softmax and ``nn.MultiheadAttention`` as its matrices.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.verify.recipes._ref_titan import explicit_attention


class PrismReference(nn.Module):
    """PRISM's ``Prism`` image side as ``perceiver.py`` / ``modeling_prism.py`` of the Hugging Face
    repository paige-ai/Prism build and run it, read in the copy vendored at
    github.com/DIAGNijmegen/unicorn_baseline (src/unicorn_baseline/vision_language/prism/, commit
    dec380918e3bc344c403d85a69960befa76ad473): 8 layer entries whose ``xattn`` (from layer 2) and
    ``tf`` (from layer 1) are the *same module objects* as an earlier layer's, a key-value cache
    passed on from layer 1, the all-ones float tile mask the authors build when none is given (added
    to the scores), and a stand-in ``text_decoder`` and contrastive heads so the saved file has keys
    the slide encoder must leave out."""

    def __init__(
        self, context: int, dim: int, seq: int, depth: int, tf_depth: int, heads: int
    ) -> None:
        super().__init__()

        def ff() -> nn.Module:
            m = nn.Module()
            m.norm = nn.LayerNorm(dim)
            m.net = nn.Sequential(nn.Linear(dim, 2 * dim), nn.Identity(), nn.Linear(dim, dim))
            return m

        def xattn() -> nn.ModuleDict:
            x = nn.Module()
            x.x_norm = nn.LayerNorm(dim)
            x.to_q = nn.Linear(dim, dim, bias=False)
            x.to_kv = nn.Linear(context, 2 * dim, bias=False)
            x.to_out = nn.Linear(dim, dim, bias=False)
            return nn.ModuleDict({"xattn": x, "ff": ff()})

        def block() -> nn.ModuleDict:
            m = nn.Module()
            m.norm = nn.LayerNorm(dim)
            m.mha = nn.MultiheadAttention(dim, heads, bias=False, batch_first=True)
            return nn.ModuleDict({"mhsa": m, "ff": ff()})

        layers: list[nn.ModuleDict] = []
        for i in range(depth):
            layers.append(
                nn.ModuleDict(
                    {
                        "xattn": xattn() if i <= 1 else layers[-1]["xattn"],
                        "tf": nn.ModuleList(block() for _ in range(tf_depth))
                        if i == 0
                        else layers[-1]["tf"],
                    }
                )
            )
        r = nn.Module()
        r.cls_norm, r.img_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        r.perceiver = nn.Module()
        r.perceiver.latents = nn.Parameter(torch.randn(1 + seq, dim))
        r.perceiver.layers = nn.ModuleList(layers)
        self.image_resampler = r
        self.text_decoder = nn.Linear(3, 3)
        self.img_to_latents = nn.Linear(dim, 4, bias=False)
        self.temperature = nn.Parameter(torch.tensor(2.0))
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.normal_(1.0, 0.2)
                    module.bias.normal_(0.0, 0.2)

    @staticmethod
    def _ff(m: Any, x: torch.Tensor) -> torch.Tensor:
        h = m.net[0](m.norm(x))
        value, gate = h[..., : h.shape[-1] // 2], h[..., h.shape[-1] // 2 :]
        return m.net[2](value * F.gelu(gate))

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        r: Any = self.image_resampler
        b, n, _ = tiles.shape
        mask = torch.ones(b, n, dtype=tiles.dtype)  # no tile_mask given: a float mask of ones
        x = r.perceiver.latents.unsqueeze(0).expand(b, -1, -1)
        cache: tuple[torch.Tensor, torch.Tensor] | None = None
        for i, layer in enumerate(r.perceiver.layers):
            xa = layer["xattn"]["xattn"]
            q = xa.to_q(xa.x_norm(x))
            if i <= 1:
                k, v = xa.to_kv(tiles).chunk(2, dim=-1)
                cache = (k, v)
            assert cache is not None
            k, v = cache
            x = xa.to_out(explicit_attention(q, k, v, mask.unsqueeze(1))) + x
            x = self._ff(layer["xattn"]["ff"], x) + x
            for blk in layer["tf"]:
                h = blk["mhsa"].norm(x)
                x = multihead_explicit_nobias(blk["mhsa"].mha, h) + x
                x = self._ff(blk["ff"], x) + x
        return r.cls_norm(x[:, 0])


def multihead_explicit_nobias(mha: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    """Bias-free batch-first ``nn.MultiheadAttention(x, x, x)`` from its matrices."""
    h = mha.num_heads
    q, k, v = (x @ w.T for w in mha.in_proj_weight.chunk(3))

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], t.shape[1], h, -1).transpose(1, 2)

    out = explicit_attention(split(q), split(k), split(v)).transpose(1, 2).reshape(x.shape)
    return out @ mha.out_proj.weight.T


def without_shared_duplicates(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict as ``save_pretrained`` writes it to safetensors: of names sharing one tensor,
    only the first (in module order) is kept."""
    seen: set[int] = set()
    kept = {}
    for name, tensor in state.items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            kept[name] = tensor.contiguous()
    return kept
