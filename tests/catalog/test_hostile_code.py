"""Hostile manifests that try to run code (tests/catalog/hostile/code/, hostile/timm/): `zoo
validate --build` (the CI and reviewer command) and `zoo load --random-init` refuse each with a
validation error, and nothing runs: the command's marker file is never written, the attacker's
hubconf.py and module are never imported. Each command runs in a fresh interpreter, as a
reviewer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

HOSTILE = Path(__file__).resolve().parent / "hostile"

#: file (under hostile/) -> (the field path of the error, text its message contains)
EXPECTED: dict[str, tuple[str, str]] = {
    "code/function_torch_os_system": (
        "wrapper.function.path",
        "'torch.os.system' names 'system', which is never allowed",
    ),
    "code/monai_object_torch_os_system": (
        "wrapper.monai.kwargs",
        "act[0]: $object 'torch.os.system' names 'system', which is never allowed",
    ),
    "code/function_torch_hub_load": (
        "wrapper.function.path",
        "'torch.hub.load' names 'load', which is never allowed",
    ),
    "code/transformers_remote_code_kwargs": (
        "wrapper.transformers.config",
        "config.auto_map: transformers hub and remote-code keys",
    ),
    "code/timm_object_torch_os_system": (
        "wrapper.timm.kwargs",
        "act_layer: $object 'torch.os.system' names 'system', which is never allowed",
    ),
    "timm/vit_tiny_patch16_224": ("name", "the group 'timm' is reserved"),
}

HUBCONF = "from pathlib import Path\nPath({marker!r}).write_text('hubconf ran')\n"
PAYLOAD = "from pathlib import Path\nPath({marker!r}).write_text('module imported')\n"


@dataclass
class Attack:
    root: Path
    file: Path
    name: str
    marker: Path


def _attack(tmp_path: Path, stem: str) -> Attack:
    """The hostile file in a catalogue root under tmp_path, its payloads pointed at a marker."""
    marker = tmp_path / "marker"
    hub, evil = tmp_path / "hub", tmp_path / "evil"
    hub.mkdir()
    evil.mkdir()
    (hub / "hubconf.py").write_text(HUBCONF.format(marker=str(marker)))
    (evil / "evil_zoo_payload.py").write_text(PAYLOAD.format(marker=str(marker)))
    text = (HOSTILE / f"{stem}.yaml").read_text()
    for key, value in {"@MARKER@": marker, "@HUBDIR@": hub, "@EVILDIR@": evil}.items():
        text = text.replace(key, str(value))
    root = tmp_path / "cat"
    file = root / f"{stem}.yaml"
    file.parent.mkdir(parents=True)
    file.write_text(text)
    return Attack(root, file, stem, marker)


def _zoo(attack: Attack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ZOO_CATALOG_PATH": str(attack.root),
        "HF_MODULES_CACHE": str(attack.root.parent / "hf_modules"),
        "HF_HUB_OFFLINE": "1",
        "ZOO_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_hostile_code_file_is_listed() -> None:
    found = {
        str(f.relative_to(HOSTILE).with_suffix(""))
        for folder in ("code", "timm")
        for f in (HOSTILE / folder).glob("*.yaml")
    }
    assert found == set(EXPECTED)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_validate_build_runs_nothing(stem: str, tmp_path: Path) -> None:
    attack = _attack(tmp_path, stem)
    proc = _zoo(attack, "validate", "--build", str(attack.file))
    field, message = EXPECTED[stem]
    assert not attack.marker.exists(), attack.marker.read_text()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [row for row in proc.stdout.splitlines() if row.endswith("[error]")]
    assert any(f": {field}: " in row and message in row for row in errors), proc.stdout
    assert not any(row.startswith("build ok") for row in proc.stdout.splitlines())


@pytest.mark.parametrize("stem", sorted(s for s in EXPECTED if s.startswith("code/")))
def test_load_random_init_runs_nothing(stem: str, tmp_path: Path) -> None:
    attack = _attack(tmp_path, stem)
    proc = _zoo(attack, "load", stem, "--random-init")
    assert not attack.marker.exists(), attack.marker.read_text()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ")
    assert EXPECTED[stem][1] in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.usefixtures("with_timm_index")
def test_a_manifest_cannot_take_over_a_timm_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attack = _attack(tmp_path, "timm/vit_tiny_patch16_224")
    proc = _zoo(attack, "show", "timm/vit_tiny_patch16_224")
    assert proc.returncode == 0, proc.stderr
    assert "resnet" not in proc.stdout.lower()
    assert "vit_tiny_patch16_224" in proc.stdout
    # what `zoo load` builds: timm's architecture, not the file's
    from zoo.catalog.reader import Catalog

    monkeypatch.setenv("ZOO_CATALOG_PATH", str(attack.root))
    manifest = Catalog().get("timm/vit_tiny_patch16_224")
    assert manifest.file is None
    assert manifest.wrapper.type == "timm"
    assert manifest.wrapper.architecture == "vit_tiny_patch16_224"


def test_validate_build_skips_a_local_hubconf_without_the_trust_flag(tmp_path: Path) -> None:
    """A torchhub manifest is valid, but building it runs its hubconf.py: `--build` (what CI and
    reviewers run) skips it unless the reviewer passes --trust-remote-code."""
    attack = _attack(tmp_path, "code/function_torch_os_system")  # for the hubconf and marker
    hub = tmp_path / "cat" / "code" / "hub"
    hub.mkdir()
    (hub / "hubconf.py").write_text(HUBCONF.format(marker=str(attack.marker)))
    attack.file.write_text(
        "schema_version: 1\n"
        "name: code/function_torch_os_system\n"
        "wrapper: {type: torchhub, repo: hub, entry: model, source: local}\n"
        "input: {size: [32, 32], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n"
        "output: {embedding_dim: 8, pooling: none}\n"
    )
    proc = _zoo(attack, "validate", "--build", str(attack.file))
    assert not attack.marker.exists(), attack.marker.read_text()
    assert "runs repository code: pass --trust-remote-code" in proc.stdout, proc.stdout
    assert not any(row.startswith("build ok") for row in proc.stdout.splitlines())
