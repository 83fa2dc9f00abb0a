"""The validation report a contributor sees: annotations, advice, TODOs, cross-catalogue checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import GITHUB_LINE
from tests.conftest import CliRunner, ManifestFactory, ManifestWriter
from zoo.cli._output import github_annotation


@pytest.fixture(autouse=True)
def _empty_bundled_catalogue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Cross-catalogue checks see a known, empty bundled catalogue (plus ZOO_CATALOG_PATH)."""
    root = tmp_path / "bundled" / "catalog"
    root.mkdir(parents=True)
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: root)
    return root


# -- GitHub annotations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "properties", "expected"),
    [
        (
            "plain",
            {"file": "a.yaml", "line": 3, "col": 1},
            "::error file=a.yaml,line=3,col=1::plain",
        ),
        ("100% sure", {"file": "a.yaml"}, "::error file=a.yaml::100%25 sure"),
        ("two\nlines\r\n", {"file": "a.yaml"}, "::error file=a.yaml::two%0Alines%0D%0A"),
        ("a: b, c", {"file": "a.yaml"}, "::error file=a.yaml::a: b, c"),  # data keeps : and ,
        ("m", {"file": "C:/x,y%.yaml"}, "::error file=C%3A/x%2Cy%25.yaml::m"),
        ("m", {"file": "a\nb.yaml", "line": None}, "::error file=a%0Ab.yaml::m"),
        ("m", {}, "::error::m"),
    ],
)
def test_github_annotation_escaping(
    message: str, properties: dict[str, object], expected: str
) -> None:
    assert github_annotation("error", message, properties) == expected


def test_github_format_one_line_per_problem_with_odd_paths(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    root = tmp_path / "odd, dir:1"
    data = tiny_manifest_data("vision/odd", description="")
    data["output"]["embedding_dim"] = 0
    file = write_manifest(root, data)
    code, out, err = run_cli("validate", "--format", "github", file)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 1, lines
    match = GITHUB_LINE.match(lines[0])
    assert match, lines[0]
    assert match["file"] == str(file).replace(":", "%3A").replace(",", "%2C")
    assert match["level"] == "error"
    assert "FAILED: 1 file(s), 1 error(s), 0 warning(s)" in err


def test_reader_error_gets_line_and_column(run_cli: CliRunner, tmp_path: Path) -> None:
    file = tmp_path / "vision" / "ctl.yaml"
    file.parent.mkdir()
    file.write_bytes(b"schema_version: 1\nname: vision/ctl\ndescription: ab\x07c\n")
    code, out, _ = run_cli("validate", file)
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith(f"{file}:3:16: unacceptable character ")
    assert line.endswith("control characters are not allowed [error]")
    assert "position" not in line


# -- advice ------------------------------------------------------------------------------------


def test_todo_comments_are_warnings_and_strict_blocks_them(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    file = write_manifest(tmp_path, tiny_manifest_data("vision/todo"))
    text = file.read_text().replace("tags:", "  # TODO tags: more labels\ntags:")
    file.write_text(text)
    code, out, err = run_cli("validate", file)
    assert code == 0, out
    (line,) = out.splitlines()
    number = text.splitlines().index("  # TODO tags: more labels") + 1
    assert line == f"{file}:{number}:3: TODO left: tags: more labels [warning]"
    assert "1 warning(s)" in err
    code, out, err = run_cli("validate", "--strict", file)
    assert code == 1
    assert out.strip().endswith("[error]")


def test_todo_about_a_warned_field_is_not_repeated(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    file = write_manifest(tmp_path, tiny_manifest_data("vision/todo2", description=""))
    file.write_text(
        file.read_text().replace("description:", "# TODO description: say it\ndescription:")
    )
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 0
    problems = json.loads(out)["problems"]
    assert [p["code"] for p in problems] == ["no_description"]


def test_absolute_checkpoint_path_is_a_warning(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    data = tiny_manifest_data(
        "vision/local", checkpoint={"path": str(tmp_path / "w.safetensors")}, paper={"title": "p"}
    )
    file = write_manifest(tmp_path / "cat", data)
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 0
    problems = json.loads(out)["problems"]
    assert [(p["path"], p["code"], p["severity"]) for p in problems] == [
        ("checkpoint.path", "absolute_path", "warning")
    ]


@pytest.mark.parametrize("written", ["~/.ssh/id_ed25519", "/home/user/.ssh/id_ed25519"])
def test_a_home_or_absolute_checkpoint_path_blocks_under_strict_and_in_ci(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    monkeypatch: pytest.MonkeyPatch,
    written: str,
) -> None:
    # `zoo pull --to` would copy that file into a shareable mirror (no known gap can excuse it).
    data = tiny_manifest_data("vision/key", checkpoint={"path": written}, paper={"title": "p"})
    file = write_manifest(tmp_path / "cat", data)
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 0
    [problem] = json.loads(out)["problems"]
    assert (problem["code"], problem["severity"]) == ("absolute_path", "warning")
    code, out, _ = run_cli("validate", "--strict", file)
    assert code == 1
    assert "checkpoint.path: a path with `~` or an absolute path" in out
    monkeypatch.setenv("CI", "true")
    code, out, _ = run_cli("validate", file)
    assert code == 1
    assert "[error]" in out


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"description": ""}, "no_description"),
        ({"license": None}, "no_license"),
        ({"paper": None}, "no_paper"),
        ({"checkpoint": {"hf": {"repo": "a/b", "filename": "w.bin"}}}, "unpinned_revision"),
        ({"checkpoint": {"url": "https://example.invalid/w.pth"}}, "no_sha256"),
    ],
)
def test_each_warning_class_has_its_code(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    change: dict[str, object],
    code: str,
) -> None:
    data = tiny_manifest_data(
        "vision/warned", checkpoint={"timm": "augreg_in21k"}, paper={"title": "A paper"}
    )
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    file = write_manifest(tmp_path, data)
    exit_code, out, _ = run_cli("validate", "--json", file)
    assert exit_code == 0
    assert [p["code"] for p in json.loads(out)["problems"]] == [code]
    exit_code, out, _ = run_cli("validate", "--json", "--strict", file)
    assert exit_code == 1
    assert json.loads(out)["problems"][0]["severity"] == "error"


