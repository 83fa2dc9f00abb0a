"""State-dict I/O: safetensors first, pickles only with ``weights_only=True``; key remaps; assignment.

Models are built with their parameters on the ``meta`` device (no memory, no
random init) and the checkpoint's tensors are assigned in place; safetensors
files are memory-mapped, so a large model is never held twice in memory.
"""

from __future__ import annotations

import contextlib
import fnmatch
import pickle
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import CheckpointMismatchError, LoadError
from zoo.manifest import Checkpoint, Remap

StateDict = dict[str, torch.Tensor]


@contextlib.contextmanager
def empty_parameters() -> Iterator[None]:
    """Create every parameter registered inside this block on the ``meta`` device.

    Buffers stay real: non-persistent buffers (rotary tables, relative position
    indices) are not in checkpoints and must be computed as usual. Initializers
    run on meta tensors, which costs nothing.
    """
    original = nn.Module.register_parameter

    def register(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        original(module, name, param)
        if param is not None and not param.is_meta:
            kwargs = {"requires_grad": param.requires_grad}
            module._parameters[name] = type(param)(param.to("meta"), **kwargs)

    nn.Module.register_parameter = register  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        nn.Module.register_parameter = original  # type: ignore[method-assign]


def _is_safetensors(path: Path, fmt: str) -> bool:
    if fmt != "auto":
        return fmt == "safetensors"
    return path.suffix == ".safetensors"


def read_file(path: Path, fmt: str = "auto") -> Mapping[str, Any]:
    """Read a checkpoint file: memory-mapped safetensors, or a pickle with ``weights_only=True``."""
    if _is_safetensors(path, fmt):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise LoadError(f"cannot read {path} as safetensors: {exc}") from None
    try:
        with warnings.catch_warnings():
            # A pickle of a newer protocol than torch writes: the outcome below says what matters.
            warnings.filterwarnings("ignore", message=r"Detected pickle protocol")
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:  # legacy (non-zip) pickles cannot be memory-mapped
                if "mmap" not in str(exc):
                    raise
                return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights-only loading refused an object: name it
        from zoo.loading.pickles import refusal_message

        message = refusal_message(path)
        if message is None:
            raise LoadError(
                f"cannot read {path}: it is neither a torch checkpoint nor a pickle (damaged, "
                "or another format). Check the file, or convert the checkpoint to safetensors."
            ) from None
        raise LoadError(message) from None
    except Exception as exc:  # a damaged or foreign file: RuntimeError, EOFError, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LoadError(
            f"cannot read {path} as a weights-only pickle ({type(exc).__name__}: {first}). "
            "Check the file, or convert the checkpoint to safetensors."
        ) from None


def _prefixed(node: Any, prefix: str) -> dict[str, Any] | None:
    """The entries of a flat mapping whose keys start with ``prefix.``, with it removed."""
    if not isinstance(node, Mapping):
        return None
    found = {k[len(prefix) + 1 :]: v for k, v in node.items() if k.startswith(prefix + ".")}
    return found or None


