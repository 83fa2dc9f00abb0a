"""eva's model wrappers, each describing its model as an in-memory manifest for zoo's loader.

A wrapper knows the model's source but not its output contract, so its manifest
declares ``pooling: none`` (the module's own output, as eva returns it) and a
dynamic input size; apply ``ExtractCLSFeatures`` / ``ExtractPatchFeatures`` to the
output as in eva. :class:`TimmModel` is the exception: timm's registry gives the
full contract (``timm/<architecture>[.<tag>]``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.catalog.timm import registry as timm_registry
from zoo.compat.eva.base import BaseModel
from zoo.compat.eva.manifests import checkpoint_spec, public_path, wrapper_manifest
from zoo.errors import UsageError
from zoo.loading.indices import resolve_out_indices
from zoo.loading.model import ZooModel
from zoo.manifest import Manifest


def _load(manifest: Manifest, **kwargs: Any) -> ZooModel:
    from zoo.loading.api import load

    return load(manifest, **kwargs)


class ModelFromFunction(BaseModel):
    """A model returned by a function (``torch.hub.load``, ``timm.create_model``, your own).

    The function is imported under zoo's trusted-module allow-list; allow your own
    package with ``ZOO_TRUSTED_MODULES=mypackage``.

    Args:
        path: The function, or its dotted path.
        arguments: Its keyword arguments.
        checkpoint_path: Weights loaded into the returned module (strict).
        tensor_transforms: Applied to the model's output.
        transforms: Newer name of ``tensor_transforms``.
    """

    def __init__(
        self,
        path: Callable[..., nn.Module] | str,
        arguments: dict[str, Any] | None = None,
        checkpoint_path: str | None = None,
        tensor_transforms: Callable | None = None,
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(tensor_transforms, transforms)
        self._path = public_path(path)
        self._arguments = dict(arguments or {})
        self._checkpoint_path = checkpoint_path
        self.model = self.load_model()

    def load_model(self) -> ZooModel:
        if self._path == "torch.hub.load":  # a manifest never calls it: the torchhub wrapper does
            args = {k: v for k, v in self._arguments.items() if k not in ("source", "verbose")}
            trust = bool(args.pop("trust_repo", True))
            repo, entry = args.pop("repo_or_dir"), args.pop("model")
            return _hub_model(repo, entry, args, trust, self._checkpoint_path)
        wrapper = {"type": "function", "path": self._path, "arguments": self._arguments}
        channels = self._arguments.get("in_chans", 3)
        manifest = wrapper_manifest(
            self._path,
            wrapper,
            checkpoint_spec(self._checkpoint_path),
            channels=channels if isinstance(channels, int) else 3,
        )
        return _load(manifest)


_TIMM_SET_BY_WRAPPER = {"num_classes": 0}


class TimmModel(BaseModel):
    """A timm model, ``timm/<model_name>`` in zoo's terms (timm's input config and contract).

    Args:
        model_name: timm name, with or without a pretrained tag (``vit_small_patch16_224.dino``).
        pretrained: Load timm's pretrained weights.
        checkpoint_path: Load these weights instead.
        out_indices: Feature maps instead of the embedding: ``n`` or block indices.
        model_kwargs: ``timm.create_model`` keyword arguments (``dynamic_img_size``...).
        tensor_transforms: Applied to the model's output.
        transforms: Newer name of ``tensor_transforms``.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: bool = True,
        checkpoint_path: str = "",
        out_indices: int | tuple[int, ...] | list[int] | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tensor_transforms: Callable | None = None,
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(tensor_transforms, transforms)
        self._model_name = model_name
        self._pretrained = pretrained
        self._checkpoint_path = checkpoint_path
        self._out_indices = out_indices
        self._model_kwargs = dict(model_kwargs or {})
        self.model = self.load_model()

    def load_model(self) -> ZooModel:
        kwargs = dict(self._model_kwargs)
        for key, value in _TIMM_SET_BY_WRAPPER.items():
            if key in kwargs and kwargs[key] != value:
                raise UsageError(
                    f"TimmModel returns the embedding (timm's num_classes=0); {key}={kwargs[key]!r} "
                    "is not supported: put a head on top of the backbone instead"
                )
            kwargs.pop(key, None)
        # The output contract of the architecture as these arguments build it (depth,
        # embed_dim, reg_tokens... change it), not as timm's defaults do.
        manifest = timm_registry.manifest_for(f"timm/{self._model_name}", kwargs or None)
        ckpt = checkpoint_spec(self._checkpoint_path)
        if ckpt is not None:
            manifest = Manifest.model_validate({**manifest.model_dump(), "checkpoint": ckpt})
        return _load(
            manifest,
            out_indices=self._out_indices,
            pretrained=self._pretrained or ckpt is not None,
            **kwargs,
        )


