"""COBRA the authors' way, for ``zoo verify`` and the proof test: their checkpoint layouts, their loaders' key
handling, and their forward, computed step by step.

Written from reading, at
https://github.com/KatherLab/COBRA/tree/49d231191db5a9c2ea37a2398dd922c8c9ee9cdb:
``cobra/model/cobra.py`` (``Embed``, ``Cobra.forward`` without ``multi_fm_mode``),
``cobra/utils/mamba2.py`` (``Mamba2Enc``), ``cobra/utils/abmil.py`` (``BatchedABMIL``, its raw
logits), ``cobra/utils/load_cobra.py`` (``get_cobra``: ``pytorch_model.bin``, the flat state dict;
``get_cobraII``: ``cobraII.pth.tar``, the keys of ``state_dict`` holding ``momentum_enc`` but not
``momentum_enc.proj``, cut after ``momentum_enc.``) and ``cobra/ssl/pretrain.py`` with
``cobra/ssl/model.py`` (what that file holds: ``MoCo``'s ``base_enc``, ``momentum_enc`` and
``predictor`` under ``DistributedDataParallel``'s ``module.``, with ``epoch``, ``optimizer`` and
``scaler``); and, for the Mamba-2 layer (``mamba_ssm.Mamba2`` with the defaults COBRA leaves:
``headdim`` 64, one group, gated RMSNorm with the gate first, eps 1e-5), ``mamba_ssm/modules/
mamba2.py`` (``Mamba2.step``, the one-token recurrence) and ``mamba_ssm/ops/triton/
layernorm_gated.py`` (``rms_norm_ref``) at
https://github.com/state-spaces/mamba/tree/e9594ce1c732d97440f0332fdc43170a2294dbfa.

Everything reads the weights from the state dict by the authors' key names, with plain tensor
algebra; the convolution is a sum over the kernel taps, and the scan runs token by token as
``Mamba2.step`` does (zoo's module computes it by chunks with masked matrix products), so the two
share nothing but the file.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

#: ``get_cobra`` (COBRA I) and ``get_cobraII`` (COBRA II): the released configurations.
COBRA_I: dict[str, Any] = {
    "input_dims": [768, 1024, 1280, 1536],
    "dim": 768,
    "heads": 8,
    "layers": 2,
    "att_dim": 96,
    "state": 128,
}
COBRA_II: dict[str, Any] = {
    "input_dims": [512, 1024, 1280, 1536],
    "dim": 768,
    "heads": 4,
    "layers": 1,
    "att_dim": 256,
    "state": 128,
}
HEADDIM, CONV = 64, 4


def cobra_layout(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The keys and shapes of the authors' ``Cobra(...).state_dict()`` for ``config``."""
    dim, state = config["dim"], config["state"]
    inner = 2 * dim
    heads = inner // HEADDIM
    out: dict[str, tuple[int, ...]] = {}
    for width in config["input_dims"]:
        p = f"embed.{width}.head."
        out |= {p + "0.weight": (width,), p + "0.bias": (width,)}
        out |= {p + "1.weight": (dim, width), p + "1.bias": (dim,)}
        out |= {p + "4.weight": (dim, dim), p + "4.bias": (dim,)}
    out |= {"norm.weight": (dim,), "norm.bias": (dim,)}
    out |= {"mamba_enc._fc1.0.weight": (dim, dim), "mamba_enc._fc1.0.bias": (dim,)}
    out |= {"mamba_enc.norm.weight": (dim,), "mamba_enc.norm.bias": (dim,)}
    for i in range(config["layers"]):
        p = f"mamba_enc.layers.{i}."
        out |= {p + "0.weight": (dim,), p + "0.bias": (dim,)}
        out |= {
            p + "1.dt_bias": (heads,),
            p + "1.A_log": (heads,),
            p + "1.D": (heads,),
            p + "1.in_proj.weight": (2 * inner + 2 * state + heads, dim),
            p + "1.conv1d.weight": (inner + 2 * state, 1, CONV),
            p + "1.conv1d.bias": (inner + 2 * state,),
            p + "1.norm.weight": (inner,),
            p + "1.out_proj.weight": (dim, inner),
        }
    out |= {"mamba_enc.classifier.weight": (dim, dim), "mamba_enc.classifier.bias": (dim,)}
    part, hidden = dim // config["heads"], config["att_dim"]
    for i in range(config["heads"]):
        p = f"attn.{i}."
        out |= {p + "attention_a.0.weight": (hidden, part), p + "attention_a.0.bias": (hidden,)}
        out |= {p + "attention_b.0.weight": (hidden, part), p + "attention_b.0.bias": (hidden,)}
        out |= {p + "attention_c.weight": (1, hidden), p + "attention_c.bias": (1,)}
    return out


