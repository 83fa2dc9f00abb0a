"""The image path of a BEiT-3 multiway transformer: MUSK's image encoder.

BEiT-3 (torchscale's ``BEiT3``) is one transformer whose every layer holds two copies of its
layer norms, attention projections and feed-forward network: branch ``A`` for image tokens,
branch ``B`` for text tokens. An image alone runs through branch ``A`` only, so
:func:`beit3_image` builds just that path, with parameter names as in a checkpoint of the
whole model (``beit3.vision_embed.*``, ``beit3.encoder.layers.{i}.*.A.*``,
``beit3.encoder.layer_norm.A.*``, ``vision_head.*``); a manifest drops the text branch's keys
(``*.B.*``, ``beit3.text_embed.*``) and loads the rest strictly.

What the image path computes (torchscale 0.3.0 with ``multiway``, ``subln`` and pre-norm, as
MUSK configures it):

- a ``patch x patch`` convolution, a class token in front, a learned position table whose
  first two rows are never used (position ids start at 2, as in fairseq);
- per layer, pre-norm attention with a LayerNorm on the attention output before its output
  projection, then a pre-norm feed-forward network (GELU computed in float32, a LayerNorm on
  the hidden layer), both residual; no layer scale, no relative position bias;
- a final LayerNorm on every token.

The embedding is the final class token; with ``multiscale`` it is MUSK's multi-scale feature
(the authors' ``ms_aug``): the class token of the image, concatenated with the mean class token
of the four ``img_size`` tiles of the image upsampled (bicubic) to twice its size, so twice the
width. ``forward_projection`` is the contrastive projection of the class token
(``vision_head``, no bias).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn


def _image_branch(module: nn.Module) -> nn.ModuleDict:
    """``module`` under the name ``A``: where a multiway layer keeps its image branch."""
    return nn.ModuleDict({"A": module})


class VisionEmbedding(nn.Module):
    """Patch convolution plus a class token; ``mask_token`` is kept only so checkpoints load."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, dim: int) -> None:
        super().__init__()
        self.img_size = (img_size, img_size)
        self.patch_size = (patch_size, patch_size)
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))  # masked pretraining only
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(
                f"BEiT-3 takes {self.img_size[0]}x{self.img_size[1]} images (its position table "
                f"is fixed), got {x.shape[-2]}x{x.shape[-1]}"
            )
        tokens = self.proj(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1)


