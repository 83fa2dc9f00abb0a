"""Drafts from a local transformers folder (``save_pretrained``) or its ``config.json``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import UsageError, require
from zoo.scaffold._draft import Draft, common_todos

_IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _transformers() -> Any:
    return require(
        "transformers", package="transformers", extra="transformers", purpose="zoo new hf:"
    )


#: Config keys that describe how a checkpoint was saved, not the architecture.
_SKIP_CONFIG = frozenset(
    {
        "architectures", "transformers_version", "torch_dtype", "dtype", "id2label", "label2id",
        "auto_map", "return_dict", "output_hidden_states", "output_attentions", "use_cache",
        "name_or_path", "problem_type", "tie_word_embeddings", "chunk_size_feed_forward",
        "is_encoder_decoder", "tokenizer_class", "pad_token_id", "bos_token_id", "eos_token_id",
        "out_features", "out_indices", "stage_names",
    }
)  # fmt: skip
#: Config keys always written inline (the architecture at a glance).
_ESSENTIAL = (
    "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "hidden_act", "image_size", "patch_size", "num_channels", "num_register_tokens",
    "layer_norm_eps", "qkv_bias",
)  # fmt: skip


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def _inline_config(config: Any) -> dict[str, Any]:
    """The config's architecture fields: the essentials, plus every field off its default."""
    full = config.to_dict()
    try:
        defaults = type(config)().to_dict()
    except (TypeError, ValueError):
        defaults = {}
    keep = [k for k in _ESSENTIAL if k in full]
    keep += sorted(
        k
        for k, v in full.items()
        if k not in keep
        and k not in _SKIP_CONFIG
        and not k.startswith("_")
        and (k not in defaults or defaults[k] != v)
    )
    # A key the config class does not define is one the model ignores (a config stores any
    # keyword it is given); zoo refuses it in an inline config, so the draft leaves it out.
    keep = [k for k in keep if not defaults or k in defaults or k == "model_type"]
    return {
        k: list(full[k]) if isinstance(full[k], tuple) else full[k] for k in keep if _plain(full[k])
    }


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
    ):
        return value[0], value[1]
    return None


def _input_from_preprocessor(
    folder: Path, image_size: tuple[int, int], channels: int, draft: Draft
) -> dict[str, Any]:
    file = folder / "preprocessor_config.json"
    spec: dict[str, Any] = {"size": list(image_size)}
    pre: dict[str, Any] = {}
    if file.is_file():
        try:
            pre = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {file}: {exc}") from None
    mean, std = pre.get("image_mean"), pre.get("image_std")
    if isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == channels:
        spec["mean"], spec["std"] = mean, std
        draft.before["input"] = [f"input: from {file.name}"]
    else:
        spec["mean"], spec["std"] = (
            _IMAGENET if channels == 3 else ([0.5] * channels, [0.5] * channels)
        )
        draft.before["input"] = [
            f"TODO input: no usable preprocessor_config.json in {folder.name}; check size, mean, "
            "std and interpolation against the model card"
        ]
    spec["interpolation"] = _RESAMPLE.get(pre.get("resample"), "bicubic")  # type: ignore[arg-type]
    size = pre.get("size")
    edge = (
        size.get("shortest_edge")
        if isinstance(size, dict)
        else size
        if isinstance(size, int)
        else None
    )
    if isinstance(size, dict) and "height" in size and "width" in size:
        spec["size"] = [size["height"], size["width"]]
    crop = pre.get("crop_size")
    crop_hw = (
        (crop["height"], crop["width"])
        if isinstance(crop, dict) and "height" in crop and "width" in crop
        else _pair(crop)
    )
    spec["crop_pct"] = 1.0
    if pre.get("do_center_crop") and crop_hw is not None:
        spec["size"] = list(crop_hw)
        if isinstance(edge, int) and edge >= min(crop_hw):
            spec["crop_pct"] = round(min(crop_hw) / edge, 4)
    elif isinstance(edge, int) and not (isinstance(size, dict) and "height" in size):
        spec["size"] = [edge, edge]
    spec["crop_mode"] = "center"
    spec["dynamic_size"] = False
    return spec


