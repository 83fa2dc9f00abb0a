"""``timm/<architecture>[.<tag>]`` names that timm does not know are clean ModelNotFoundErrors."""

from __future__ import annotations

import pytest

import zoo
from tests.conftest import CliRunner

#: timm names (resolving, suggesting, listing) read zoo's index of timm's registry.
pytestmark = pytest.mark.usefixtures("with_timm_index")

timm = pytest.importorskip("timm")

BAD = "timm/vit_small_patch16_224.nope"


def _tags(arch: str) -> list[str]:
    return [n.partition(".")[2] for n in timm.list_pretrained(f"{arch}.*")]


def test_an_unknown_tag_lists_the_architectures_tags_in_python() -> None:
    tags = _tags("vit_small_patch16_224")
    assert "dino" in tags
    with pytest.raises(zoo.ModelNotFoundError) as info:
        zoo.load(BAD)
    assert isinstance(info.value, LookupError)
    assert info.value.suggestions == [f"timm/vit_small_patch16_224.{t}" for t in tags]
    message = str(info.value)
    assert "has no pretrained tag 'nope'" in message
    assert f"its tags are: {', '.join(tags)}" in message
    assert "timm/vit_small_patch16_224 builds it with random weights" in message
    with pytest.raises(zoo.ModelNotFoundError, match="has no pretrained tag 'nope'"):
        zoo.Catalog().get(BAD)


@pytest.mark.parametrize("command", ["show", "load"])
def test_an_unknown_tag_is_one_line_on_the_command_line(run_cli: CliRunner, command: str) -> None:
    code, out, err = run_cli(command, BAD)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: no model named '{BAD}' in the catalogue.")
    assert ", ".join(_tags("vit_small_patch16_224")) in err
    assert "Traceback" not in err
    assert "RuntimeError" not in err


def test_an_unknown_architecture_still_suggests_close_names() -> None:
    with pytest.raises(zoo.ModelNotFoundError) as info:
        zoo.Catalog().get("timm/vit_smal_patch16_224.dino")
    assert info.value.suggestions


def test_a_known_tag_still_resolves() -> None:
    m = zoo.Catalog().get("timm/vit_small_patch16_224.dino")
    assert m.checkpoint is not None
    assert m.checkpoint.timm == "dino"
