"""A Mamba-2 mixer in plain torch: the block of ``mamba_ssm.Mamba2`` with its default options.

``mamba_ssm``'s kernels need CUDA (Triton and the ``causal_conv1d`` extension), so zoo computes the
same function itself, on any device, in the layout of ``Mamba2.state_dict()``:

1. ``in_proj`` (no bias) maps each token to ``[z, x, B, C, dt]`` (widths ``inner``, ``inner``,
   ``state``, ``state``, ``heads``; one group of ``B``/``C`` shared by all heads).
2. ``x, B, C`` go through a causal depthwise ``conv1d`` (kernel 4, with bias) and SiLU.
3. The selective state-space scan (SSD) per head ``h`` of width ``headdim``: with
   ``dt = softplus(dt + dt_bias)`` and ``A = -exp(A_log)``, the state follows
   ``S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T`` and the output is ``y_t = S_t C_t + D x_t``.
4. The gated RMSNorm with the gate applied first (``norm_before_gate=False``):
   ``rmsnorm(y * silu(z)) * weight``, eps 1e-5, over the whole inner width (one group).
5. ``out_proj`` (no bias).

The scan is computed by chunks (:func:`ssd_scan`): inside a chunk as one masked matrix product,
across chunks by carrying the state, which is the same sum as the recurrence above regrouped.

Written for zoo from reading ``mamba_ssm/modules/mamba2.py`` (``Mamba2.__init__`` and the
non-fused branch of ``forward``), ``mamba_ssm/ops/triton/ssd_combined.py``
(``mamba_split_conv1d_scan_ref``, the fused path's reference), ``mamba_ssm/modules/ssd_minimal.py``
and ``mamba_ssm/ops/triton/layernorm_gated.py`` (``rms_norm_ref``, ``RMSNorm``) at
https://github.com/state-spaces/mamba/tree/e9594ce1c732d97440f0332fdc43170a2294dbfa.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Tokens per chunk of the scan: the masked products are ``[chunk, chunk]`` per head.
CHUNK = 64


def ssd_scan(
    x: torch.Tensor, dt: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    """The state-space scan without the ``D`` skip, by chunks.

    Args:
        x: ``[batch, length, heads, headdim]``.
        dt: ``[batch, length, heads]``, the step sizes (after softplus).
        a: ``[heads]``, the (negative) decay rates.
        b: ``[batch, length, state]``.
        c: ``[batch, length, state]``.

    Returns:
        ``y [batch, length, heads, headdim]`` with ``y_t = sum_{s <= t} exp(sum_{s < r <= t} dt_r a)
        (c_t . b_s) dt_s x_s``.
    """
    batch, length, heads, headdim = x.shape
    state = b.shape[-1]
    pad = (-length) % CHUNK
    if pad:  # zero steps at the end: dt = 0 adds nothing and decays nothing
        x, dt = F.pad(x, (0, 0, 0, 0, 0, pad)), F.pad(dt, (0, 0, 0, pad))
        b, c = F.pad(b, (0, 0, 0, pad)), F.pad(c, (0, 0, 0, pad))
    chunks = (length + pad) // CHUNK
    xs = (x * dt.unsqueeze(-1)).view(batch, chunks, CHUNK, heads, headdim)
    bs = b.view(batch, chunks, CHUNK, state)
    cs = c.view(batch, chunks, CHUNK, state)
    log_decay = (dt * a).view(batch, chunks, CHUNK, heads).transpose(2, 3)  # [b, n, h, l]
    cum = log_decay.cumsum(dim=-1)  # decay from the chunk's start through step l
    causal = torch.ones(CHUNK, CHUNK, dtype=torch.bool, device=x.device).tril()
    # within a chunk, gaps[t, s] = sum of log_decay over s < r <= t, summed directly rather than
    # as cum_t - cum_s, whose rounding grows with the decay already accumulated
    after = log_decay.unsqueeze(-1).expand(*log_decay.shape, CHUNK)  # [..., r, s] = log_decay_r
    gaps = (
        after.masked_fill(~causal.tril(-1), 0.0).cumsum(dim=-2).masked_fill(~causal, float("-inf"))
    )
    scores = torch.einsum("bntk,bnsk->bnts", cs, bs)  # c_t . b_s
    y = torch.einsum("bnhts,bnts,bnshp->bnthp", gaps.exp(), scores, xs)
    # across chunks: the state at each chunk's end, carried forward with the chunk's total decay
    to_end = gaps[..., -1, :].exp()  # [b, n, h, l]: from step l to the chunk's end
    local = torch.einsum("bnhl,bnlk,bnlhp->bnhpk", to_end, bs, xs)  # [b, n, h, p, k]
    carried = torch.zeros(batch, heads, headdim, state, dtype=x.dtype, device=x.device)
    before = []
    for n in range(chunks):
        before.append(carried)
        carried = carried * cum[:, n, :, -1].exp()[..., None, None] + local[:, n]
    entering = torch.stack(before, dim=1)  # the state entering each chunk
    y = y + torch.einsum("bntk,bnhpk,bnht->bnthp", cs, entering, cum.exp())
    return y.reshape(batch, chunks * CHUNK, heads, headdim)[:, :length]


class GatedRMSNorm(nn.Module):
    """``mamba_ssm``'s ``RMSNorm`` with ``norm_before_gate=False``: ``rmsnorm(x * silu(z))``."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gated = x * F.silu(z)
        scale = torch.rsqrt(gated.square().mean(dim=-1, keepdim=True) + self.eps)
        out: torch.Tensor = gated * scale * self.weight
        return out