# -- known gaps --------------------------------------------------------------------------------

#: Why the test manifest's download has no sha256 (a reason is a sentence: 20 characters or more).
REASON = "The authors publish only an MD5 of this file."


def _unhashed(tiny_manifest_data: ManifestFactory, **gaps: str) -> dict[str, object]:
    """A manifest whose only warning is the missing sha256 of its URL checkpoint."""
    data = tiny_manifest_data(
        "vision/unhashed",
        checkpoint={"url": "https://example.org/w.safetensors"},
        paper={"title": "A paper"},
    )
    if gaps:
        data["known_gaps"] = {k.replace("__", "."): v for k, v in gaps.items()}
    return data


def test_a_known_gap_is_shown_with_its_reason_and_strict_passes_it(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    plain = write_manifest(tmp_path / "a", _unhashed(tiny_manifest_data))
    code, _, err = run_cli("validate", "--strict", plain)
    assert code == 1, err  # without the gap, --strict blocks on the warning
    data = _unhashed(tiny_manifest_data, checkpoint__sha256=REASON)
    file = write_manifest(tmp_path / "b", data)
    code, out, err = run_cli("validate", "--strict", file)
    assert code == 0, out
    (line,) = out.splitlines()
    assert line == (
        f"{file}: checkpoint.sha256: no sha256: the download cannot be verified "
        f"(known gap: {REASON}) [known]"
    )
    assert "ok: 1 file(s), 0 error(s), 0 warning(s), 1 known gap(s)" in err
    code, out, _ = run_cli("validate", "--strict", "--json", file)
    assert code == 0
    (problem,) = json.loads(out)["problems"]
    assert (problem["severity"], problem["code"]) == ("known", "no_sha256")
    code, out, _ = run_cli("validate", "--strict", "--format", "github", file)
    assert code == 0
    assert out.startswith("::notice file=")


def test_a_gap_that_draws_no_warning_is_an_error(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    data = _unhashed(tiny_manifest_data, checkpoint__sha256=REASON, paper=REASON)
    file = write_manifest(tmp_path, data)
    code, out, err = run_cli("validate", file)
    assert code == 1
    assert f"{file}: known_gaps.paper: paper draws no warning" in out
    assert "remove this entry [error]" in out
    assert "1 error(s), 0 warning(s), 1 known gap(s)" in err


@pytest.mark.parametrize(
    ("gaps", "expected"),
    [
        ({"wrapper.timm.architecture": REASON}, "known_gaps.wrapper.timm.architecture"),
        ({"checkpoint.sha256": "no hash"}, "at least 20 characters"),
    ],
)
def test_a_gap_names_a_warning_and_gives_a_sentence(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    gaps: dict[str, str],
    expected: str,
) -> None:
    data = _unhashed(tiny_manifest_data)
    data["known_gaps"] = gaps
    code, out, _ = run_cli("validate", write_manifest(tmp_path, data))
    assert code == 1
    assert expected in out, out


# -- cross-catalogue checks --------------------------------------------------------------------


@pytest.fixture
def other_root(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> Path:
    """A second catalogue root on ZOO_CATALOG_PATH holding vision/taken (timm dino weights)."""
    root = tmp_path / "private"
    write_manifest(
        root,
        tiny_manifest_data(
            "vision/taken",
            aliases=["vision/also_taken"],
            checkpoint={"timm": "dino"},
            paper={"title": "DINO"},
        ),
    )
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    return root


@pytest.mark.parametrize("claim", ["vision/taken", "vision/also_taken"])
def test_a_file_clashing_with_another_root_is_blamed(
    run_cli: CliRunner,
    tmp_path: Path,
    other_root: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    claim: str,
) -> None:
    data = tiny_manifest_data("vision/mine", aliases=[claim])
    file = write_manifest(tmp_path / "mine", data)
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 1
    (problem,) = json.loads(out)["problems"]
    assert (problem["file"], problem["code"], problem["path"]) == (
        str(file),
        "duplicate_name",
        "aliases",
    )
    assert str(other_root / "vision" / "taken.yaml") in problem["message"]


def test_same_weights_across_roots_must_be_declared(
    run_cli: CliRunner,
    tmp_path: Path,
    other_root: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    data = tiny_manifest_data("vision/twin", checkpoint={"timm": "dino"}, paper={"title": "DINO"})
    file = write_manifest(tmp_path / "mine", data)
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 1
    (problem,) = json.loads(out)["problems"]
    assert problem["code"] == "duplicate_weights"
    assert "same_weights_as: vision/taken" in problem["message"]
    data["same_weights_as"] = "vision/taken"
    write_manifest(tmp_path / "mine", data)
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 0, out
    assert json.loads(out)["problems"] == []


def test_validating_a_root_file_by_path_does_not_clash_with_itself(
    run_cli: CliRunner, other_root: Path
) -> None:
    file = other_root / "vision" / "taken.yaml"
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 0, out


def test_name_path_mismatch(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    file = write_manifest(tmp_path, tiny_manifest_data("vision/right"), name="vision/wrong")
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 1
    (problem,) = json.loads(out)["problems"]
    assert (problem["code"], problem["path"]) == ("name_mismatch", "name")
    assert "expected 'vision/wrong'" in problem["message"]
