"""The index of timm's registry under ZOO_HOME: what it holds, when it is written, who reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from zoo import settings
from zoo.catalog.timm import index as timm_index
from zoo.catalog.timm import registry as timm_registry
from zoo.manifest import Manifest

#: The tests read zoo's index of timm's registry; those that build one do it in a ZOO_HOME of their own.
pytestmark = pytest.mark.usefixtures("with_timm_index")

timm = pytest.importorskip("timm")

VERSION = timm_index.installed_version()


def _fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    return home


def test_installed_version_is_read_without_importing_timm() -> None:
    assert timm.__version__ == VERSION


def test_index_names_are_timms() -> None:
    index = timm_index.load()
    expected = {f"timm/{n}" for n in (*timm.list_models(), *timm.list_pretrained())}
    assert set(index.names()) == expected
    assert index.names("timm/eva02_tiny*") == sorted(
        n for n in expected if n.startswith("timm/eva02_tiny")
    )
    assert index.counts() == (len(timm.list_models()), len(timm.list_pretrained()))


@pytest.mark.parametrize(
    "name",
    [
        "vit_small_patch16_224.dino",
        "eva02_base_patch14_448.mim_in22k_ft_in22k_in1k",
        "resnet50.a1_in1k",
    ],
)
def test_index_holds_timms_pretrained_config(name: str) -> None:
    arch, _, tag = name.partition(".")
    cfg = timm_index.load().cfg(arch, tag)
    real = timm.models.get_pretrained_cfg(name)
    assert cfg is not None
    for field in timm_index.CFG_FIELDS:
        value = getattr(real, field)
        assert cfg.get(field) == (list(value) if isinstance(value, tuple) else value), field


def test_untagged_name_means_the_default_tag() -> None:
    index = timm_index.load()
    assert index.resolve_tag("resnet18", None) == timm.models.get_pretrained_cfg("resnet18").tag
    assert index.resolve_tag("resnet18", "tv_in1k") == "tv_in1k"


def test_written_once_atomically_and_per_timm_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _fresh_home(tmp_path, monkeypatch)
    assert timm_index.read() is None
    index = timm_index.load()  # timm is imported here: read in-process
    path = home / "index" / f"timm-{VERSION}.json"
    assert index.path == path
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    stamp = path.stat().st_mtime_ns
    assert timm_index.load().archs == index.archs
    assert path.stat().st_mtime_ns == stamp  # not rewritten
    # An index of another timm version (or one claiming another) is not used.
    other = json.loads(path.read_text())
    other["timm"] = "0.0.1"
    path.write_text(json.dumps(other))
    assert timm_index.read() is None
    assert timm_index.load().version == VERSION
    assert json.loads(path.read_text())["timm"] == VERSION


@pytest.mark.parametrize(
    "content", ["{not json", "[]", '{"format": 1, "archs": 3}', '{"format": 99}']
)
def test_unreadable_index_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    home = _fresh_home(tmp_path, monkeypatch)
    path = home / "index" / f"timm-{VERSION}.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    assert timm_index.read() is None
    assert "timm/resnet18" in timm_index.load().names()
    assert json.loads(path.read_text())["format"] == timm_index.FORMAT


def test_unwritable_home_costs_speed_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("ZOO_HOME", str(blocked))
    assert "timm/resnet18" in timm_index.load().names()


def test_dims_are_recorded_the_first_time_an_architecture_is_built() -> None:
    index = timm_index.load()
    arch = "vit_tiny_patch16_224"
    index.archs[arch]["dims"] = None
    timm_index.write(index)
    data = timm_registry.manifest_data(f"timm/{arch}")
    recorded = timm_index.read()
    assert recorded is not None
    assert recorded.dims(arch) == {
        "embedding_dim": 192,
        "prefix_tokens": 1,
        "patch_size": 16,
        "feature_levels": 12,
        "feature_dim": [192] * 12,
    }
    assert data["output"] == {"pooling": "pooler", **recorded.dims(arch)}  # type: ignore[dict-item]
    # Architecture-changing keyword arguments build again and are not recorded.
    deeper = timm_registry.manifest_data(f"timm/{arch}", {"depth": 6, "reg_tokens": 4})
    assert (deeper["output"]["feature_levels"], deeper["output"]["prefix_tokens"]) == (6, 5)
    assert timm_index.read().dims(arch)["feature_levels"] == 12  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    "name",
    [
        "timm/vit_small_patch16_224.dino",
        "timm/vit_small_patch16_224",  # default tag
        "timm/resnet18",  # a CNN: no patch size, five feature levels
        "timm/eva02_base_patch14_448.mim_in22k_ft_in22k_in1k",  # crop_mode squash
        "timm/vit_base_patch16_clip_224.openai",  # CLIP statistics
        "timm/vit_small_patch16_18x2_224",  # no weights: no checkpoint
    ],
)
def test_manifest_dump_is_what_pydantic_dumps(name: str) -> None:
    dumped = timm_registry.manifest_dump(name)
    validated = Manifest.model_validate(timm_registry.manifest_data(name))
    assert dumped == validated.model_dump(mode="json")
    assert list(dumped) == list(validated.model_dump(mode="json"))  # the same field order too


def test_summary_and_location_come_from_the_index() -> None:
    timm_registry.manifest_data("timm/vit_small_patch16_224")  # records the dims
    row = timm_registry.summary("timm/vit_small_patch16_224.dino")
    assert row["input_size"] == [224, 224]
    assert (row["embedding_dim"], row["prefix_tokens"], row["patch_size"]) == (384, 1, 16)
    assert row["license"] == "Apache-2.0"
    assert timm_registry.pretrained_location("vit_small_patch16_224", "dino") == (
        "hf",
        "timm/vit_small_patch16_224.dino",
        None,
    )


_PROBE = """
import json, sys
from zoo.catalog.timm import registry as timm_registry
names = timm_registry.names("timm/eva02_tiny*")
where = timm_registry.pretrained_location("eva02_tiny_patch14_336", "mim_in22k_ft_in1k")
print(json.dumps({"names": names, "where": where,
                  "loaded": sorted(m for m in ("torch", "timm") if m in sys.modules)}))
"""


@pytest.mark.slow
def test_without_an_index_a_child_process_builds_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "ZOO_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["loaded"] == []  # the child imported timm, not this process
    assert "timm/eva02_tiny_patch14_336.mim_in22k_ft_in1k" in result["names"]
    assert result["where"] == ["hf", "timm/eva02_tiny_patch14_336.mim_in22k_ft_in1k", None]
    assert (home / "index" / f"timm-{VERSION}.json").is_file()
    assert settings.zoo_home() != home  # the test's own home was not touched
