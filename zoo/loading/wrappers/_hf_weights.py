"""transformers checkpoints on zoo's checkpoint path: the folder's state dict, strictness, quiet.

A transformers checkpoint is a folder (``save_pretrained``'s layout): ``config.json`` plus
``model.safetensors`` or shards listed in ``model.safetensors.index.json`` (pickles:
``pytorch_model.bin`` and its index). zoo reads the tensors itself, so ``checkpoint.key``,
``remap`` and the weights-only rule apply as for every wrapper, and checks what transformers
reports after mapping them onto the architecture.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from zoo.errors import CheckpointMismatchError, LoadError, WeightsNotAvailableError
from zoo.loading.checkpoint import StateDict, read_file, remap, select
from zoo.manifest import Checkpoint

#: (single file, shard index) per format.
_LAYOUTS = {
    "safetensors": ("model.safetensors", "model.safetensors.index.json"),
    "pickle": ("pytorch_model.bin", "pytorch_model.bin.index.json"),
}


def weight_files(folder: Path, fmt: str) -> list[Path]:
    """The weight files of a ``save_pretrained`` folder, shards in index order.

    Raises:
        WeightsNotAvailableError: The folder has none in the manifest's format.
    """
    kind = "pickle" if fmt == "pickle" else "safetensors"
    single, index = _LAYOUTS[kind]
    if (folder / index).is_file():
        try:
            weight_map = json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LoadError(f"cannot read the shard index {folder / index}: {exc}") from None
        names = list(dict.fromkeys(str(v) for v in weight_map.values()))
        files = [folder / name for name in names]
        missing = [str(f) for f in files if not f.is_file() or ".." in Path(f.name).parts]
        if missing:
            raise WeightsNotAvailableError(
                missing[0],
                [str(folder)],
                "Fetch the whole repository again (`zoo pull NAME`).",
                reason=f"{len(missing)} shard(s) listed in {index} are missing",
            )
        return files
    if (folder / single).is_file():
        return [folder / single]
    have = (
        ", ".join(sorted(p.name for p in folder.iterdir())[:10]) if folder.is_dir() else "nothing"
    )
    hint = " (set checkpoint.format: pickle for pytorch_model.bin)" if kind == "safetensors" else ""
    raise WeightsNotAvailableError(
        str(folder / single),
        [str(folder)],
        f"The folder holds: {have}.{hint}",
        reason=f"no {single} or {index} in the checkpoint folder",
    )


def folder_state(folder: Path, ckpt: Checkpoint) -> StateDict:
    """The folder's tensors as one flat state dict, with ``key`` and ``remap`` applied."""
    fmt = "pickle" if ckpt.format == "pickle" else "safetensors"
    state: StateDict = {}
    for file in weight_files(folder, fmt):
        state.update(select(read_file(file, fmt), ckpt.key, str(file)))
    return remap(state, ckpt.remap)


def _names(keys: Any) -> list[str]:
    """Key names from transformers' loading info (strings, or tuples led by the name)."""
    found = []
    for key in keys or ():
        if isinstance(key, (tuple, list)) and key:
            shapes = " ".join(str(tuple(s)) for s in key[1:] if hasattr(s, "__len__"))
            found.append(f"{key[0]} {shapes}".strip())
        else:
            found.append(str(key))
    return sorted(found)


#: The fix when the only weights missing are a pooler the entry's pooling does not use.
NO_POOLER = (
    "The checkpoint has no pooler and output.pooling is not `pooler`, so the entry needs none: "
    "set `wrapper.kwargs: {add_pooling_layer: false}` (as pathology/owkin_phikon does)."
)


def _pooler_only(missing: list[str]) -> bool:
    """All missing keys belong to a pooler (``pooler.*``, or ``<base model>.pooler.*``)."""
    return bool(missing) and all("pooler" in key.split(".")[:2] for key in missing)


def enforce_loading_info(
    info: Mapping[str, Any], *, strict: bool, source: str, pooling: str | None = None
) -> None:
    """Refuse what transformers reports: mis-shaped weights always, missing or unexpected ones
    when ``strict`` (the names are the architecture's, after transformers' own key conversions).
    Not strict, weights the checkpoint lacks are newly initialised, with a warning naming them.

    Args:
        info: transformers' loading info.
        strict: ``checkpoint.strict``.
        source: The checkpoint, for messages.
        pooling: The entry's ``output.pooling``: when only an unused pooler is missing, the
            error names the fix (``add_pooling_layer: false``).

    Raises:
        CheckpointMismatchError: Naming the keys.
        LoadError: transformers reported errors of its own.
    """
    missing, unexpected = _names(info.get("missing_keys")), _names(info.get("unexpected_keys"))
    mismatched = _names(info.get("mismatched_keys"))
    if mismatched or (strict and (missing or unexpected)):
        unused_pooler = not unexpected and not mismatched and pooling != "pooler"
        fix = NO_POOLER if unused_pooler and _pooler_only(missing) else CheckpointMismatchError.FIX
        raise CheckpointMismatchError(source, missing, unexpected, mismatched, fix=fix)
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        )
        warnings.warn(
            f"{source}: {len(missing)} weight(s) not in the checkpoint were newly initialised"
            f" (checkpoint.strict is false): {shown}",
            stacklevel=2,
        )
    errors = [str(e) for e in info.get("error_msgs") or ()]
    if errors:
        raise LoadError(f"transformers could not load {source}: {errors[0]}")


@contextlib.contextmanager
def quiet(transformers: Any) -> Iterator[None]:
    """No progress bars and no load report from transformers while zoo builds (zoo reports)."""
    logging = transformers.utils.logging
    verbosity = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
