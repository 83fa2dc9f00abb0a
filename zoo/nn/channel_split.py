"""A one-channel trunk run on every channel of an image: GenBio-PathFM's per-channel encoding.

``channel_split`` builds a timm trunk with ``in_chans=1`` and wraps it in :class:`ChannelSplit`,
which folds the channels of a ``[B, C, H, W]`` batch into the batch (``[B*C, 1, H, W]``), runs
the trunk once and lays the per-channel results side by side along the feature axis, channel 0
first. Every token, and so the class token and every feature map, is ``C`` times the trunk's
width:

- tokens ``[B, N, C*D]``: token ``n`` of channel ``c`` fills features ``c*D:(c+1)*D``; the
  class token is therefore the per-channel class tokens concatenated (GenBio-PathFM's
  embedding, ``[B, 3*1536]``);
- block ``i``'s feature map ``[B, C*D, H/p, W/p]``: the trunk's map of each channel, stacked
  along the channel axis in the same order (the layout of the authors' ``forward_with_patches``
  patch tokens, on the grid).

The trunk's parameters sit under ``trunk.``; its own feature API is kept, so zoo reaches tokens,
pooled output and block maps as for any timm model.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.nn._trunk import TrunkFacts


class ChannelSplit(TrunkFacts):
    """Run a one-channel ``trunk`` on each of ``channels`` input channels; concatenate features.

    Args:
        trunk: A timm model built with ``in_chans=1`` (duck-typed: its feature API is called).
        channels: Channels of the input, each encoded on its own.
    """

    trunk: Any

    def __init__(self, trunk: Any, channels: int = 3) -> None:
        super().__init__()
        trunk_chans = getattr(trunk, "in_chans", None)
        if trunk_chans is not None and trunk_chans != 1:
            raise ValueError(f"ChannelSplit needs a one-channel trunk, got in_chans={trunk_chans}")
        if channels < 1:
            raise ValueError(f"ChannelSplit needs at least one channel, got {channels}")
        self.trunk = trunk
        self.channels = channels
        self.in_chans = channels
        self.embed_dim = channels * int(trunk.embed_dim)
        self.num_features = channels * int(trunk.num_features)

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` to ``[B*C, 1, H, W]`` (channel fastest, so ``b*C + c``)."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"ChannelSplit expects [B, {self.channels}, H, W] images, got {tuple(x.shape)}"
            )
        b, c, h, w = x.shape
        return x.reshape(b * c, 1, h, w)

    def _unfold(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        """``[B*C, ...]`` to ``[B, ...]`` with the ``C`` results concatenated along ``dim``."""
        c = self.channels
        per = t.reshape(t.shape[0] // c, c, *t.shape[1:])  # [B, C, ...]
        return torch.cat(per.unbind(1), dim=dim)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's final (normalized) tokens, ``[B, N, C*D]``."""
        return self._unfold(self.trunk.forward_features(self._fold(x)), dim=-1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The class token of :meth:`forward_features`' output: the per-channel class tokens,
        concatenated (the trunk is built with ``global_pool='token'`` where this is its pooling)."""
        return x[:, 0]

    def forward_intermediates(
        self, x: torch.Tensor, indices: Any = None, output_fmt: str = "NCHW", **kwargs: Any
    ) -> Any:
        """The trunk's block outputs per channel, concatenated along the feature axis.

        ``NCHW`` maps are ``[B, C*D, h, w]``; ``NLC`` tokens ``[B, N, C*D]``. With
        ``intermediates_only=False`` the final tokens come first, as in timm.
        """
        out = self.trunk.forward_intermediates(
            self._fold(x), indices=indices, output_fmt=output_fmt, **kwargs
        )
        axis = 1 if output_fmt == "NCHW" else -1
        if kwargs.get("intermediates_only"):
            return [self._unfold(t, dim=axis) for t in out]
        final, maps = out
        return self._unfold(final, dim=-1), [self._unfold(t, dim=axis) for t in maps]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def channel_split(
    architecture: str, trunk: dict[str, Any], channels: int = 3, **overrides: Any
) -> ChannelSplit:
    """Build a :class:`ChannelSplit`: ``timm.create_model(architecture, num_classes=0, in_chans=1,
    **trunk)`` (the caller's overrides such as ``img_size`` go to the trunk too)."""
    import timm

    kwargs = {**trunk, **overrides}
    if kwargs.pop("in_chans", 1) != 1:
        raise ValueError("channel_split builds a one-channel trunk: leave in_chans out")
    model = timm.create_model(architecture, pretrained=False, num_classes=0, in_chans=1, **kwargs)
    return ChannelSplit(model, channels)
