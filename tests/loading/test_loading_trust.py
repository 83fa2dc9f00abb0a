"""Code from outside zoo's trusted modules runs only when the manifest declares it and the caller
opts in: transformers remote code, GitHub torch.hub repositories, function paths, ``$object`` kwargs."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import torch

from tests.loading.loading_kit import Kit, hf_manifest, hf_source
from zoo.errors import ManifestError, TrustError

# -- transformers trust_remote_code ----------------------------------------------------------------

REMOTE_CODE = """
from pathlib import Path
Path({marker!r}).touch()
from transformers import ViTConfig

class CustomConfig(ViTConfig):
    model_type = "custom-vit"
"""


def _remote_code_repo(kit: Kit) -> None:
    """A saved ViT whose config.json asks for the repository's own configuration class."""
    folder = kit.folder / "vit_hf"
    hf_source(folder)
    (folder / "configuration_custom.py").write_text(REMOTE_CODE.format(marker=str(kit.tmp / "RAN")))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_custom.CustomConfig"}
    (folder / "config.json").write_text(json.dumps(config))


def test_transformers_remote_code_needs_the_callers_flag(kit: Kit) -> None:
    _remote_code_repo(kit)
    data = hf_manifest(kit, checkpoint={"path": "vit_hf"}, trust_remote_code=True)
    with pytest.raises(TrustError, match="--trust-remote-code") as info:
        kit.load(data)
    assert info.value.flag == "--trust-remote-code"
    assert isinstance(info.value, PermissionError)
    assert not (kit.tmp / "RAN").exists()  # the repository's code never ran


def test_transformers_remote_code_is_not_needed_without_weights(kit: Kit) -> None:
    # Without a checkpoint nothing from the repository is read: the inline config builds it.
    model = kit.load(hf_manifest(kit, trust_remote_code=True), pretrained=False)
    with torch.no_grad():
        assert model(kit.image()).shape == (2, 32)


def test_cli_load_names_the_trust_flag(
    kit: Kit, monkeypatch: pytest.MonkeyPatch, run_zoo: Any
) -> None:
    _remote_code_repo(kit)
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(kit.root))
    kit.write(hf_manifest(kit, checkpoint={"path": "vit_hf"}, trust_remote_code=True))
    code, _out, err = run_zoo("load", "testing/tiny")
    assert code == 1
    assert err.startswith("error: ")
    assert "--trust-remote-code" in err
    assert "Traceback" not in err


# -- torch.hub from GitHub -------------------------------------------------------------------------


def _github_manifest(kit: Kit, trust_repo: bool) -> dict[str, Any]:
    wrapper = {
        "type": "torchhub",
        "source": "github",
        "repo": "someone/somewhere",
        "entry": "model",
        "trust_repo": trust_repo,
    }
    return kit.manifest(wrapper, kit.vit_output())


def test_torchhub_github_without_trust_repo_is_refused(kit: Kit) -> None:
    with pytest.raises(TrustError, match="trust_repo") as info:
        kit.load(_github_manifest(kit, trust_repo=False), trust_remote_code=True)
    assert info.value.flag == "wrapper.trust_repo"


def test_torchhub_github_needs_the_callers_flag_too(kit: Kit) -> None:
    with pytest.raises(TrustError, match="--trust-remote-code") as info:
        kit.load(_github_manifest(kit, trust_repo=True))
    assert info.value.flag == "--trust-remote-code"


# -- function paths --------------------------------------------------------------------------------


def test_function_on_the_deny_list_is_a_manifest_error(kit: Kit) -> None:
    data = kit.manifest(
        {"type": "function", "path": "os.system", "arguments": {"command": "true"}},
        kit.vit_output(),
    )
    with pytest.raises(ManifestError, match="never allowed"):
        kit.load(data)


def test_user_module_is_refused_unimported_then_allowed(
    kit: Kit, user_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = kit.manifest(
        {"type": "function", "path": f"{user_module}.token_model"}, kit.vit_output()
    )
    with pytest.raises(TrustError, match=f"ZOO_TRUSTED_MODULES={user_module}"):
        kit.load(data)
    assert user_module not in sys.modules
    assert not (kit.tmp / f"imported-{user_module}").exists()
    monkeypatch.setenv("ZOO_TRUSTED_MODULES", f"something_else, {user_module}")
    model = kit.load(data)
    assert (kit.tmp / f"imported-{user_module}").exists()
    with torch.no_grad():
        assert model(kit.image()).shape == (2, 32)


def test_a_prefix_of_a_trusted_name_is_not_trusted(
    kit: Kit, user_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "ZOO_TRUSTED_MODULES", user_module[:-1]
    )  # "zoo_user_ab" does not allow "zoo_user_abc"
    data = kit.manifest(
        {"type": "function", "path": f"{user_module}.token_model"}, kit.vit_output()
    )
    with pytest.raises(TrustError):
        kit.load(data)


def test_function_returning_no_module_is_a_load_error(kit: Kit) -> None:
    from zoo.errors import LoadError

    data = kit.manifest(
        {
            "type": "function",
            "path": "torch.nn.init.calculate_gain",
            "arguments": {"nonlinearity": "relu"},
        },
        kit.vit_output(),
    )
    with pytest.raises(LoadError, match=r"not a torch\.nn\.Module"):
        kit.load(data)


# -- $object kwargs --------------------------------------------------------------------------------


def test_object_kwargs_are_resolved(kit: Kit) -> None:
    source = kit.timm_source(act_layer=torch.nn.SiLU)
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    data = kit.timm_manifest(
        kwargs={"act_layer": {"$object": "torch.nn.SiLU"}}, checkpoint={"path": "tiny.safetensors"}
    )
    model = kit.load(data)
    assert isinstance(model.backbone.blocks[0].mlp.act, torch.nn.SiLU)
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(model(x), source.forward_features(x)[:, 0], rtol=0, atol=0)


def test_object_kwargs_outside_the_allow_list_are_refused(kit: Kit, user_module: str) -> None:
    data = kit.timm_manifest(kwargs={"act_layer": {"$object": f"{user_module}.Swish"}})
    with pytest.raises(TrustError, match=r"wrapper\.kwargs"):
        kit.load(data)
    assert not (kit.tmp / f"imported-{user_module}").exists()
    data = kit.timm_manifest(kwargs={"act_layer": {"$object": "os.system"}})
    with pytest.raises(ManifestError, match="never allowed"):
        kit.load(data)


def test_object_kwargs_from_an_allowed_user_module(
    kit: Kit, user_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = kit.timm_source(act_layer=torch.nn.SiLU)
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    data = kit.timm_manifest(
        kwargs={"act_layer": {"$object": f"{user_module}.Swish"}},
        checkpoint={"path": "tiny.safetensors"},
    )
    with pytest.raises(TrustError):
        kit.load(data)
    monkeypatch.setenv("ZOO_TRUSTED_MODULES", user_module)
    model = kit.load(data)
    act = model.backbone.blocks[0].mlp.act
    assert type(act).__module__ == user_module
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), source.forward_features(x)[:, 0]
        )  # x * sigmoid(x) is SiLU
