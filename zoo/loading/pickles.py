"""Why a pickle was refused, and how to convert it: the message for a weights-only refusal.

zoo reads pickles only with ``torch.load(weights_only=True)``, which refuses any Python
object beyond tensors and plain containers. torch's own message for that is long, starts
with advice to turn the protection off, and names only the first object it met. This
module names every blocked type, read off the pickle's opcodes without running it, and
ends with a conversion recipe.
"""

from __future__ import annotations

import contextlib
import io
import pickletools
import zipfile
from pathlib import Path
from typing import IO

import torch

#: Opcodes that push a string a later STACK_GLOBAL may take as module or name.
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
            "BINSTRING", "STRING"}  # fmt: skip


def _allowed() -> set[str]:
    """The globals torch's weights-only unpickler accepts (empty if torch hides them)."""
    with contextlib.suppress(Exception):
        from torch._weights_only_unpickler import _get_allowed_globals

        return set(_get_allowed_globals())
    return set()


def _globals_in(stream: IO[bytes]) -> list[str]:
    """``module.name`` of every global a pickle stream refers to, read from its opcodes only.

    Nothing is imported or executed: :mod:`pickletools` only disassembles. A stream of several
    pickles (torch's legacy format) is read pickle after pickle until something else starts.
    """
    found: list[str] = []
    while True:
        strings: list[str] = []
        memo: dict[object, str] = {}
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                name = opcode.name
                if name == "GLOBAL" and isinstance(arg, str):
                    found.append(".".join(arg.split(" ", 1)))
                elif name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
                elif name in _STRINGS and isinstance(arg, str | bytes):
                    strings.append(arg if isinstance(arg, str) else arg.decode("latin-1"))
                elif name == "MEMOIZE" and strings:
                    memo[len(memo)] = strings[-1]
                elif name in ("BINGET", "LONG_BINGET", "GET") and arg in memo:
                    strings.append(memo[arg])
        except Exception:  # the end of the pickles (raw storage bytes), or a damaged file
            return found


def blocked_globals(path: Path) -> list[str]:
    """The types and functions in a pickle that weights-only loading refuses, sorted."""
    names: list[str] = []
    with contextlib.suppress(Exception):
        names = list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    if not names:  # torch's legacy format or a plain pickle: read the opcodes ourselves
        with contextlib.suppress(OSError):
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    inner = [n for n in archive.namelist() if n.endswith("data.pkl")]
                    data = archive.read(inner[0]) if inner else b""
                    names = _globals_in(io.BytesIO(data))
            else:
                with path.open("rb") as stream:
                    names = _globals_in(stream)
        allowed = _allowed()
        names = [n for n in names if n not in allowed and not n.startswith("torch.")]
    return sorted(set(names))


def _is_pickle(path: Path) -> bool:
    """Whether ``path`` is a torch zip checkpoint or a whole pickle (read as opcodes only)."""
    with contextlib.suppress(Exception):
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return any(n.endswith("data.pkl") for n in archive.namelist())
        with path.open("rb") as stream:
            for _ in pickletools.genops(stream):
                pass
            return True
    return False


def refusal_message(path: Path) -> str | None:
    """Why weights-only loading refused ``path`` and the Python that converts it to safetensors;
    ``None`` when it is no pickle at all (a damaged or foreign file)."""
    blocked = blocked_globals(path)
    if not blocked and not _is_pickle(path):
        return None
    holds = f" ({', '.join(blocked)})" if blocked else ""
    target = path.with_suffix(".safetensors").name
    return (
        f"cannot read {path}: the pickle holds Python objects besides tensors{holds}, and zoo "
        "loads pickles only with torch.load(weights_only=True), so that reading weights never "
        "runs code. Convert it once, in a Python session you trust with this file:\n"
        "    import hashlib, pathlib, torch, safetensors.torch\n"
        f'    ckpt = torch.load({str(path)!r}, map_location="cpu", weights_only=False)  # runs its code\n'
        '    state = ckpt.get("state_dict", ckpt)  # the dict of tensors (or model.state_dict())\n'
        "    safetensors.torch.save_file({k: v.clone() for k, v in state.items() "
        f"if isinstance(v, torch.Tensor)}}, {target!r})\n"
        f"    print(hashlib.sha256(pathlib.Path({target!r}).read_bytes()).hexdigest())\n"
        f"then point the manifest's checkpoint.path (or checkpoint.url) at {target} and set "
        "checkpoint.sha256 to the printed hash."
    )
