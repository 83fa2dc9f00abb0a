"""What a loaded model shows to code written for timm: its data config and feature API.

timm users reach for ``timm.data.resolve_model_data_config(model)`` and
``timm.data.create_transform(**cfg)``, for ``model.num_features``,
``model.forward_features(x)``, ``model.forward_head(features, pre_logits=True)`` and
``model.forward_intermediates(x, ...)``. :class:`TimmFace`, mixed into
:class:`~zoo.loading.model.ZooModel`, answers them from the manifest, so that timm's
recipe gives the manifest's preprocessing (not ImageNet's defaults) and the manifest's
embedding:

- ``pretrained_cfg`` / ``default_cfg``: the manifest's ``input`` in timm's vocabulary
  (``input_size`` as ``(C, H, W)``, ``mean``, ``std``, ``interpolation``, ``crop_pct``,
  ``crop_mode``), ``num_classes`` 0 (zoo builds no classifier) and where the weights came
  from; the timm model inside carries the same (the loader sets it).
- ``num_features`` (and ``head_hidden_size``): ``D`` of ``model(x) -> [B, D]``.
- ``forward_features(x)``: the final tokens (or feature map) the embedding is pooled from;
  for a timm backbone exactly its own ``forward_features``.
- ``forward_head(features, pre_logits=True)``: the manifest's pooling applied to them, so
  ``forward_head(forward_features(x))`` equals ``model(x)``. There is no classifier, so
  ``pre_logits`` changes nothing.
- ``forward_intermediates(...)``: the backbone's own, where it has one (timm models).

A method the backbone cannot provide is absent (``hasattr`` is False), and asking for it
says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zoo.loading.wrappers._base import Adapter
from zoo.manifest import InputSpec, TilesInputSpec, VolumeInputSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

    from zoo.manifest import Manifest

#: Fields of a timm pretrained config that describe the weights timm would have loaded (its
#: default tag), not the ones zoo loaded; they are replaced by what the manifest says.
PROVENANCE = (
    "url",
    "file",
    "state_dict",
    "hf_hub_id",
    "hf_hub_filename",
    "source",
    "tag",
    "custom_load",
    "test_input_size",
    "test_crop_pct",
    "test_pool_size",
    "license",
    "description",
    "origin_url",
    "paper_name",
    "paper_ids",
    "notes",
    "label_offset",
    "label_names",
    "label_descriptions",
)

#: The timm methods :class:`TimmFace` may offer.
METHODS = ("forward_features", "forward_head", "forward_intermediates")


def pretrained_cfg(manifest: Manifest, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A timm pretrained config that tells what the manifest says.

    Args:
        manifest: The manifest the model was built from.
        base: A timm model's own config: its architecture fields (``first_conv``,
            ``classifier``, ``pool_size``...) are kept; what it says about weights and
            preprocessing is replaced.
    """
    cfg = {k: v for k, v in (base or {}).items() if k not in PROVENANCE}
    spec, ckpt, wrapper = manifest.input, manifest.checkpoint, manifest.wrapper
    architecture = getattr(wrapper, "architecture", None) or cfg.get("architecture")
    cfg.update(
        architecture=architecture or manifest.name,
        tag=ckpt.timm if ckpt is not None else None,
        num_classes=0,
        license=manifest.license.id if manifest.license is not None else None,
        description=manifest.description or None,
        zoo_name=manifest.name,
    )
    if isinstance(spec, TilesInputSpec):  # a slide encoder: no pixels, a bag [N, feature_dim]
        cfg.update(input_size=(spec.feature_dim,), fixed_input_size=False)
    else:
        cfg.update(
            input_size=(spec.in_chans, *(int(n) for n in spec.size)),
            fixed_input_size=not spec.dynamic_size,
        )
    if isinstance(spec, InputSpec):
        cfg.update(
            interpolation=spec.interpolation,
            crop_pct=spec.crop_pct,
            # timm has no pad-then-resize: its border mode (resize, then pad) is the nearest, and
            # the same on square images (README, timm users)
            crop_mode="border" if spec.crop_mode == "pad_square" else spec.crop_mode,
            mean=tuple(spec.mean),
            std=tuple(spec.std),
        )
    else:  # a volume (C, D, H, W) or tiles: timm's 2-D transforms do not apply
        for key in ("interpolation", "crop_pct", "crop_mode", "mean", "std"):
            cfg.pop(key, None)
        if isinstance(spec, VolumeInputSpec) and spec.mean is not None and spec.std is not None:
            cfg.update(mean=tuple(spec.mean), std=tuple(spec.std))
    if ckpt is not None:
        if ckpt.hf is not None:
            cfg.update(hf_hub_id=ckpt.hf.repo, hf_hub_filename=ckpt.hf.filename)
        cfg.update(url=ckpt.url, file=ckpt.path)
    return cfg