def select(data: Mapping[str, Any], key: str | None, source: str) -> StateDict:
    """Pick the nested dict named by the dotted ``key`` and check it is a flat tensor dict.

    A part of the key that is not a nested dict may be the common prefix of flat keys: in a
    full CLIP state dict, ``visual`` selects the image tower's ``visual.*`` tensors (prefix
    removed), as if they were a nested dict ``visual``.
    """
    node: Any = data
    if key:
        parts = key.split(".")
        for i, part in enumerate(parts):
            if isinstance(node, Mapping) and part not in node:
                flat = _prefixed(node, ".".join(parts[i:]))
                if flat is not None:
                    node = flat
                    break
            if not isinstance(node, Mapping) or part not in node:
                have = (
                    ", ".join(sorted(map(str, node))[:8])
                    if isinstance(node, Mapping)
                    else type(node).__name__
                )
                raise LoadError(
                    f"checkpoint {source} has no key {key!r} (at {part!r}; keys: {have}). Fix checkpoint.key."
                )
            node = node[part]
    if not isinstance(node, Mapping):
        raise LoadError(
            f"checkpoint {source}: {key or 'the file'} is a {type(node).__name__}, not a state dict"
        )
    tensors = {k: v for k, v in node.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        nested = [k for k, v in node.items() if isinstance(v, Mapping)]
        hint = f" Nested dicts: {', '.join(nested[:8])}; set checkpoint.key." if nested else ""
        raise LoadError(f"checkpoint {source} holds no tensors at {key or 'the top level'}.{hint}")
    return tensors


def remap(state: StateDict, rules: Remap) -> StateDict:
    """Apply ``strip_prefix``, ``rename`` (regex), ``keep`` and ``drop`` (globs), in that order."""
    if not (rules.strip_prefix or rules.rename or rules.keep or rules.drop):
        return state
    renames = [(re.compile(p), r) for p, r in rules.rename.items()]
    out: StateDict = {}
    for key, value in state.items():
        for prefix in rules.strip_prefix:
            key = key.removeprefix(prefix)
        for pattern, replacement in renames:
            key = pattern.sub(replacement, key)
        if rules.keep and not any(fnmatch.fnmatchcase(key, g) for g in rules.keep):
            continue
        if any(fnmatch.fnmatchcase(key, g) for g in rules.drop):
            continue
        out[key] = value
    return out


def load_state_dict(
    path: Path, ckpt: Checkpoint, *, filters: tuple[Callable[[StateDict], StateDict], ...] = ()
) -> StateDict:
    """Read, select, remap and filter a checkpoint file into a flat state dict."""
    state = remap(select(read_file(path, ckpt.format), ckpt.key, str(path)), ckpt.remap)
    for fn in filters:
        state = fn(state)
    return state


def _recompute_buffers(model: nn.Module) -> None:
    """Recompute the non-persistent buffers that were derived from meta parameters.

    Some modules compute a buffer from their parameters' device while being built (timm's Swin
    attention masks); built with :func:`empty_parameters` it lands on meta. timm's modules say
    how to recompute them (``init_non_persistent_buffers``), which works once weights are real.
    """
    for module in model.modules():
        fn = getattr(module, "init_non_persistent_buffers", None)
        if callable(fn) and any(b.is_meta for b in module.buffers(recurse=False)):
            fn()


def check_keys(
    model: nn.Module, state: Mapping[str, Any], *, source: str, strict: bool = True
) -> dict[str, Any]:
    """Compare a state dict's keys and shapes with the model's (nothing is loaded).

    Returns:
        The model's own state dict (``keep_vars``), for the caller to fill.

    Raises:
        CheckpointMismatchError: Missing/unexpected keys (when ``strict``) or any shape mismatch.
    """
    expected = model.state_dict(keep_vars=True)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in state
        if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if mismatched or (strict and (missing or unexpected)):
        raise CheckpointMismatchError(source, missing, unexpected, mismatched)
    return expected


def assign(
    model: nn.Module,
    state: StateDict,
    *,
    source: str,
    strict: bool = True,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
) -> None:
    """Put a state dict's tensors into a model built with :func:`empty_parameters`.

    Floating tensors are cast to ``dtype`` and moved to ``device`` (copies only
    when they differ). Keys and shapes are checked first; a mismatch raises
    :class:`CheckpointMismatchError` listing the first offending keys.

    Raises:
        CheckpointMismatchError: Missing/unexpected keys (when ``strict``) or any shape mismatch.
        LoadError: Parameters left without weights (non-strict and missing), or buffers left
            on meta that no module knows how to recompute.
    """
    expected = check_keys(model, state, source=source, strict=strict)
    ready: StateDict = {}
    for key, value in state.items():
        if key not in expected:
            continue
        target = expected[key]
        if value.is_floating_point():
            want = dtype or (target.dtype if target.is_floating_point() else value.dtype)
        else:
            want = value.dtype
        ready[key] = value.to(device=device or "cpu", dtype=want)
    model.load_state_dict(ready, strict=False, assign=True)
    _recompute_buffers(model)
    left = [n for n, p in [*model.named_parameters(), *model.named_buffers()] if p.is_meta]
    if left:
        raise LoadError(
            f"checkpoint {source} leaves {len(left)} parameter(s) or buffer(s) without values: {', '.join(left[:5])}"
        )