def _license_from_card(folder: Path) -> dict[str, Any] | None:
    from zoo.catalog.timm.registry import _LICENSES

    card = folder / "README.md"
    try:
        text = card.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.match(r"^---\n(.*?)\n---", text, re.DOTALL)
    if not match:
        return None
    try:
        meta = yaml.safe_load(match[1])
    except yaml.YAMLError:
        return None
    raw = str(meta.get("license", "")).lower() if isinstance(meta, dict) else ""
    if raw in _LICENSES:
        spdx, commercial = _LICENSES[raw]
        return {"id": spdx, "commercial": commercial}
    return None


def hf_draft(source: Path, name: str, target: Path) -> Draft:
    """A draft for a local transformers folder (``save_pretrained``) or its ``config.json``."""
    transformers = _transformers()
    folder = source.parent if source.name == "config.json" else source
    if not (folder / "config.json").is_file():
        raise UsageError(
            f"no config.json in {folder}: give a folder written by save_pretrained "
            "(or the path of its config.json)"
        )
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(
            f"transformers cannot read {folder / 'config.json'}: {str(exc).splitlines()[0]}"
        ) from None
    model_type = str(getattr(config, "model_type", "") or "")
    hidden = getattr(config, "hidden_size", None)
    patch = _pair(getattr(config, "patch_size", None))
    layers = getattr(config, "num_hidden_layers", None)
    missing = [
        k
        for k, v in (("hidden_size", hidden), ("patch_size", patch), ("num_hidden_layers", layers))
        if not v
    ]
    if missing or patch is None or patch[0] != patch[1]:
        what = ", ".join(missing) if missing else "a square patch_size"
        raise UsageError(
            f"zoo new hf: drafts ViT-style models (hidden_size, square patch_size, "
            f"num_hidden_layers); the {model_type or 'unknown'} config has no {what}. "
            "Write this manifest by hand (see CONTRIBUTING.md)."
        )
    archs = list(getattr(config, "architectures", None) or [])
    model_class = next(
        (a for a in archs if a.endswith("Model") and hasattr(transformers, a)), "AutoModel"
    )
    registers = int(getattr(config, "num_register_tokens", 0) or 0)
    channels = int(getattr(config, "num_channels", 3) or 3)
    image = _pair(getattr(config, "image_size", None)) or (224, 224)
    tag = re.sub(r"[^a-z0-9_\-.+]", "_", model_type.lower())
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": name,
        "description": "",
        "tags": [tag] if tag else [],
        "wrapper": {
            "type": "transformers",
            "model_class": model_class,
            "config": _inline_config(config),
        },
        "output": {
            "embedding_dim": int(hidden),  # type: ignore[arg-type]
            "pooling": "cls",
            "prefix_tokens": 1 + registers,
            "patch_size": patch[0],
            "feature_levels": int(layers),  # type: ignore[arg-type]
            "feature_dim": int(hidden),  # type: ignore[arg-type]
        },
    }
    draft = Draft(data)
    common_todos(draft)
    draft.before["tags"] = ["TODO tags: add lowercase labels (vit, dinov2, pathology, ...)"]
    data["input"] = _input_from_preprocessor(folder, image, channels, draft)
    lic = _license_from_card(folder)
    if lic is not None:
        data["license"] = lic
        draft.before["license"] = ["license: from the model card (README.md)"]
    else:
        draft.before["license"] = [
            "TODO license: {id: <SPDX id or other>, commercial: true|false, url: <terms>}"
        ]
    draft.before["wrapper"] = [
        "wrapper.config: the architecture inline, so it builds offline without the weights"
    ]
    weights = [
        f
        for f in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                  "pytorch_model.bin.index.json")
        if (folder / f).is_file()
    ]  # fmt: skip
    if weights:
        root = target.resolve().parent.parent
        where = folder.resolve()
        path = (
            os.path.relpath(where, target.resolve().parent)
            if where.is_relative_to(root)
            else str(where)
        )
        data["checkpoint"] = {
            "path": Path(path).as_posix(),
            "format": "safetensors" if weights[0].startswith("model.safetensors") else "pickle",
        }
        draft.before["checkpoint"] = [
            "TODO checkpoint: before sharing, publish the weights and point at them: "
            "{hf: {repo: owner/name, revision: <commit sha>}}"
        ]
    else:
        draft.before["checkpoint"] = [
            f"TODO checkpoint: no weights in {folder.name} (random init); add "
            "{hf: {repo: owner/name, revision: <commit sha>}} or {path: <folder>}"
        ]
    draft.trailing["output.pooling"] = "the class token; or mean, cls+mean, pooler"
    return draft
