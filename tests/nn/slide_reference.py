"""Independent re-expressions of the authors' slide encoders, the references for tests/nn/test_slide_*.

None of these encoders' code is on a package index (TITAN and PRISM are Hugging Face remote code,
Prov-GigaPath's ``gigapath`` is not on PyPI and its attention needs flash-attn on CUDA), so each
reference here is written from reading the authors' code at the commit its docstring cites, never
copied, and deliberately computed another way than zoo's block: the full grid and its ALiBi table
as the authors build them, attention as explicit softmax, ``nn.MultiheadAttention`` as its matrices.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) v over ``[..., n, d]`` tensors."""
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    return scores.softmax(dim=-1) @ v


def multihead_explicit(
    mha: nn.MultiheadAttention, q: torch.Tensor, kv: torch.Tensor
) -> torch.Tensor:
    """``nn.MultiheadAttention(q, kv, kv)`` for batch-first ``[B, n, C]``, from its packed
    ``in_proj`` and ``out_proj`` matrices."""
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    h = mha.num_heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], t.shape[1], h, -1).transpose(1, 2)

    out = explicit_attention(
        split(q @ w_q.T + b_q), split(kv @ w_k.T + b_k), split(kv @ w_v.T + b_v)
    )
    out = out.transpose(1, 2).reshape(q.shape[0], q.shape[1], -1)
    return out @ mha.out_proj.weight.T + mha.out_proj.bias


