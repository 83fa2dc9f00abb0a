"""Device names checked before anything is built: a mistake is one line naming the devices here.

torch's own errors for a device it cannot use come late (after the weights are read) and
long (``Torch not compiled with CUDA enabled``, ``Expected one of cpu, cuda, ...``); Lightning's
for an accelerator it cannot find are a traceback. These checks run first.
"""

from __future__ import annotations

import difflib

import torch

from zoo.errors import UsageError

#: Device types whose availability zoo can check; others (``meta``, vendor backends) pass to torch.
_CHECKED = ("cpu", "cuda", "mps", "xpu")
#: Names people type for a GPU that torch does not know.
_GPU_WORDS = ("gpu", "nvidia", "amd", "rocm")


def _indexed(kind: str, count: int) -> list[str]:
    return [f"{kind}:{i}" for i in range(count)]


def available() -> list[str]:
    """Every device torch can use on this machine: ``cpu``, ``cuda:0``..., ``mps``, ``xpu:0``..."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += _indexed("cuda", torch.cuda.device_count())
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        found += _indexed("xpu", xpu.device_count())
    return found


def _here() -> str:
    return f"devices here: {', '.join(available())}"


def _count(kind: str) -> int:
    """How many devices of ``kind`` torch can use (``mps`` is one or none)."""
    return sum(1 for d in available() if d.partition(":")[0] == kind)


def resolve_device(value: str | torch.device) -> torch.device:
    """Parse a device name and check that this machine has it.

    Raises:
        UsageError: The name is not a torch device (``gpu``, ``cdua``), or names a device
            this machine does not have (``cuda`` without a GPU, ``cuda:3`` with one GPU).
    """
    if isinstance(value, torch.device):
        device = value
    else:
        text = str(value).strip()
        kind = text.partition(":")[0].lower()
        if kind in _GPU_WORDS:
            raise UsageError(
                f"device {text!r}: torch calls a GPU 'cuda' (cuda, cuda:1, ...); {_here()}"
            )
        try:
            device = torch.device(text)
        except (RuntimeError, ValueError):
            close = difflib.get_close_matches(kind, [*_CHECKED, "meta"], n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"device {text!r} is not a torch device{hint}; {_here()}") from None
    if device.type not in _CHECKED or device.type == "cpu":
        return device
    count = _count(device.type)
    if count == 0:
        raise UsageError(
            f"device {str(device)!r}: this machine has no {device.type} device torch can use; "
            f"{_here()}"
        )
    if device.index is not None and device.index >= count:
        raise UsageError(
            f"device {str(device)!r}: this machine has {count} {device.type} device(s); {_here()}"
        )
    return device


def check_accelerator(accelerator: str, devices: int = 1) -> None:
    """Check a Lightning ``accelerator`` (and device count) before Lightning starts.

    Raises:
        UsageError: ``gpu``/``cuda``/``mps`` on a machine without one, or more devices than
            it has.
    """
    kind = {"gpu": "cuda", "cuda": "cuda", "mps": "mps"}.get(accelerator)
    if kind is None:  # auto and cpu always work
        return
    count = _count(kind)
    if count == 0:
        raise UsageError(
            f"--accelerator {accelerator}: this machine has no {kind} device torch can use; "
            f"{_here()} (use --accelerator cpu or auto)"
        )
    if devices > count:
        raise UsageError(
            f"--accelerator {accelerator} --devices {devices}: this machine has {count}; {_here()}"
        )
