"""The reference rules, as a table: what a manifest may name (checked from the text, nothing
imported) and what the loader then accepts (a class or function defined in an allowed module,
reached as module.Name)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import timm.layers
import torch

from zoo.errors import LoadError, TrustError
from zoo.loading.objects import import_object
from zoo.manifest._refs import reference_problem

GOOD = [
    ("torch.nn.SiLU", torch.nn.SiLU),
    ("torch.nn.modules.activation.GELU", torch.nn.GELU),
    ("torch.nn.init.calculate_gain", torch.nn.init.calculate_gain),
    ("timm.layers.SwiGLUPacked", timm.layers.SwiGLUPacked),  # a functools.partial of a timm class
    ("timm.layers.LayerNorm", timm.layers.LayerNorm),
    ("torchvision.models.resnet18", None),
    ("zoo.nn.ConvStem", None),
    ("zoo.nn.pooled_tower", None),
]

#: refused from the text alone: path -> what the message says
STATIC_BAD = {
    "torch.os.system": "names 'system'",
    "torch.os.getcwd": "outside the modules a manifest may name",
    "torch.hub.load": "names 'load'",
    "torch.hub.list": "torch.hub, a module that is never allowed",
    "torch.load": "names 'load'",
    "torch.zeros": "outside the modules a manifest may name",
    "timm.create_model": "outside the modules a manifest may name",
    "builtins.eval": "names 'eval'",
    "builtins.print": "builtins, a module that is never allowed",
    "subprocess.run": "subprocess, a module that is never allowed",
    "importlib.import_module": "names 'import_module'",
    "pickle.Unpickler": "pickle, a module that is never allowed",
    "os.path.join": "os.path, a module that is never allowed",
    "torch.nn.Module.__init__": "private and dunder names",
    "torch.nn._reduction.get_enum": "private and dunder names",
    "zoo.loading.objects.import_object": "names 'import_module'"[:0] or "outside the modules",
    "transformers.dynamic_module_utils.get_class_from_dynamic_module": "never allowed",
    "mypkg.exec": "names 'exec'",
    "nodots": "not a dotted path",
}

#: allowed by the text, refused by the loader after import (no chains, no modules)
LOAD_BAD = {
    "torch.nn.functional": "a module",
    "torch.nn.modules.module": "a module",
    "torch.nn.Module.forward": "cannot import torch.nn.Module",
    "torch.nn.functional.torch": "a module",
    "torch.nn.functional.Tensor": "defined in torch",
    "torch.nn.modules.conv.math": "a module",
    "torch.nn.functional.no_such_name": "has no attribute",
}


@pytest.mark.parametrize(("path", "expected"), GOOD, ids=[p for p, _ in GOOD])
def test_allowed_paths_resolve_to_what_they_name(path: str, expected: object) -> None:
    assert reference_problem(path) is None
    obj = import_object(path, purpose="test")
    if expected is not None:
        assert obj is expected


@pytest.mark.parametrize(("path", "message"), sorted(STATIC_BAD.items()))
def test_refused_from_the_text(path: str, message: str) -> None:
    problem = reference_problem(path)
    assert problem is not None
    assert message in problem
    with pytest.raises(TrustError):
        import_object(path, purpose="test")


@pytest.mark.parametrize(("path", "message"), sorted(LOAD_BAD.items()))
def test_refused_after_import(path: str, message: str) -> None:
    assert reference_problem(path) is None
    with pytest.raises((TrustError, LoadError), match=message):
        import_object(path, purpose="test")


def test_a_trusted_user_module_still_obeys_the_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "zoo_refs_user.py").write_text(
        "import os\nfrom os import getcwd\nfrom torch.nn import SiLU\n"
        "def build():\n    return SiLU()\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("ZOO_TRUSTED_MODULES", "zoo_refs_user")
    try:
        assert import_object("zoo_refs_user.build", purpose="t")().__class__ is torch.nn.SiLU
        assert import_object("zoo_refs_user.SiLU", purpose="t") is torch.nn.SiLU
        with pytest.raises(TrustError, match="a module"):
            import_object("zoo_refs_user.os", purpose="t")
        with pytest.raises(TrustError, match="defined in posix"):
            import_object("zoo_refs_user.getcwd", purpose="t")
    finally:
        sys.modules.pop("zoo_refs_user", None)


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("kwargs", {"trust_remote_code": True}, "kwargs.trust_remote_code"),
        ("kwargs", {"code_revision": "main"}, "kwargs.code_revision"),
        ("kwargs", {"revision": "main"}, "kwargs.revision"),
        ("config", {"model_type": "vit", "auto_map": {"AutoModel": "x.Y"}}, "config.auto_map"),
        ("config", {"model_type": "vit", "_name_or_path": "/tmp/x"}, "config._name_or_path"),
        ("config", {"model_type": "clip", "vision_config": {"auto_map": {}}}, "vision_config"),
    ],
)
def test_transformers_hub_code_keys_are_refused(field: str, value: object, where: str) -> None:
    from pydantic import ValidationError

    from zoo.manifest import TransformersWrapper

    with pytest.raises(ValidationError, match=where.replace(".", r"\.")):
        TransformersWrapper.model_validate({"type": "transformers", field: value})
    TransformersWrapper.model_validate(
        {"type": "transformers", "kwargs": {"add_pooling_layer": False}}
    )


def test_an_old_path_of_zoos_blocks_still_loads_with_a_warning() -> None:
    """``zoo.build.blocks.*`` (before house v3) is read as ``zoo.nn.*``, with a FutureWarning."""
    from zoo.manifest import FunctionWrapper, TimmWrapper

    with pytest.warns(FutureWarning, match=r"write zoo\.nn\.pooled_tower"):
        wrapper = FunctionWrapper(type="function", path="zoo.build.blocks.pooled_tower")
    assert wrapper.path == "zoo.nn.pooled_tower"
    with pytest.warns(FutureWarning, match=r"write zoo\.nn\.ConvStem"):
        timm = TimmWrapper(
            type="timm",
            architecture="vit_small_patch16_224",
            kwargs={"embed_layer": {"$object": "zoo.build.blocks.ConvStem"}, "depth": 2},
        )
    assert timm.kwargs == {"embed_layer": {"$object": "zoo.nn.ConvStem"}, "depth": 2}