def random_cobra(config: dict[str, Any], seed: int) -> dict[str, Tensor]:
    """Random weights in that layout, scaled so that activations stay of order one: LayerNorm
    and RMSNorm weights near 1, ``A_log`` and ``dt_bias`` in the ranges ``Mamba2`` draws from."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, Tensor] = {}
    for key, shape in cobra_layout(config).items():
        noise = torch.randn(shape, generator=gen)
        if key.endswith("A_log"):
            out[key] = torch.empty(shape).uniform_(1, 16, generator=gen).log()
        elif key.endswith("dt_bias"):
            out[key] = torch.empty(shape).uniform_(-6.0, -2.0, generator=gen)
        elif key.endswith(".D") or (len(shape) == 1 and key.endswith("weight")):
            out[key] = 1.0 + 0.1 * noise  # D and the norms' weights
        elif len(shape) >= 2:
            out[key] = noise / math.sqrt(math.prod(shape[1:]))
        else:
            out[key] = 0.1 * noise
    return out


def cobra_ii_file(
    config: dict[str, Any],
    seed: int,
    *,
    prefix: str = "module.",
    momentum: dict[str, Tensor] | None = None,
) -> dict[str, Any]:
    """What ``pretrain.py`` saves and ``get_cobraII`` reads: ``{epoch, state_dict, optimizer,
    scaler}``, the state dict of ``MoCo`` (``base_enc``, ``momentum_enc`` each with the
    contrastive ``proj`` head, ``predictor``) under ``prefix`` (DistributedDataParallel's);
    ``momentum``: the slide encoder's weights (default: random ones from ``seed``)."""
    if momentum is None:
        momentum = random_cobra(config, seed)
    base = random_cobra(config, seed + 1)
    dim, c_dim = config["dim"], 256
    gen = torch.Generator().manual_seed(seed + 2)

    def head(width_in: int, width_mid: int, width_out: int, p: str) -> dict[str, Tensor]:
        return {
            p + "0.weight": torch.ones(width_in),
            p + "0.bias": torch.zeros(width_in),
            p + "1.weight": torch.randn(width_mid, width_in, generator=gen) * 0.02,
            p + "1.bias": torch.zeros(width_mid),
            p + "4.weight": torch.randn(width_out, width_mid, generator=gen) * 0.02,
            p + "4.bias": torch.zeros(width_out),
            p + "5.weight": torch.ones(width_out),
            p + "5.bias": torch.zeros(width_out),
            p + "5.running_mean": torch.zeros(width_out),
            p + "5.running_var": torch.ones(width_out),
            p + "5.num_batches_tracked": torch.tensor(7),
        }

    state: dict[str, Tensor] = {}
    for name, weights in (("base_enc.", base), ("momentum_enc.", momentum)):
        state |= {prefix + name + k: v for k, v in weights.items()}
        state |= head(dim, 4 * dim, c_dim, prefix + name + "proj.")
    state |= head(c_dim, 2 * c_dim, c_dim, prefix + "predictor.")
    return {
        "epoch": 2000,
        "state_dict": state,
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]},
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 0},
    }


def load_like_get_cobra_ii(checkpoint: dict[str, Any]) -> dict[str, Tensor]:
    """``get_cobraII``'s key handling."""
    if "state_dict" not in checkpoint:
        return checkpoint
    chkpt = checkpoint["state_dict"]
    return {
        k.split("momentum_enc.")[-1]: v
        for k, v in chkpt.items()
        if "momentum_enc" in k and "momentum_enc.proj" not in k
    }


# -- the forward ---------------------------------------------------------------------------------


def _linear(s: dict[str, Tensor], p: str, x: Tensor, bias: bool = True) -> Tensor:
    out = x @ s[p + "weight"].T
    return out + s[p + "bias"] if bias else out