class Attention(nn.Module):
    """Multi-head self-attention with a LayerNorm on its output before the output projection."""

    def __init__(self, dim: int, heads: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = _image_branch(nn.Linear(dim, dim))
        self.k_proj = _image_branch(nn.Linear(dim, dim))
        self.v_proj = _image_branch(nn.Linear(dim, dim))
        self.out_proj = _image_branch(nn.Linear(dim, dim))
        self.inner_attn_ln = _image_branch(nn.LayerNorm(dim, eps=eps))

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, c = t.shape
        return t.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self._split(self.q_proj["A"](x))
        k = self._split(self.k_proj["A"](x))
        v = self._split(self.v_proj["A"](x))
        out = F.scaled_dot_product_attention(q, k, v)  # scale head_dim ** -0.5, as torchscale
        out = out.transpose(1, 2).reshape(x.shape)
        return self.out_proj["A"](self.inner_attn_ln["A"](out))


class FeedForward(nn.Module):
    """``fc1 -> GELU (float32) -> LayerNorm -> fc2``."""

    def __init__(self, dim: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.ffn_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        h = F.gelu(h.float()).type_as(h)
        return self.fc2(self.ffn_layernorm(h))


class EncoderLayer(nn.Module):
    """One pre-norm layer, image branch only."""

    def __init__(self, dim: int, heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads, eps)
        self.self_attn_layer_norm = _image_branch(nn.LayerNorm(dim, eps=eps))
        self.ffn = _image_branch(FeedForward(dim, hidden, eps))
        self.final_layer_norm = _image_branch(nn.LayerNorm(dim, eps=eps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm["A"](x))
        return x + self.ffn["A"](self.final_layer_norm["A"](x))


class Encoder(nn.Module):
    """Position table (image branch), the layers and the final LayerNorm."""

    #: Rows of the position table before the first one used (fairseq starts positions at 2).
    POSITION_OFFSET = 2

    def __init__(self, tokens: int, dim: int, depth: int, heads: int, hidden: int, eps: float):
        super().__init__()
        self.embed_positions = _image_branch(nn.Embedding(tokens + self.POSITION_OFFSET, dim))
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, hidden, eps) for _ in range(depth))
        self.layer_norm = _image_branch(nn.LayerNorm(dim, eps=eps))


class Beit3(nn.Module):
    """Holds ``vision_embed`` and ``encoder`` under the names a BEiT-3 checkpoint uses."""

    def __init__(self, vision_embed: VisionEmbedding, encoder: Encoder) -> None:
        super().__init__()
        self.vision_embed = vision_embed
        self.encoder = encoder


class Beit3Image(nn.Module):
    """BEiT-3's image path with zoo's feature API.

    ``forward_features`` gives the final tokens ``[B, 1 + N, D]``; ``forward`` the embedding
    (the class token, or the multi-scale feature ``[B, 2D]``); ``get_intermediate_layers`` the
    block outputs as maps; ``forward_projection`` the projected class token.

    Args:
        img_size: Input size (square; the position table is fixed to it).
        patch_size: Patch size.
        in_chans: Input channels.
        embed_dim: Width.
        depth: Layers.
        num_heads: Attention heads.
        mlp_ratio: Feed-forward width over ``embed_dim``.
        eps: LayerNorm epsilon.
        multiscale: Make the embedding MUSK's multi-scale feature.
        projection: Build ``vision_head``, the contrastive projection.
    """

    #: The scales of the multi-scale feature (the authors' default): the image and its 2x upsampling.
    SCALES = (1, 2)

    def __init__(
        self,
        img_size: int = 384,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 1024,
        depth: int = 24,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        eps: float = 1e-5,
        multiscale: bool = False,
        projection: bool = False,
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not a multiple of num_heads {num_heads}")
        embed = VisionEmbedding(img_size, patch_size, in_chans, embed_dim)
        hidden = int(embed_dim * mlp_ratio)
        encoder = Encoder(embed.num_patches + 1, embed_dim, depth, num_heads, hidden, eps)
        self.beit3 = Beit3(embed, encoder)
        self.vision_head = nn.Linear(embed_dim, embed_dim, bias=False) if projection else None
        self.multiscale = multiscale
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.num_features = embed_dim * len(self.SCALES) if multiscale else embed_dim
        self.projection_dim = embed_dim if projection else None
        self.num_prefix_tokens = 1

    @property
    def patch_embed(self) -> VisionEmbedding:
        return self.beit3.vision_embed

    @property
    def blocks(self) -> nn.ModuleList:
        return self.beit3.encoder.layers

    def _run(self, x: torch.Tensor, keep: set[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final normalized tokens, and the raw outputs of the layers in ``keep``."""
        encoder = self.beit3.encoder
        x = self.beit3.vision_embed(x)
        table = cast(nn.Embedding, encoder.embed_positions["A"]).weight
        start = Encoder.POSITION_OFFSET
        x = x + table[start : start + x.shape[1]].unsqueeze(0)
        kept = []
        for i, layer in enumerate(encoder.layers):
            x = layer(x)
            if i in keep:
                kept.append(x)
        return encoder.layer_norm["A"](x), kept

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The final tokens ``[B, 1 + N, D]`` (class token first), after the last LayerNorm."""
        return self._run(x, set())[0]

    def get_intermediate_layers(
        self, x: torch.Tensor, n: int | list[int] = 1, reshape: bool = False, norm: bool = False
    ) -> tuple[torch.Tensor, ...]:
        """Outputs of layers ``n`` (an int: the last ``n``; a list: those indices), class token
        removed: ``[B, N, D]``, or ``[B, D, h, w]`` with ``reshape``. ``norm`` applies the final
        LayerNorm (off by default: the raw block outputs, like timm's ``forward_intermediates``)."""
        depth = len(self.blocks)
        wanted = list(range(depth - n, depth)) if isinstance(n, int) else list(n)
        _, kept = self._run(x, set(wanted))
        by_index = dict(zip(sorted(set(wanted)), kept, strict=True))
        patch = self.patch_embed.patch_size
        h, w = x.shape[-2] // patch[0], x.shape[-1] // patch[1]
        final_norm = self.beit3.encoder.layer_norm["A"]
        outs = []
        for i in wanted:
            t = final_norm(by_index[i]) if norm else by_index[i]
            t = t[:, self.num_prefix_tokens :]
            outs.append(t.transpose(1, 2).reshape(t.shape[0], -1, h, w) if reshape else t)
        return tuple(outs)

    def forward_cls(self, x: torch.Tensor) -> torch.Tensor:
        """The final class token ``[B, D]``."""
        return self.forward_features(x)[:, 0]

    def forward_multiscale(self, x: torch.Tensor) -> torch.Tensor:
        """MUSK's multi-scale feature ``[B, 2D]``: the class token of ``x`` resized (bicubic, in
        float32) to each scale, where a scale above 1 is cut into ``img_size`` tiles (a
        chessboard) whose class tokens are averaged; the scales' features side by side."""
        b, _, size, width = x.shape
        if size != width:
            raise ValueError(f"the multi-scale feature needs square images, got {size}x{width}")
        feats = []
        for scale in self.SCALES:
            big = F.interpolate(x.float(), size=size * scale, mode="bicubic").to(x.dtype)
            tiles = big.reshape(b, -1, scale, size, scale, size).permute(2, 4, 0, 1, 3, 5)
            cls = self.forward_cls(tiles.reshape(scale * scale * b, -1, size, size))
            feats.append(cls.reshape(scale * scale, b, -1).mean(dim=0))
        return torch.cat(feats, dim=-1)

    def forward_projection(self, x: torch.Tensor) -> torch.Tensor:
        """The contrastive projection of the class token (unnormalized)."""
        if self.vision_head is None:
            raise ValueError("this BEiT-3 image path was built without its projection")
        return self.vision_head(self.forward_cls(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_multiscale(x) if self.multiscale else self.forward_cls(x)


def beit3_image(**kwargs: Any) -> Beit3Image:
    """Build a :class:`Beit3Image` (its arguments; ``img_size`` may come as a caller's override)."""
    size = kwargs.get("img_size")
    if isinstance(size, (tuple, list)):
        if len(size) != 2 or size[0] != size[1]:
            raise ValueError(f"BEiT-3 takes square images, got img_size {size}")
        kwargs["img_size"] = size[0]
    return Beit3Image(**kwargs)
