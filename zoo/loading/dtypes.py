"""Dtype names: the one parser behind ``dtype=`` in Python and ``--dtype`` on the command line.

Importing this module imports no torch (the CLI builds its option from it); only
:func:`torch_dtype` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.errors import UsageError

if TYPE_CHECKING:
    import torch

#: The dtypes a model can be loaded in (the manifest's ``precision`` vocabulary).
NAMES: tuple[str, ...] = ("float32", "bfloat16", "float16")

#: Other spellings people type (PyTorch's, Lightning's and numpy's short names), lower case.
ALIASES: dict[str, str] = {
    "fp32": "float32",
    "f32": "float32",
    "float": "float32",
    "32": "float32",
    "bf16": "bfloat16",
    "16": "float16",
    "fp16": "float16",
    "f16": "float16",
    "half": "float16",
}


def dtype_name(value: Any) -> str | None:
    """The canonical name (``float32``, ``bfloat16``, ``float16``) of a dtype given as a name,
    an alias (``bf16``, ``fp16``, ``half``...), ``torch.<name>`` or a ``torch.dtype``; ``None``
    stays ``None``.

    Raises:
        UsageError: Not a dtype zoo loads models in.
    """
    if value is None:
        return None
    text = str(value).strip().lower().removeprefix("torch.")
    name = ALIASES.get(text, text)
    if name not in NAMES:
        from zoo.catalog.suggest import rank

        close = rank(text, [*NAMES, *ALIASES], limit=1)
        hint = f" (did you mean {ALIASES.get(close[0], close[0])!r}?)" if close else ""
        raise UsageError(
            f"dtype {value!r} is not one zoo loads models in{hint}: use one of "
            f"{', '.join(NAMES)} (or {', '.join(sorted(ALIASES))})"
        )
    return name


def torch_dtype(value: Any) -> torch.dtype | None:
    """:func:`dtype_name`, as a ``torch.dtype`` (imports torch)."""
    name = dtype_name(value)
    if name is None:
        return None
    import torch

    dtype: torch.dtype = getattr(torch, name)
    return dtype


def choices() -> list[str]:
    """Every accepted spelling, for help texts and shell completion."""
    return [*NAMES, *ALIASES]
