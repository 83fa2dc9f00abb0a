"""Fixtures of the loading tests (the helpers they wrap are in loading_kit.py).

Nothing here stands in for zoo: every test runs the real load pipeline on real files.
"""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.loading.loading_kit import TOKEN_MODEL_SOURCE, HfCache, Kit
from tests.offline_kit import Server


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    """Helpers that write models and manifests under ``tmp_path``."""
    return Kit(tmp_path)


@pytest.fixture
def file_server(server: Server) -> Server:
    """The shared local HTTP server under the name these tests use."""
    return server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hf_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HfCache:
    """An empty Hugging Face cache at ``tmp_path/hf/hub``, which HF_HOME / HF_HUB_CACHE point at.

    huggingface_hub reads HF_HUB_CACHE once, when it is first imported, and zoo passes no
    ``cache_dir``; so besides the environment (what a user sets before starting Python) its
    import-time constant is pointed here too. ``test_hf_cache_env_read_at_call_time`` pins the gap.
    """
    import huggingface_hub.constants as hf_constants

    root = tmp_path / "hf" / "hub"
    root.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(root.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(root))
    return HfCache(root)


@pytest.fixture
def user_module(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An importable module of a user's own (not under zoo's trusted prefixes), unique per test.

    Importing it writes ``<tmp>/imported-<name>``, so a test can tell whether zoo imported it.
    """
    name = f"zoo_user_{uuid.uuid4().hex[:12]}"
    marker = kit.tmp / f"imported-{name}"
    source = f"from pathlib import Path\nPath({str(marker)!r}).touch()\n" + TOKEN_MODEL_SOURCE
    kit.write_module(name, source)
    monkeypatch.syspath_prepend(str(kit.tmp / "site"))
    yield name
    sys.modules.pop(name, None)


@pytest.fixture
def run_zoo(run_cli: Any) -> Any:
    """The ``run_cli`` fixture under the name these tests use: ``run_zoo("load", name)``."""
    return run_cli
