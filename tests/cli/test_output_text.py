"""Nothing zoo prints can drive the terminal: control and bidi characters come out as escapes.

Validation refuses them in manifests (tests/catalog/hostile/escape_*.yaml); these tests
feed text that got past validation anyway (a manifest changed in Python, a hand-edited
listing index, a name typed on the command line) to the real commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner, ManifestFactory, ManifestWriter
from zoo.catalog import listing
from zoo.catalog.reader import Catalog
from zoo.cli._output import Output, github_annotation
from zoo.manifest import Manifest
from zoo.text import UNSAFE, visible

#: One of each kind: CSI, OSC ended by BEL, C1 CSI, DEL, bidi override, isolate, LRM, ALM.
HOSTILE = "red \x1b[31mRED\x1b[0m \x1b]0;title\x07 \x9b2J \x7f \u202eevil\u202c \u2066i\u2069 \u200e \u061c"


def _clean(text: str) -> None:
    found = UNSAFE.search(text)
    assert found is None, f"raw {found.group()!r} in output: {text!r}"


def test_visible_escapes_each_unsafe_character_and_keeps_text() -> None:
    shown = visible(HOSTILE)
    _clean(shown)
    assert shown.startswith("red \\x1b[31mRED\\x1b[0m \\x1b]0;title\\x07 \\x9b2J \\x7f \\u202eevil")
    assert visible("plain text, tabs\tand\nnewlines: ünïcödé 中文") == (
        "plain text, tabs\tand\nnewlines: ünïcödé 中文"
    )


def _hostile_manifest(m: Manifest) -> Manifest:
    """``m`` with hostile text everywhere a string can be, not validated (model_copy)."""
    wrapper = m.wrapper.model_copy(
        update={"kwargs": {f"key{HOSTILE}": [HOSTILE, {"deep": HOSTILE}]}}
    )
    return m.model_copy(
        update={
            "description": HOSTILE,
            "tags": [HOSTILE, "vit"],
            "aliases": [f"testing/{HOSTILE}"],
            "wrapper": wrapper,
            "metrics": {HOSTILE: 1.0},
        }
    )


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_zoo_show_of_an_unvalidated_manifest_prints_no_control_character(
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: CliRunner,
    as_json: bool,
) -> None:
    write_manifest(tmp_path, tiny_manifest_data("testing/hostile"))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path))
    valid = Catalog().get("testing/hostile")
    # The one seam: `zoo show` gets a manifest that no validation has seen.
    monkeypatch.setattr(Catalog, "get", lambda self, name: _hostile_manifest(valid))
    code, out, err = run_cli("show", "testing/hostile", *(["--json"] if as_json else []))
    assert code == 0, err
    _clean(out)
    _clean(err)
    if as_json:
        data = json.loads(out)  # still valid JSON, and the same data
        assert data["description"] == HOSTILE
        assert data["wrapper"]["kwargs"] == {f"key{HOSTILE}": [HOSTILE, {"deep": HOSTILE}]}
    else:
        assert "\\x1b[31mRED" in out
        assert "\\u202eevil" in out
        assert "keyred \\x1b[31m" in out  # a kwargs key


def test_zoo_list_from_a_hand_edited_index_prints_no_control_character(
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: CliRunner,
) -> None:
    root = tmp_path / "catalog"
    write_manifest(root, tiny_manifest_data("testing/listed"))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    code, out, err = run_cli("list", "testing/*", "--json")
    assert code == 0, err
    # `zoo list` trusts its index while the manifest files are unchanged: edit the index.
    (index,) = (Path(str(listing.index_path(listing.default_roots()))),)
    data = json.loads(index.read_text())
    row = next(r for r in data["summaries"] if r["name"] == "testing/listed")
    row.update(license=HOSTILE, tags=[HOSTILE], source=HOSTILE, name=f"testing/{HOSTILE}")
    index.write_text(json.dumps(data), encoding="utf-8")
    for args in (["list"], ["list", "testing/*"], ["list", "--json"]):
        code, out, err = run_cli(*args)
        assert code == 0, err
        _clean(out + err)
        assert "\\x1b[31mRED" in out or "\\u001b[31mRED" in out, out


def test_every_output_method_makes_text_visible(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output()
    out.table([{"a": HOSTILE, "b": [HOSTILE, 1]}], [("a", "a"), ("b", HOSTILE)], title=HOSTILE)
    out.record({"k": HOSTILE}, [(HOSTILE, {HOSTILE: {HOSTILE: HOSTILE}})], title=HOSTILE)
    out.lines([HOSTILE])
    out.write(HOSTILE + "\n")
    out.message(HOSTILE)
    Output(as_json=True).json({HOSTILE: [HOSTILE]})
    printed = capsys.readouterr()
    _clean(printed.out + printed.err)
    assert printed.out.count("\\u202eevil") >= 6
    annotation = github_annotation("error", HOSTILE, {"file": HOSTILE, "line": 3})
    _clean(annotation)


def test_rich_markup_in_manifest_text_is_printed_as_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Output().record({}, [("identity", {"description": "a [bold]b[/bold] [/] c"})], title="t")
    assert "a [bold]b[/bold] [/] c" in capsys.readouterr().out


def test_errors_quoting_what_was_typed_are_visible(run_cli: CliRunner) -> None:
    code, out, err = run_cli("show", f"testing/{HOSTILE}")
    assert code == 1
    _clean(out + err)
    code, out, err = run_cli("list", "--wrapper", HOSTILE)
    assert code == 2
    _clean(out + err)
    assert "\\x1b[31m" in err


def test_zoo_validate_shows_a_hostile_file_name_escaped(
    tmp_path: Path, run_cli: CliRunner, tiny_manifest_data: ManifestFactory
) -> None:
    folder = tmp_path / "red\x1b[31m\u202e"
    folder.mkdir()
    file = folder / "broken.yaml"
    file.write_text("schema_version: 1\nname: 3\n")
    for args in (["validate", str(file)], ["validate", str(file), "--format", "github"]):
        code, out, err = run_cli(*args)
        assert code == 1
        _clean(out + err)
        assert "red\\x1b[31m\\u202e" in out


def test_validation_refuses_unsafe_text_in_manifests_built_in_python(
    tiny_manifest_data: ManifestFactory,
) -> None:
    from pydantic import ValidationError

    cases: list[tuple[str, Any]] = [
        ("description", "\x1b[31m"),
        ("tags", ["vit", "\u202etiv"]),
        (
            "wrapper",
            {
                "type": "timm",
                "architecture": "vit_small_patch16_224",
                "kwargs": {"a": {"b": ["\x9b"]}},
            },
        ),
    ]
    for field, value in cases:
        data = tiny_manifest_data()
        data[field] = value
        with pytest.raises(ValidationError, match="control characters, terminal escape"):
            Manifest.model_validate(data)