def _layer_norm(s: dict[str, Tensor], p: str, x: Tensor) -> Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * s[p + "weight"] + s[p + "bias"]


def mamba2_layer(s: dict[str, Tensor], p: str, u: Tensor, state: int) -> Tensor:
    """One ``Mamba2`` layer on ``u [L, dim]`` (one bag), a token at a time as ``step`` runs."""
    length, dim = u.shape
    inner = 2 * dim
    heads = inner // HEADDIM
    zxbcdt = u @ s[p + "in_proj.weight"].T
    z = zxbcdt[:, :inner]
    xbc = zxbcdt[:, inner : 2 * inner + 2 * state]
    dt = zxbcdt[:, 2 * inner + 2 * state :]
    weight = s[p + "conv1d.weight"][:, 0, :]  # [channels, CONV], tap CONV - 1 is the current token
    a = -torch.exp(s[p + "A_log"])
    # the causal depthwise convolution as a sum over its taps: tap k reads token t - (CONV - 1) + k
    padded = torch.cat([xbc.new_zeros(CONV - 1, xbc.shape[1]), xbc])
    conv = s[p + "conv1d.bias"] + sum(weight[:, k] * padded[k : k + length] for k in range(CONV))
    conv = conv * torch.sigmoid(conv)
    ssm = torch.zeros(heads, HEADDIM, state, dtype=u.dtype)
    ys = []
    for t in range(length):
        x_t = conv[t, :inner].reshape(heads, HEADDIM)
        b_t, c_t = conv[t, inner : inner + state], conv[t, inner + state :]
        dt_t = F.softplus(dt[t] + s[p + "dt_bias"])  # [heads]
        decay = torch.exp(dt_t * a)
        ssm = ssm * decay[:, None, None] + (dt_t[:, None] * x_t)[:, :, None] * b_t[None, None, :]
        y_t = (ssm * c_t).sum(dim=-1) + s[p + "D"][:, None] * x_t
        ys.append(y_t.reshape(inner))
    y = torch.stack(ys)
    gated = y * (z * torch.sigmoid(z))
    y = gated / torch.sqrt((gated * gated).mean(dim=-1, keepdim=True) + 1e-5) * s[p + "norm.weight"]
    return y @ s[p + "out_proj.weight"].T


def attention(s: dict[str, Tensor], x: Tensor, config: dict[str, Any]) -> Tensor:
    """``Cobra.forward(x, get_attention=True)`` for one bag ``x [N, width]``: ``[N]``."""
    p = f"embed.{x.shape[-1]}.head."
    h = _layer_norm(s, p + "0.", x)
    h = _linear(s, p + "1.", h)
    h = h * torch.sigmoid(h)
    h = _linear(s, p + "4.", h)
    h = F.gelu(_linear(s, "mamba_enc._fc1.0.", h))  # Mamba2Enc: _fc1, then the layers
    for i in range(config["layers"]):
        q = f"mamba_enc.layers.{i}."
        h = h + mamba2_layer(s, q + "1.", _layer_norm(s, q + "0.", h), config["state"])
    h = _linear(s, "mamba_enc.classifier.", h)
    h = _layer_norm(s, "norm.", h)
    heads = config["heads"]
    logits = []
    for c in range(heads):
        part = h[:, c::heads]  # rearrange 'b t (e c) -> b t e c', slice c
        q = f"attn.{c}."
        a = torch.tanh(_linear(s, q + "attention_a.0.", part))
        b = torch.sigmoid(_linear(s, q + "attention_b.0.", part))
        logits.append(_linear(s, q + "attention_c.", a * b)[:, 0])  # the raw logit
    return torch.softmax(torch.stack(logits, dim=-1).mean(dim=-1), dim=0)


def slide_embedding(s: dict[str, Tensor], feats: Tensor, config: dict[str, Any]) -> Tensor:
    """``Cobra.forward(feats)`` (STAMP's call): ``torch.bmm(A, x).squeeze(1)`` per bag."""
    s64 = {k: v.double() for k, v in s.items()}
    rows = [attention(s64, bag, config) @ bag for bag in feats.double()]
    return torch.stack(rows).float()
