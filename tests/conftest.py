"""Shared fixtures: isolated global state, manifest writers, an in-process CLI runner."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.offline_kit import Server, serve

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MANIFEST_FIXTURES = FIXTURES / "manifests"
VALID_DIR = MANIFEST_FIXTURES / "valid"
INVALID_DIR = MANIFEST_FIXTURES / "invalid"
#: The bundled catalogue.
CATALOG_DIR = REPO_ROOT / "catalog"


def catalog_names() -> list[str]:
    """The bundled catalogue's names, from its file paths alone (a manifest's name is its path,
    ``<group>/<name>.yaml``): cheap enough to parametrize over at collection time."""
    return sorted(f"{p.parent.name}/{p.stem}" for p in CATALOG_DIR.glob("*/*.yaml"))


#: The editor line every manifest starts with (the path is only for editors; zoo ignores it).
SCHEMA_HEADER = "# yaml-language-server: $schema=../../schemas/manifest.schema.json\n"

_TINY: dict[str, Any] = {
    "schema_version": 1,
    "name": "testing/tiny_vit",
    "aliases": [],
    "description": "A randomly initialised ViT-S/16 used by the tests.",
    "tags": ["testing", "vit"],
    "license": {"id": "Apache-2.0", "commercial": True},
    "gated": False,
    "wrapper": {
        "type": "timm",
        "architecture": "vit_small_patch16_224",
        "kwargs": {"img_size": 224},
    },
    "input": {
        "size": [224, 224],
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "interpolation": "bicubic",
        "crop_pct": 0.9,
    },
    "output": {
        "embedding_dim": 384,
        "pooling": "cls",
        "prefix_tokens": 1,
        "patch_size": 16,
        "feature_levels": 12,
        "feature_dim": 384,
    },
}

ManifestFactory = Callable[..., dict[str, Any]]
ManifestWriter = Callable[..., Path]
CliRunner = Callable[..., tuple[int, str, str]]


#: Settings a test must not inherit from the shell that runs pytest.
_INHERITED = (
    "ZOO_CATALOG_PATH",
    "ZOO_OFFLINE",
    "ZOO_DEBUG",
    "ZOO_TRUSTED_MODULES",
    "ZOO_CONNECT_TIMEOUT",
    "ZOO_DOWNLOAD_TIMEOUT",
    "ZOO_MIRROR",
    "ZOO_MODEL",
    "ZOO_OUT_INDICES",
    "MODEL_NAME",
    "OUT_INDICES",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_ENDPOINT",
    "CI",  # a CI runner makes `zoo validate` stricter about checkpoint.path
)


@pytest.fixture(scope="session")
def timm_index_file(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The index of the installed timm's registry (:mod:`zoo.catalog.timm.index`), collected
    once per session (per worker process under xdist), about 10 s; ``None`` without timm."""
    from zoo.catalog.timm import index as timm_index

    if timm_index.installed_version() is None:
        return None
    index = timm_index.collect()
    path = tmp_path_factory.mktemp("timm-index") / timm_index.index_path(index.version).name
    path.write_text(json.dumps(index.to_dict()), encoding="utf-8")
    return path


@pytest.fixture
def with_timm_index(_isolate: Path, timm_index_file: Path | None) -> Path | None:
    """The test's ``ZOO_HOME`` starts with the session's timm index, as a user's does after their
    first timm name: for tests that use ``timm/...`` names (resolving, listing, suggesting, eva's
    registry). A link: what a test writes replaces the link, never the session's file."""
    if timm_index_file is None:
        return None
    link = _isolate / "zoo" / "index" / timm_index_file.name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(timm_index_file)
    return link


@pytest.fixture(autouse=True)
def _isolate(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """No test reads or writes the user's caches or inherits their zoo / Hugging Face settings.

    Yields the folder that holds the test's ``ZOO_HOME`` (``zoo/``) and ``HF_HOME`` (``hf/``).
    A test that makes zoo build timm's index there (seconds of work) without asking for the
    ``with_timm_index`` fixture fails: it should ask, or build it in a ``ZOO_HOME`` of its own.
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("ZOO_HOME", str(home / "zoo"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hf" / "hub"))
    for name in _INHERITED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    yield home
    if "with_timm_index" not in request.fixturenames:
        built = sorted(p.name for p in (home / "zoo" / "index").glob("timm-*.json"))
        assert not built, (
            f"this test made zoo build timm's index ({built}); request the with_timm_index fixture"
        )


@pytest.fixture
def server() -> Iterator[Server]:
    """A real HTTP server on 127.0.0.1 (a thread): ``server.add(name, data[, mode]) -> url``."""
    with serve() as served:
        yield served


def _tiny_manifest_data(name: str = "testing/tiny_vit", **overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(_TINY)
    data["name"] = name
    data.update(copy.deepcopy(overrides))
    return data


@pytest.fixture
def tiny_manifest_data() -> ManifestFactory:
    """Factory of a valid manifest dict (timm vit_small_patch16_224, random init) to modify.

    ``tiny_manifest_data(name="g/n", **top_level_overrides)`` returns a fresh deep copy.
    """
    return _tiny_manifest_data


def _write_manifest(
    root: str | Path,
    data_or_text: Mapping[str, Any] | str | bytes,
    name: str | None = None,
    *,
    header: bool = True,
) -> Path:
    if name is None:
        if not isinstance(data_or_text, Mapping):
            raise TypeError("give name= when writing a manifest from text")
        name = str(data_or_text["name"])
    group, _, stem = name.partition("/")
    path = Path(root) / group / f"{stem}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data_or_text, bytes):
        prefix = SCHEMA_HEADER.encode() if header else b""
        path.write_bytes(prefix + data_or_text)
        return path
    if isinstance(data_or_text, Mapping):
        text = yaml.safe_dump(dict(data_or_text), sort_keys=False, allow_unicode=True)
    else:
        text = data_or_text
    path.write_text((SCHEMA_HEADER if header else "") + text, encoding="utf-8")
    return path


@pytest.fixture
def write_manifest() -> ManifestWriter:
    """``write_manifest(root, data_or_text, name=None)`` writes ``root/<group>/<name>.yaml``.

    A dict is dumped as YAML (its ``name`` is the default file name); text or bytes are
    written as given. The ``# yaml-language-server`` header line comes first.
    """
    return _write_manifest


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run ``zoo.cli.main([...])`` in-process; returns ``(exit_code, stdout, stderr)``."""
    from zoo.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
