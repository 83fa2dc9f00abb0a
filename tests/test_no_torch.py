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


def _probe(tmp_path: Path, argv: list[str] | None) -> dict[str, object]:
    result = tmp_path / "result.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["ZOO_CATALOG_PATH"] = str(VALID_DIR)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(result), json.dumps(argv), json.dumps(HEAVY)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert result.is_file(), proc.stderr
    return json.loads(result.read_text())  # type: ignore[no-any-return]


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
