"""Device mistakes are one line naming the devices this machine has (zoo/loading/devices.py).

The unavailable GPU is real: on a machine without one, ``cuda`` itself; on a machine with
GPUs, the index one past the last.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from tests.conftest import CliRunner
from zoo.errors import UsageError
from zoo.loading.devices import available, check_accelerator, resolve_device

NAME = "universal/vit_tiny_patch16_224_random"
#: A CUDA device this machine does not have.
MISSING_CUDA = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
HERE = f"devices here: {', '.join(available())}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cpu", torch.device("cpu")),
        (" cpu ", torch.device("cpu")),
        ("meta", torch.device("meta")),
        (torch.device("cpu"), torch.device("cpu")),
    ],
)
def test_devices_this_machine_has(value: str | torch.device, expected: torch.device) -> None:
    assert resolve_device(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gpu", "device 'gpu': torch calls a GPU 'cuda' (cuda, cuda:1, ...); "),
        ("GPU:0", "device 'GPU:0': torch calls a GPU 'cuda'"),
        ("cdua", "device 'cdua' is not a torch device (did you mean 'cuda'?); "),
        ("CPU", "device 'CPU' is not a torch device (did you mean 'cpu'?); "),
        ("toaster", "device 'toaster' is not a torch device; "),
        (MISSING_CUDA, f"device '{MISSING_CUDA}': this machine has "),
        ("cuda:99", "device 'cuda:99': this machine has "),
    ],
)
def test_device_mistakes_name_the_devices_here(value: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_device(value)
    text = str(info.value)
    assert text.startswith(message)
    assert text.endswith(HERE)
    assert "\n" not in text
    assert isinstance(info.value, ValueError)


@pytest.mark.skipif(
    getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    reason="this machine has an MPS device",
)
def test_mps_without_apple_silicon() -> None:
    with pytest.raises(UsageError, match=r"^device 'mps': this machine has no mps device"):
        resolve_device("mps")


@pytest.mark.parametrize("device", [MISSING_CUDA, "gpu", "cdua"])
def test_zoo_load_with_a_wrong_device_is_one_line(run_cli: CliRunner, device: str) -> None:
    code, out, err = run_cli("load", NAME, "--device", device)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: device '{device}'")
    assert err.rstrip().endswith(HERE)
    assert "Traceback" not in err


@pytest.mark.parametrize("device", ["gpu", MISSING_CUDA])
def test_python_load_with_a_wrong_device(device: str) -> None:
    with pytest.raises(UsageError, match=f"^device '{device}'.*; {HERE}$"):
        zoo.load(NAME, device=device)


def test_zoo_load_on_cpu_still_works(run_cli: CliRunner) -> None:
    code, out, err = run_cli("load", NAME, "--device", "cpu", "--json")
    assert code == 0, err
    assert '"embedding_shape": [\n    1,\n    192\n  ]' in out


@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_zoo_embed_with_an_accelerator_this_machine_lacks(
    run_cli: CliRunner, tmp_path: Path, accelerator: str
) -> None:
    pytest.importorskip("lightning")
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "one.png")
    devices = str(torch.cuda.device_count() + 1)  # one more than there is, with or without a GPU
    out_dir = tmp_path / "out"
    args = ["--random-init", "--accelerator", accelerator, "--devices", devices]
    code, out, err = run_cli("embed", NAME, str(images), "--out", str(out_dir), *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: --accelerator {accelerator}")
    assert HERE in err
    assert "Traceback" not in err
    assert not out_dir.exists()  # refused before anything was written


def test_check_accelerator_lets_cpu_and_auto_through() -> None:
    assert check_accelerator("cpu", 4) is None
    assert check_accelerator("auto", 2) is None
