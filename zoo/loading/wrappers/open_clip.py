"""``wrapper.type: open_clip`` — the image tower of an open_clip model, built from an inline config.

Only the image tower is built (open_clip's own ``_build_vision_tower``, the function its
``CLIP`` class calls), so no text tower, tokenizer or Hub file is needed: the architecture
builds offline from the manifest alone. Weights never go through open_clip's downloader:
zoo's weights layer fetches the file, and zoo's strict checkpoint path loads the
``visual.*`` part of it (``checkpoint.key: visual``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from zoo.errors import LoadError, UsageError, require
from zoo.loading.wrappers._base import Adapter, BuildContext, WrapperType
from zoo.loading.wrappers._generic import attach_weights, build_scope
from zoo.manifest import Manifest, OpenClipWrapper, Wrapper


def _open_clip() -> Any:
    return require(
        "open_clip",
        package="open-clip-torch",
        extra="open_clip",
        purpose="an open_clip image tower",
    )


class OpenClipAdapter(Adapter):
    """open_clip's image towers: its own ``VisionTransformer``, or a timm trunk (``TimmModel``).

    ``pooler`` is the tower's own pooled output before the projection (the class token after
    ``ln_post`` for a token-pooled ViT), ``projection`` the projected image embedding
    (``encode_image`` without normalization), ``tokens`` the final normalized tokens.
    """

    block_tokens = False  # forward_intermediates returns NCHW maps without the class token

    def _vit(self) -> bool:
        return hasattr(self.module, "transformer") and hasattr(self.module, "_embeds")

    def _plain_vit(self) -> None:
        m = self.module
        if getattr(m, "attn_pool", None) is not None or getattr(m, "final_ln_after_pool", False):
            raise self._unsupported("final tokens (its pooling is not taken from ln_post tokens)")

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        m = self.module
        if self._vit():
            self._plain_vit()
            return m.ln_post(m.transformer(m._embeds(x)))
        return m.trunk.forward_features(x)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        m = self.module
        if self._vit():
            return m._pool(m.transformer(m._embeds(x)))[0]
        if getattr(m.head, "pool", None) is not None:
            raise self._unsupported("a pooled output before the projection (attention pooling)")
        return m.trunk(x)

    def projected(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        out = self.module.forward_intermediates(
            x, indices=indices, intermediates_only=True, output_fmt="NCHW"
        )
        return list(out["image_intermediates"])

    def dims(self) -> dict[str, int | None]:
        m = self.module
        if self._vit():
            proj = getattr(m, "proj", None)
            patch = m.patch_size
            return {
                "token_dim": m.transformer.width,
                "embedding_dim": proj.shape[0] if proj is not None else m.output_dim,
                "projection_dim": m.output_dim,
                "blocks": m.transformer.layers,
                "prefix_tokens": 1,
                "patch_size": patch[0] if isinstance(patch, (tuple, list)) else patch,
            }
        trunk = m.trunk
        proj = getattr(m.head, "proj", None)
        patch = getattr(getattr(trunk, "patch_embed", None), "patch_size", None)
        blocks: Any = getattr(trunk, "blocks", None)
        return {
            "token_dim": getattr(trunk, "embed_dim", None),
            "embedding_dim": getattr(trunk, "num_features", None),
            "projection_dim": proj.out_features if isinstance(proj, nn.Linear) else None,
            "blocks": len(blocks) if isinstance(blocks, (nn.Sequential, nn.ModuleList)) else None,
            "prefix_tokens": getattr(trunk, "num_prefix_tokens", None),
            "patch_size": patch[0] if isinstance(patch, (tuple, list)) else patch,
        }


def build(manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
    """Build the image tower from ``wrapper.config``; weights through zoo's checkpoint path."""
    open_clip = _open_clip()
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    wrapper = manifest.wrapper
    assert isinstance(wrapper, OpenClipWrapper)
    cfg = dict(wrapper.config["vision_cfg"])
    known = {f.name for f in dataclasses.fields(CLIPVisionCfg)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise UsageError(
            f"{manifest.name}: open_clip {open_clip.__version__}'s vision_cfg has no setting "
            f"{', '.join(unknown)} (wrapper.config.vision_cfg)"
        )
    if cfg.get("timm_model_pretrained"):
        raise UsageError(
            f"{manifest.name}: vision_cfg.timm_model_pretrained would download timm weights "
            "outside zoo's weights layer; remove it and declare the checkpoint"
        )
    with build_scope(manifest, ctx):
        try:
            tower = _build_vision_tower(
                embed_dim=wrapper.config["embed_dim"],
                vision_cfg=cfg,
                quick_gelu=bool(wrapper.config.get("quick_gelu", False)),
            )
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise LoadError(
                f"{manifest.name}: open_clip could not build the image tower: {exc}"
            ) from None
    attach_weights(tower, manifest, ctx)
    return tower, OpenClipAdapter(tower, manifest)


class OpenClip(WrapperType):
    """An open_clip image tower: only ``img_size`` can change (``vision_cfg.image_size``)."""

    def merge(self, manifest: Manifest, overrides: dict[str, Any]) -> Wrapper:
        wrapper = manifest.wrapper
        assert isinstance(wrapper, OpenClipWrapper)
        unknown = sorted(set(overrides) - {"img_size"})
        if unknown:
            raise UsageError(
                f"{manifest.name}: an open_clip image tower takes only img_size as an override "
                f"(got {', '.join(unknown)}); its position embedding is fixed to one input size"
            )
        vision = {**wrapper.config["vision_cfg"], "image_size": overrides["img_size"]}
        return wrapper.model_copy(update={"config": {**wrapper.config, "vision_cfg": vision}})


WRAPPER = OpenClip(build)