class Mamba2Mixer(nn.Module):
    """``mamba_ssm.Mamba2(d_model, d_state, d_conv, expand)`` with its other defaults
    (``headdim=64``, ``ngroups=1``, ``rmsnorm=True``, ``norm_before_gate=False``, no ``D`` per
    channel, no bias on the projections, bias on the convolution): ``[B, L, dim]`` to the same.
    """

    def __init__(
        self, dim: int, state: int = 128, conv: int = 4, expand: int = 2, headdim: int = 64
    ) -> None:
        super().__init__()
        inner = expand * dim
        if inner % headdim:
            raise ValueError(f"expand * dim ({inner}) must be a multiple of headdim ({headdim})")
        heads = inner // headdim
        self.inner, self.state, self.heads, self.headdim = inner, state, heads, headdim
        self.in_proj = nn.Linear(dim, 2 * inner + 2 * state + heads, bias=False)
        channels = inner + 2 * state
        self.conv1d = nn.Conv1d(channels, channels, conv, groups=channels, padding=conv - 1)
        self.dt_bias = nn.Parameter(torch.zeros(heads))
        self.A_log = nn.Parameter(torch.zeros(heads))
        self.D = nn.Parameter(torch.ones(heads))
        self.norm = GatedRMSNorm(inner)
        self.out_proj = nn.Linear(inner, dim, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        length = u.shape[1]
        z, xbc, dt = self.in_proj(u).split(
            [self.inner, self.inner + 2 * self.state, self.heads], -1
        )
        xbc = F.silu(self.conv1d(xbc.transpose(1, 2))[..., :length].transpose(1, 2))
        x, b, c = xbc.split([self.inner, self.state, self.state], dim=-1)
        x = x.unflatten(-1, (self.heads, self.headdim))
        # the scan runs in float32 whatever the weights' dtype, as mamba_ssm's kernels accumulate
        a = -self.A_log.float().exp()
        step = F.softplus((dt + self.dt_bias).float())
        scan = ssd_scan(x.float(), step, a, b.float(), c.float()).to(x.dtype)
        y = scan + x * self.D[:, None]
        out: torch.Tensor = self.out_proj(self.norm(y.flatten(-2), z))
        return out