class GivenTokens(Adapter):
    """An adapter whose "tokens" are the tensor it is called with (pooling given features)."""

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        return x


class TimmFace:
    """timm's attributes on a loaded model (mixed into :class:`~zoo.loading.model.ZooModel`)."""

    manifest: Manifest
    backbone: nn.Module
    _adapter: Adapter

    if TYPE_CHECKING:

        def _check_input(self, x: torch.Tensor) -> torch.Tensor: ...

        def _pool_tokens(self, tokens: torch.Tensor) -> torch.Tensor: ...

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        """The manifest's input (and weights) as timm's pretrained config."""
        base = getattr(self.backbone, "pretrained_cfg", None)
        return pretrained_cfg(self.manifest, base if isinstance(base, Mapping) else None)

    @property
    def default_cfg(self) -> dict[str, Any]:
        """timm's older name of :attr:`pretrained_cfg`."""
        return self.pretrained_cfg

    @property
    def num_features(self) -> int:
        """``D`` of the embedding ``model(x) -> [B, D]`` (``output.embedding_dim``)."""
        return self.manifest.output.embedding_dim

    @property
    def head_hidden_size(self) -> int:
        """The same as :attr:`num_features` (zoo builds no classifier)."""
        return self.manifest.output.embedding_dim

    def timm_methods(self) -> dict[str, str | None]:
        """Each timm method: ``None`` when this model has it, else why not."""
        pooling = self.manifest.output.pooling
        has_tokens = type(self._adapter).tokens is not Adapter.tokens
        own_head = callable(getattr(self.backbone, "forward_head", None))
        features = None if has_tokens else "the backbone gives zoo no final tokens"
        if pooling == "pooler":
            head = None if own_head else "the embedding is the model's own pooled output"
        elif pooling == "none":
            head = "the manifest's pooling is none: the model's own output is the result"
        else:
            head = features
        intermediates = (
            None
            if callable(getattr(self.backbone, "forward_intermediates", None))
            else f"{type(self.backbone).__name__} has no forward_intermediates (use out_indices)"
        )
        return {
            "forward_features": features,
            "forward_head": head,
            "forward_intermediates": intermediates,
        }

    def __getattr__(self, name: str) -> Any:
        if name in METHODS:
            reason = self.timm_methods()[name]
            if reason is None:
                return getattr(self, f"_{name}")
            raise AttributeError(
                f"{type(self).__name__} ({self.manifest.name}) has no {name}: {reason}"
            )
        return super().__getattr__(name)  # type: ignore[misc]

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._adapter.tokens(self._check_input(x))

    def _forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The embedding from :meth:`forward_features`' output; ``pre_logits`` changes nothing
        (there is no classifier: timm's ``num_classes=0``)."""
        if self.manifest.output.pooling == "pooler":
            head: Any = self.backbone.forward_head
            pooled: torch.Tensor = head(x, pre_logits=True)
            return pooled
        return self._pool_tokens(x)

    def _forward_intermediates(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        method: Any = self.backbone.forward_intermediates
        return method(self._check_input(x), *args, **kwargs)
