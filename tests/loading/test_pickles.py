"""A refused pickle names what it holds and ends with a recipe that really converts it.

The pickles are real training checkpoints in miniature: a state dict next to an
``argparse.Namespace`` of hyper-parameters and an object of a class of the training code
(here, of this module), saved by ``torch.save`` (zip and legacy formats) or ``pickle``.
"""

from __future__ import annotations

import argparse
import pickle
import re
import textwrap
from typing import Any

import pytest
import torch

from tests.conftest import CliRunner
from tests.loading.loading_kit import Kit
from zoo.errors import LoadError
from zoo.loading.checkpoint import read_file
from zoo.loading.pickles import blocked_globals

CUSTOM = f"{__name__}.TrainingState"


class TrainingState:
    """An object of the training code, as checkpoints often hold (epoch, optimizer, ...)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch


def _checkpoint(kit: Kit) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    state = dict(kit.timm_source().state_dict())
    data = {
        "state_dict": state,
        "args": argparse.Namespace(lr=0.1, arch="vit"),
        "training": TrainingState(epoch=3),
        "epoch": 3,
    }
    return data, state


SAVERS = {
    "zip": lambda data, path: torch.save(data, path),
    "legacy": lambda data, path: torch.save(data, path, _use_new_zipfile_serialization=False),
    "pickle": lambda data, path: path.write_bytes(pickle.dumps(data, protocol=4)),
}


@pytest.mark.parametrize("fmt", SAVERS)
def test_the_refusal_names_every_blocked_type(kit: Kit, fmt: str) -> None:
    data, _ = _checkpoint(kit)
    path = kit.folder / "ckpt.pth"
    SAVERS[fmt](data, path)
    assert "argparse.Namespace" in blocked_globals(path)
    with pytest.raises(LoadError) as info:
        read_file(path, "pickle")
    message = str(info.value)
    assert (
        f"the pickle holds Python objects besides tensors (argparse.Namespace, {CUSTOM})" in message
    )
    assert "will likely succeed" not in message  # torch's advice to switch the protection off
    assert "Weights only load failed" not in message
    assert "\x1b" not in message  # torch's message has ANSI bold in it
    assert message.rstrip().endswith("set checkpoint.sha256 to the printed hash.")
    assert message.count("\n") == 6  # a paragraph, five lines of Python, a sentence


def test_the_recipe_in_the_message_converts_the_checkpoint(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, state = _checkpoint(kit)
    path = kit.folder / "ckpt.pth"
    torch.save(data, path)
    with pytest.raises(LoadError) as info:
        kit.load(kit.timm_manifest(checkpoint={"path": "ckpt.pth", "key": "state_dict"}))
    code = "\n".join(line for line in str(info.value).splitlines() if line.startswith("    "))
    # Run the recipe as the user would (this test trusts its own file), in the manifest folder.
    monkeypatch.chdir(kit.folder)
    printed: list[str] = []
    exec(textwrap.dedent(code), {"print": printed.append})
    (sha256,) = printed
    assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    manifest = kit.timm_manifest(checkpoint={"path": "ckpt.safetensors", "sha256": sha256})
    model = kit.load(manifest)
    x = kit.image()
    source = kit.timm_source()
    source.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source.forward_features(x)[:, 0], rtol=0, atol=0)


def test_zoo_load_prints_the_refusal_without_a_traceback(
    kit: Kit, run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = _checkpoint(kit)
    torch.save(data, kit.folder / "ckpt.pth")
    file = kit.write(kit.timm_manifest(checkpoint={"path": "ckpt.pth", "key": "state_dict"}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(file.parent.parent))
    name = f"{file.parent.name}/{file.stem}"
    code, out, err = run_cli("load", name)
    assert code == 1
    assert out == ""
    assert err.startswith(f"error: cannot read {kit.folder / 'ckpt.pth'}: the pickle holds")
    assert "argparse.Namespace" in err
    assert "Traceback" not in err
    assert "will likely succeed" not in err


@pytest.mark.parametrize(
    "data", [b"xyz: not a checkpoint", b"this is not a checkpoint", b"\x80\x02}q\x00.", b""]
)
def test_a_file_that_is_no_pickle_is_not_called_a_refusal(kit: Kit, data: bytes) -> None:
    path = kit.folder / "ckpt.pth"
    path.write_bytes(data)
    with pytest.raises(LoadError, match=r"^cannot read .*ckpt.pth") as info:
        read_file(path, "pickle")
    assert "holds Python objects" not in str(info.value)
    assert "will likely succeed" not in str(info.value)
    assert blocked_globals(path) == []


def test_a_plain_tensor_pickle_still_loads(kit: Kit) -> None:
    path = kit.folder / "plain.pth"
    torch.save({"w": torch.ones(2)}, path)
    assert blocked_globals(path) == []
    assert torch.equal(read_file(path, "pickle")["w"], torch.ones(2))
