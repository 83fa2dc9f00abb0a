"""The blocks' tests build real models through the real load pipeline, with the loading tests'
kit (tiny checkpoints and manifests in tmp_path)."""

from __future__ import annotations

from tests.loading.conftest import kit

__all__ = ["kit"]