class TitanReference(nn.Module):
    """TITAN's ``Titan`` (vision part) as ``modeling_titan.py`` / ``vision_transformer.py`` of the
    Hugging Face repository MahmoodLab/TITAN build and run it with batch size 1, read in the copy
    vendored at github.com/DIAGNijmegen/unicorn_baseline (src/unicorn_baseline/vision/pathology/
    titan/, commit dec380918e3bc344c403d85a69960befa76ad473). Parameters are registered under
    ``vision_encoder.`` like the released model, plus a stand-in ``text_encoder`` so the saved
    file has keys a slide encoder must leave out."""

    def __init__(
        self, in_dim: int, dim: int, depth: int, heads: int, pool_heads: int, queries: int
    ):
        super().__init__()
        self.heads = heads
        v = nn.Module()
        v.patch_embed = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU())
        v.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        v.blocks = nn.Module()
        v.blocks.modules_list = nn.ModuleList()
        for _ in range(depth):
            block = nn.Module()
            block.norm1 = nn.LayerNorm(dim, eps=1e-6)
            block.attn = nn.Module()
            block.attn.qkv = nn.Linear(dim, 3 * dim)
            block.attn.proj = nn.Linear(dim, dim)
            block.norm2 = nn.LayerNorm(dim, eps=1e-6)
            block.mlp = nn.Module()
            block.mlp.fc1 = nn.Linear(dim, 4 * dim)
            block.mlp.fc2 = nn.Linear(4 * dim, dim)
            v.blocks.modules_list.append(block)
        v.norm = nn.LayerNorm(dim, eps=1e-6)
        for name, n in (("attn_pool", queries), ("attn_pool_contrastive", 1)):
            pool = nn.Module()
            pool.query = nn.Parameter(
                0.01 * torch.randn(n, dim)
            )  # small: the LayerNorm's eps shows
            pool.attn = nn.MultiheadAttention(dim, pool_heads)
            pool.ln_q = nn.LayerNorm(dim)
            pool.ln_k = nn.LayerNorm(dim)
            setattr(v, name, pool)
        v.proj = nn.Parameter(torch.randn(dim, dim))
        self.vision_encoder = v
        self.text_encoder = nn.Linear(3, 3)  # the released file holds the text tower too
        with torch.no_grad():  # LayerNorms away from 1/0 so that a swapped one shows
            for module in self.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.normal_(1.0, 0.2)
                    module.bias.normal_(0.0, 0.2)

    @staticmethod
    def _series_slopes(heads: int) -> list[float]:
        def series(n: int) -> list[float]:
            first = 2 ** (-(2 ** -(math.log2(n) - 3)))
            return [first ** (i + 1) for i in range(n)]

        base = 2 ** math.floor(math.log2(heads))
        extra = series(2 * base)[::2][: heads - base] if base != heads else []
        return series(base) + extra

    def _slopes(self) -> list[float]:
        return self._series_slopes(self.heads)

    def forward(
        self, features: torch.Tensor, coords: torch.Tensor, patch_size_lv0: int
    ) -> torch.Tensor:
        v = self.vision_encoder
        features, coords = features[0], coords[0]
        cells = torch.floor_divide(coords - coords.min(dim=0).values, patch_size_lv0)
        rows, cols = (int(m) + 1 for m in cells.max(dim=0).values)
        grid = torch.zeros(rows, cols, features.shape[-1])
        for (r, c), f in zip(cells.tolist(), features, strict=True):
            grid[r, c] += f  # tiles on one cell add up
        background = ~(grid != 0).any(dim=-1)
        # the ALiBi table over the whole grid, then the occupied cells' part of it
        r_idx, c_idx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        keep = (~background).numpy()
        points = np.stack([r_idx[keep], c_idx[keep]], axis=1)
        dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
        n = len(points)
        bias = torch.zeros(1, self.heads, n + 1, n + 1)
        slopes = torch.tensor(self._slopes(), dtype=torch.float32).view(-1, 1, 1)
        bias[:, :, 1:, 1:] = -(torch.tensor(dist, dtype=torch.float32) * slopes)
        tokens = v.patch_embed(grid.reshape(rows * cols, -1))  # every cell, background too
        x = torch.cat([v.cls_token[0], tokens[torch.from_numpy(keep.reshape(-1))]]).unsqueeze(0)
        for block in v.blocks.modules_list:
            h = block.norm1(x)
            q, k, val = (
                block.attn.qkv(h).reshape(1, n + 1, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            )
            a = explicit_attention(q, k, val, bias).transpose(1, 2).reshape(1, n + 1, -1)
            x = x + block.attn.proj(a)
            x = x + block.mlp.fc2(F.gelu(block.mlp.fc1(block.norm2(x))))
        x = v.norm(x)
        pool = v.attn_pool_contrastive
        return multihead_explicit(pool.attn, pool.ln_q(pool.query).unsqueeze(0), pool.ln_k(x))[:, 0]


def flash_attention_math(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``flash_attn_func(q, k, v, dropout_p=0, return_attn_probs=True)`` returns for
    ``[B, L, H, d]`` inputs, written as plain math: the output and the log-sum-exp ``[B, H, L]``
    of the scaled scores (no mask: zero padding rows take part as keys)."""
    scores = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(q.shape[-1])
    lse = torch.logsumexp(scores, dim=-1)
    out = torch.einsum("bhlm,bmhd->blhd", scores.softmax(dim=-1), v)
    return out, lse


def _import_torchscale() -> None:
    """torchscale imports timm's deprecated ``timm.models.layers`` path; import it once quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import torchscale.architecture.encoder  # noqa: F401


def _torchscale_dilated_attention() -> type[nn.Module]:
    _import_torchscale()
    from torchscale.component.multihead_attention import MultiheadAttention

    class DilatedAttentionReference(MultiheadAttention):
        """gigapath/torchscale/component/dilated_attention.py (prov-gigapath commit
        09d8e876afb98a1dda01cc531b1087c58fffc9f7) re-expressed on torchscale's (PyPI 0.3.0)
        ``MultiheadAttention``, whose projections and ``inner_attn_ln`` it inherits; flash-attn's
        kernel is :func:`flash_attention_math`. Batch size 1 per segment group, no sequence
        parallelism, no incremental state: the slide encoder's inference path."""

        segments: tuple[int, ...] = ()
        ratios: tuple[int, ...] = ()

        def _sparse(self, x: torch.Tensor, segment: int, ratio: int) -> torch.Tensor:
            _b, length, h, d = x.shape
            segment = min(segment, length)
            x = F.pad(x, (0, 0, 0, 0, 0, (-length) % segment))
            x = x.reshape(-1, segment, h, d)  # (b n) g h d
            pad_len, pad_h = (-segment) % ratio, (-h) % ratio
            x = F.pad(x, (0, 0, 0, pad_h, 0, pad_len))
            n, g2, h2 = x.shape[0], x.shape[1] // ratio, (h + pad_h) // ratio
            # b (l r1) (r2 h) d -> b l h d r1 r2, then the r1 == r2 diagonal
            x = x.reshape(n, g2, ratio, ratio, h2, d).permute(0, 1, 4, 5, 2, 3)
            x = torch.diagonal(x, dim1=4, dim2=5)  # b l h d r
            x = x.permute(0, 1, 4, 2, 3).reshape(n, g2, ratio * h2, d)
            return x[:, :, :h]

        def _dense(
            self, out: torch.Tensor, lse: torch.Tensor, ratio: int
        ) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.num_heads
            pad_h = (-h) % ratio
            out = F.pad(out, (0, 0, 0, pad_h))
            lse = F.pad(lse, (0, 0, 0, pad_h), value=-1e8)
            n, g2, h_all, d = out.shape
            h2 = h_all // ratio
            out = out.reshape(n, g2, ratio, h2, d).permute(0, 1, 3, 4, 2)  # b l h d r
            out = torch.diag_embed(out, dim1=4, dim2=5)  # b l h d r1 r2
            out = out.permute(0, 5, 2, 1, 4, 3).reshape(n, ratio * h2, g2 * ratio, d)
            lse = lse.reshape(n, ratio, h2, g2).permute(0, 3, 2, 1)  # b l h r
            lse = torch.diag_embed(lse, dim1=3, dim2=4)
            lse = lse.masked_fill(lse == 0, -1e8)
            lse = lse.permute(0, 4, 2, 1, 3).reshape(n, ratio * h2, g2 * ratio, 1)
            return out[:, :h], lse[:, :h]

        def forward(self, query, key, value, **_: object):  # type: ignore[no-untyped-def]
            bsz, length, dim = query.shape
            h = self.num_heads

            def heads(t: torch.Tensor) -> torch.Tensor:
                return t.reshape(bsz, length, h, dim // h)

            q, k, v = heads(self.q_proj(query)), heads(self.k_proj(key)), heads(self.v_proj(value))
            outs, lses = [], []
            for segment, ratio in zip(self.segments, self.ratios, strict=True):
                out, lse = flash_attention_math(
                    *(self._sparse(t, segment, ratio) for t in (q, k, v))
                )
                out, lse = self._dense(out, lse, ratio)  # (b n) h g d, (b n) h g 1
                g = out.shape[2]
                out = out.reshape(bsz, -1, h, g, out.shape[-1]).permute(0, 2, 1, 3, 4)
                out = out.reshape(bsz * h, -1, out.shape[-1])[:, :length]
                lse = lse.reshape(bsz, -1, h, g, 1).permute(0, 2, 1, 3, 4).reshape(bsz * h, -1, 1)
                outs.append(out)
                lses.append(lse[:, :length])
            top = torch.stack(lses).max(0)[0]
            weights = [torch.exp(lse - top) for lse in lses]
            total = torch.stack(weights).sum(0)
            attn = sum(o * (w / total) for o, w in zip(outs, weights, strict=True))
            attn = attn.reshape(bsz, h, length, -1).transpose(1, 2).reshape(bsz, length, dim)
            return self.out_proj(self.inner_attn_ln(attn)), None

    return DilatedAttentionReference


class GigaPathReference(nn.Module):
    """Prov-GigaPath's ``LongNetViT`` (gigapath/slide_encoder.py at prov-gigapath commit
    09d8e876afb98a1dda01cc531b1087c58fffc9f7) on PyPI torchscale's ``Encoder``: the wrapper and
    the position table re-expressed, the encoder torchscale's own (the authors' vendored copy of
    ``encoder.py`` and ``feedforward_network.py`` is identical to PyPI 0.3.0), its self-attention
    the re-expression above. Returns ``forward(x, coords, all_layer_embed=True)`` with
    ``global_pool=True`` (or the class token), one entry per layer."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        depth: int,
        heads: int,
        ngrids: int,
        tile: int,
        segments: tuple[int, ...],
        ratios: tuple[int, ...],
    ) -> None:
        super().__init__()
        _import_torchscale()
        from torchscale.architecture.config import EncoderConfig
        from torchscale.architecture.encoder import Encoder, EncoderLayer

        attention = _torchscale_dilated_attention()

        class LongNetLayer(EncoderLayer):
            def build_self_attention(self, embed_dim, args):  # type: ignore[no-untyped-def]
                module = attention(
                    args,
                    embed_dim,
                    args.encoder_attention_heads,
                    dropout=args.attention_dropout,
                    self_attention=True,
                    subln=args.subln,
                )
                module.segments, module.ratios = segments, ratios
                return module

        class LongNetEncoder(Encoder):
            def build_encoder_layer(
                self, args, depth, is_moe_layer=False, is_encoder_decoder=False
            ):  # type: ignore[no-untyped-def]
                return LongNetLayer(
                    args, depth, is_moe_layer=is_moe_layer, is_encoder_decoder=is_encoder_decoder
                )

        config = EncoderConfig(
            encoder_layers=depth,
            encoder_embed_dim=dim,
            encoder_ffn_embed_dim=4 * dim,
            encoder_attention_heads=heads,
            dropout=0.25,
            drop_path_rate=0.1,
        )
        self.tile, self.ngrids = tile, ngrids
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Linear(in_dim, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.encoder = LongNetEncoder(config)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        # MAE's table: meshgrid(w, h) with w first, half the channels per axis, class row 0
        grid = np.stack(
            np.meshgrid(np.arange(ngrids, dtype=np.float32), np.arange(ngrids, dtype=np.float32)),
            axis=0,
        )

        def one_axis(pos: np.ndarray) -> np.ndarray:
            omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=float) / (dim / 4.0))
            angles = np.einsum("m,d->md", pos.reshape(-1), omega)
            return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

        table = np.concatenate([one_axis(grid[0]), one_axis(grid[1])], axis=1)
        table = np.concatenate([np.zeros([1, dim]), table], axis=0)
        self.register_buffer(
            "pos_embed", torch.from_numpy(table).float().unsqueeze(0), persistent=False
        )
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.normal_(1.0, 0.2)
                    module.bias.normal_(0.0, 0.2)

    def forward(
        self, x: torch.Tensor, coords: torch.Tensor, global_pool: bool = True
    ) -> list[torch.Tensor]:
        x = self.patch_embed.proj(x)
        cells = torch.floor(coords / self.tile)
        pos = (cells[..., 0] * self.ngrids + cells[..., 1]).long() + 1
        x = x + self.pos_embed[:, pos, :].squeeze(0)
        x = torch.cat(
            [(self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1), x], dim=1
        )
        states = self.encoder(src_tokens=None, token_embeddings=x, return_all_hiddens=True)[
            "encoder_states"
        ]
        if global_pool:
            return [self.norm(s[:, 1:].mean(dim=1)) for s in states]
        return [self.norm(s)[:, 0] for s in states]


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
    def _ff(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        h = m.net[0](m.norm(x))
        value, gate = h[..., : h.shape[-1] // 2], h[..., h.shape[-1] // 2 :]
        return m.net[2](value * F.gelu(gate))

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        r = self.image_resampler
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


class MoozyReference(nn.Module):
    """MOOZY's ``MOOZYSlideEncoder`` (package ``moozy`` 0.1.1 on PyPI,
    moozy/models/moozy_slide_encoder.py) re-expressed for one unmasked bag, registered as the
    authors register it: one ALiBi module shared by every block, so its ``slopes`` appear under
    ``pos_bias`` and ``blocks.{i}.pos_bias``. (The package itself pins huggingface-hub below 2, which
    would move the project's own resolution, so it is not a test dependency.)"""

    def __init__(
        self,
        feat: int,
        dim: int,
        heads: int,
        layers: int,
        hidden: int,
        registers: int,
        qk_norm: bool = False,
        layerscale: float = 0.0,
        learnable: bool = False,
    ) -> None:
        super().__init__()
        self.heads, self.registers = heads, registers
        self.input_proj = nn.Sequential(nn.Linear(feat, dim), nn.GELU())
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        if registers:
            self.register_tokens = nn.Parameter(torch.randn(1, registers, dim))
        self.mask_token = nn.Parameter(torch.randn(1, 1, dim))
        alibi = nn.Module()
        slopes = -torch.tensor(TitanReference._series_slopes(heads), dtype=torch.float32).unsqueeze(
            1
        )
        if learnable:
            alibi.slopes = nn.Parameter(slopes * (1 + 0.1 * torch.rand_like(slopes)))
        else:
            alibi.register_buffer("slopes", slopes)
        self.pos_bias = alibi
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            blk = nn.Module()
            blk.norm1, blk.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            blk.q_proj, blk.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
            blk.v_proj, blk.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
            if qk_norm:
                blk.q_norm, blk.k_norm = nn.LayerNorm(dim // heads), nn.LayerNorm(dim // heads)
            blk.pos_bias = alibi
            blk.fc1, blk.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
            if layerscale:
                blk.ls_attn, blk.ls_mlp = nn.Module(), nn.Module()
                blk.ls_attn.gamma = nn.Parameter(torch.rand(dim))
                blk.ls_mlp.gamma = nn.Parameter(torch.rand(dim))
            self.blocks.append(blk)
        self.norm = nn.LayerNorm(dim)
        self.qk_norm, self.layerscale = qk_norm, layerscale
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.normal_(1.0, 0.2)
                    module.bias.normal_(0.0, 0.2)

    def forward(self, tiles: torch.Tensor, coords: torch.Tensor, patch_size: int) -> torch.Tensor:
        b, n, _ = tiles.shape
        lead = 1 + self.registers
        parts = [self.cls_token.expand(b, -1, -1)]
        if self.registers:
            parts.append(self.register_tokens.expand(b, -1, -1))
        x = torch.cat([*parts, self.input_proj(tiles)], dim=1)
        pos = torch.cat([torch.zeros(b, lead, 2), coords.float()], dim=1)
        dist = (pos[:, :, None, :] - pos[:, None, :, :]).pow(2).sum(-1).sqrt() / float(patch_size)
        bias = self.pos_bias.slopes.view(1, -1, 1, 1) * dist[:, None]
        keep = torch.ones(lead + n, dtype=torch.bool)
        keep[:lead] = False
        bias = bias * (keep[:, None] & keep[None, :])  # no bias on the class and register tokens
        for blk in self.blocks:
            h = blk.norm1(x)

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.reshape(b, lead + n, self.heads, -1).transpose(1, 2)

            q, k, v = split(blk.q_proj(h)), split(blk.k_proj(h)), split(blk.v_proj(h))
            if self.qk_norm:
                q, k = blk.q_norm(q), blk.k_norm(k)
            a = blk.out_proj(explicit_attention(q, k, v, bias).transpose(1, 2).reshape(x.shape))
            x = x + (a * blk.ls_attn.gamma if self.layerscale else a)
            m = blk.fc2(F.gelu(blk.fc1(blk.norm2(x))))
            x = x + (m * blk.ls_mlp.gamma if self.layerscale else m)
        return self.norm(x)[:, 0]
