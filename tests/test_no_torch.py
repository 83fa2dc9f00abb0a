"""Listing, showing and validating never import torch (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, VALID_DIR

#: Modules that `import zoo` and the catalogue commands must not pay for.
HEAVY = (
    "torch",
    "torchvision",
    "timm",
    "transformers",
    "onnx",
    "onnxruntime",
    "safetensors",
    "numpy",
    "huggingface_hub",
)

_PROBE = """
import json, sys
result_file, argv = sys.argv[1], json.loads(sys.argv[2])
code = None
if argv is not None:
    import zoo.cli
    code = zoo.cli.main(argv)
else:
    import zoo
heavy = json.loads(sys.argv[3])
loaded = sorted(m for m in heavy if m in sys.modules)
with open(result_file, "w") as f:
    json.dump({"code": code, "loaded": loaded}, f)
"""


def _probe(
    tmp_path: Path, argv: list[str] | None, heavy: tuple[str, ...] = HEAVY
) -> dict[str, object]:
    result = tmp_path / "result.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["ZOO_CATALOG_PATH"] = str(VALID_DIR)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(result), json.dumps(argv), json.dumps(heavy)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert result.is_file(), proc.stderr
    found: dict[str, object] = json.loads(result.read_text())
    return {**found, "out": proc.stdout, "err": proc.stderr}


def test_import_zoo_is_light(tmp_path: Path) -> None:
    result = _probe(tmp_path, None)
    assert result["loaded"] == []


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["list"], 0),
        (["list", "--json"], 0),
        (["list", "--wrapper", "onnx", "--json"], 0),
        (["show", "testing/timm_vit_small_random"], 0),
        (["show", "testing/function_resnet_url", "--json"], 0),
        (["show", "testing/no_such_model"], 1),
        (["validate", str(VALID_DIR)], 0),
        (["validate", "--json", str(VALID_DIR.parent / "invalid")], 1),
        (["schema", "--check", "--path", str(REPO_ROOT / "schemas" / "manifest.schema.json")], 0),
        (["site", "--out", "site-out"], 0),
    ],
    ids=lambda v: (
        " ".join(Path(a).name if a.startswith("/") else a for a in v)
        if isinstance(v, list)
        else f"exit{v}"
    ),
)
def test_command_does_not_import_torch(tmp_path: Path, argv: list[str], code: int) -> None:
    result = _probe(tmp_path, argv)
    assert result["code"] == code
    assert result["loaded"] == [], f"`zoo {' '.join(argv)}` imported {result['loaded']}"


def test_top_level_help_does_not_import_torch(tmp_path: Path) -> None:
    # Listing the commands must not import the lazy ones' heavy dependencies.
    result = _probe(tmp_path, ["--help"])
    assert result["code"] == 0
    assert result["loaded"] == []


@pytest.mark.usefixtures("with_timm_index")
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["list", "timm/eva02*"], "timm/eva02_base_patch14_448.mim_in22k_ft_in22k_in1k"),
        (["list", "timm/eva02*", "--json"], "timm/eva02_tiny_patch14_336"),
        (["show", "timm/vit_small_patch16_224.dino"], "timm/vit_small_patch16_224.dino"),
        (["show", "timm/vit_small_patch16_224.dino", "--json"], '"embedding_dim": 384'),
        (["show", "timm/vit_smal_patch16_224"], None),  # a suggestion, from the index too
        (["show", "timm/vit_small_patch16_224.dinoo"], None),  # the tags, from the index
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_timm_names_with_the_index_import_neither_torch_nor_timm(
    tmp_path: Path, argv: list[str], expected: str | None
) -> None:
    pytest.importorskip("timm")
    from zoo.catalog.timm import registry as timm_registry

    # The index is there (the test's ZOO_HOME starts with it) and knows this architecture's
    # outputs, as after its first build.
    timm_registry.manifest_data("timm/vit_small_patch16_224")
    _probe(tmp_path, ["list"])  # the listing index, as after any first listing
    result = _probe(tmp_path, argv, (*HEAVY, "pydantic", "yaml"))
    assert result["code"] == (0 if expected else 1), result["err"]
    assert result["loaded"] == [], f"`zoo {' '.join(argv)}` imported {result['loaded']}"
    said = str(result["out"]) + str(result["err"])
    assert (expected or "Did you mean 'timm/vit_small_patch16_224") in said
