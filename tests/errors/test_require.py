"""``zoo.errors.require``: an optional package is imported on first use, or one error names the
extra that installs it (the message is the fix)."""

from __future__ import annotations

import sys

import pytest

from zoo.errors import MissingExtraError, require


def test_an_installed_module_is_returned() -> None:
    assert require("json", package="json", extra="x", purpose="a test") is sys.modules["json"]


def test_a_missing_module_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zoo_not_installed", None)  # import fails as if absent
    with pytest.raises(MissingExtraError) as caught:
        require("zoo_not_installed", package="zoo-not-installed", extra="timm", purpose="a test")
    assert str(caught.value) == (
        "a test needs the 'zoo-not-installed' package, which is not installed. "
        "Install it with: pip install 'zoo-backbones[timm]'"
    )
    assert isinstance(caught.value, ImportError)
    assert caught.value.extra == "timm"