def _local_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class HuggingFaceModel(BaseModel):
    """A transformers model (``AutoModel.from_pretrained``), from a Hub repository or a local folder.

    The output is the transformers output object; extract tokens with
    ``ExtractCLSFeatures`` / ``ExtractPatchFeatures``.

    Args:
        model_name_or_path: ``owner/name`` on the Hugging Face Hub, or a local folder.
        tensor_transforms: Applied to the model's output.
        model_kwargs: ``from_pretrained`` keyword arguments; ``revision`` pins the Hub
            commit and ``trust_remote_code: true`` allows the repository's code.
        transforms: Newer name of ``tensor_transforms``.
    """

    def __init__(
        self,
        model_name_or_path: str,
        tensor_transforms: Callable | None = None,
        model_kwargs: dict[str, Any] | None = None,
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(tensor_transforms, transforms)
        self._model_name_or_path = model_name_or_path
        self._model_kwargs = dict(model_kwargs or {})
        self.model = self.load_model()

    def load_model(self) -> ZooModel:
        kwargs = dict(self._model_kwargs)
        trust = bool(kwargs.pop("trust_remote_code", False))
        revision = kwargs.pop("revision", None)
        kwargs.pop("use_safetensors", None)  # zoo reads safetensors already
        folder = Path(self._model_name_or_path).expanduser()
        channels = 3
        if folder.is_dir():
            ckpt: dict[str, Any] = {"path": str(folder.resolve())}
            channels = int(_local_config(folder).get("num_channels", 3) or 3)
        else:
            ckpt = {"hf": {"repo": self._model_name_or_path, "revision": revision}}
        # eva loads with transformers' from_pretrained, which initialises the weights a folder
        # lacks (a ViTModel saved without its pooler); so does the drop-in, with a warning.
        ckpt["strict"] = False
        wrapper = {
            "type": "transformers",
            "model_class": "AutoModel",
            "trust_remote_code": trust,
            "kwargs": kwargs,
        }
        manifest = wrapper_manifest(self._model_name_or_path, wrapper, ckpt, channels=channels)
        return _load(manifest, trust_remote_code=trust)


class ONNXModel(BaseModel):
    """An ``.onnx`` file run by onnxruntime; the output is the graph's first output.

    Args:
        path: The ``.onnx`` file.
        device: ``cpu`` or ``cuda``.
        tensor_transforms: Applied to the model's output.
        transforms: Newer name of ``tensor_transforms``.
    """

    def __init__(
        self,
        path: str,
        device: str | None = "cpu",
        tensor_transforms: Callable | None = None,
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(tensor_transforms, transforms)
        self._path = path
        self._device = device
        self.model = self.load_model()

    def load_model(self) -> ZooModel:
        if self._device not in (None, "cpu", "cuda"):
            raise UsageError(f"ONNXModel: device {self._device!r}: use cpu or cuda")
        if self._device == "cuda" and not torch.cuda.is_available():
            raise UsageError(
                "Device is set to 'cuda', but CUDA is not available. (ONNXModel: use device: cpu)"
            )
        provider = "CUDAExecutionProvider" if self._device == "cuda" else "CPUExecutionProvider"
        wrapper = {"type": "onnx", "providers": [provider]}
        ckpt = {"path": str(Path(self._path).expanduser().resolve())}
        return _load(wrapper_manifest(Path(self._path).name, wrapper, ckpt))


def _hub_model(
    repo_or_dir: str, entry: str, kwargs: dict[str, Any], trust: bool, ckpt: str | None
) -> ZooModel:
    local = Path(repo_or_dir).expanduser()
    wrapper = {
        "type": "torchhub",
        "repo": str(local.resolve()) if local.is_dir() else repo_or_dir,
        "entry": entry,
        "source": "local" if local.is_dir() else "github",
        "kwargs": kwargs,
        "trust_repo": trust,
    }
    manifest = wrapper_manifest(f"{repo_or_dir}:{entry}", wrapper, checkpoint_spec(ckpt))
    return _load(manifest, trust_remote_code=trust)


class TorchHubModel(BaseModel):
    """A ``torch.hub`` entry point, from GitHub (``owner/repo[:ref]``) or a local folder.

    Args:
        model_name: The entry point in ``hubconf.py``.
        repo_or_dir: GitHub repository or local folder.
        pretrained: Passed to the entry point.
        checkpoint_path: Weights loaded into the returned module (strict).
        out_indices: Feature maps from the model's ``get_intermediate_layers`` (or timm's
            ``forward_intermediates``): ``n`` or block indices.
        norm: eva's option to normalize intermediate features; not supported (must be False).
        trust_repo: Run a GitHub repository's code (eva's default: True).
        model_kwargs: More keyword arguments of the entry point.
        tensor_transforms: Applied to the model's output.
        transforms: Newer name of ``tensor_transforms``.
    """

    def __init__(
        self,
        model_name: str,
        repo_or_dir: str,
        pretrained: bool = True,
        checkpoint_path: str = "",
        out_indices: int | tuple[int, ...] | list[int] | str | None = None,
        norm: bool = False,
        trust_repo: bool = True,
        model_kwargs: dict[str, Any] | None = None,
        tensor_transforms: Callable | None = None,
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(tensor_transforms, transforms)
        if norm:
            raise UsageError(
                "TorchHubModel: norm=True is not supported; zoo returns the blocks' outputs as they are"
            )
        self._model_name = model_name
        self._repo_or_dir = repo_or_dir
        self._pretrained = pretrained
        self._checkpoint_path = checkpoint_path
        self._trust_repo = trust_repo
        self._model_kwargs = dict(model_kwargs or {})
        self.model = self.load_model()
        self._blocks = self._select_blocks(out_indices)

    def load_model(self) -> ZooModel:
        kwargs = {"pretrained": self._pretrained, **self._model_kwargs}
        return _hub_model(
            self._repo_or_dir, self._model_name, kwargs, self._trust_repo, self._checkpoint_path
        )

    def _select_blocks(self, out_indices: Any) -> list[int] | None:
        if out_indices is None:
            return None
        module = self.model.backbone
        if not any(
            callable(getattr(module, m, None))
            for m in ("get_intermediate_layers", "forward_intermediates")
        ):
            raise UsageError(
                "Only models with `get_intermediate_layers` are supported when using "
                f"`out_indices`. (TorchHubModel {self._model_name}: zoo also takes timm's "
                "`forward_intermediates`; this model has neither)"
            )
        blocks = getattr(module, "blocks", None)
        count = len(blocks) if isinstance(blocks, (nn.ModuleList, nn.Sequential)) else 0
        return resolve_out_indices(out_indices, count)

    def model_forward(self, tensor: torch.Tensor) -> Any:
        if self._blocks is None:
            return self.model(tensor)
        return self.model.features(tensor, self._blocks)
