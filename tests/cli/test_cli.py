"""The command line: list, show, validate; exit codes and output formats."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INVALID_DIR, VALID_DIR, CliRunner, ManifestFactory, ManifestWriter
from zoo.errors import ModelNotFoundError
from zoo.manifest import Manifest

#: One problem line of `zoo validate`: file:line:col: path: message [severity]
#: The pathology entry's scale: `zoo list` and `zoo show` print it.
CLI_MPP = {
    "value": 0.5,
    "basis": "inferred",
    "source": "TRIDENT runs it at --mag 20 (cli fixture).",
}
PROBLEM_LINE = re.compile(
    r"^(?P<file>\S+\.yaml):(?P<line>\d+):(?P<col>\d+): (?P<path>[\w.\[\]]+): (?P<msg>.+) "
    r"\[(?P<tag>error|warning)\]$"
)
GITHUB_LINE = re.compile(
    r"^::(?P<level>error|warning) file=(?P<file>[^,]+\.yaml)(,line=(?P<line>\d+))?(,col=(?P<col>\d+))?::(?P<text>.+)$"
)


@pytest.fixture
def catalog_root(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> Path:
    """Replace the bundled catalogue by a small known one."""
    root = tmp_path / "catalog"
    write_manifest(root, tiny_manifest_data("vision/vit_small", aliases=["mmpre/vit-small-p16"]))
    closed = tiny_manifest_data("pathology/histo_vit", tags=["pathology", "vit"], gated=True)
    closed["license"] = {"id": "CC-BY-NC-4.0", "commercial": False}
    closed["checkpoint"] = {"hf": {"repo": "example-org/histo", "filename": "model.safetensors"}}
    closed["input"] = {**closed["input"], "mpp": CLI_MPP}
    write_manifest(root, closed)
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: root)
    return root


# -- zoo list --------------------------------------------------------------------------------


def test_list_table(run_cli: CliRunner, catalog_root: Path) -> None:
    code, out, err = run_cli("list")
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("name"))
    for column in ("name", "kind", "wrapper", "weights", "dim", "input", "license", "gated"):
        assert column in header
    rows = {
        line.split()[0]: line.split()
        for line in lines
        if line.startswith(("vision/", "pathology/"))
    }
    assert list(rows) == ["pathology/histo_vit", "vision/vit_small"]
    assert [c for c in rows["vision/vit_small"] if c not in "│┃"] == [
        "vision/vit_small", "image", "timm", "none", "384", "224x224", "-", "Apache-2.0", "no",
    ]  # fmt: skip
    assert "hf" in rows["pathology/histo_vit"]
    assert "yes" in rows["pathology/histo_vit"]


def test_list_json(run_cli: CliRunner, catalog_root: Path) -> None:
    code, out, _ = run_cli("list", "--json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list)
    assert [row["name"] for row in data] == ["pathology/histo_vit", "vision/vit_small"]
    required = {"name", "group", "wrapper", "source", "embedding_dim", "license", "gated", "tags"}
    for row in data:
        assert required <= set(row)
    histo = data[0]
    assert histo["group"] == "pathology"
    assert histo["wrapper"] == "timm"
    assert histo["source"] == "hf"
    assert histo["embedding_dim"] == 384
    assert histo["license"] == "CC-BY-NC-4.0"
    assert histo["commercial"] is False
    assert histo["gated"] is True
    assert histo["tags"] == ["pathology", "vit"]
    assert data[1]["aliases"] == ["mmpre/vit-small-p16"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["vision/*"], ["vision/vit_small"]),
        (["mmpre/*"], ["vision/vit_small"]),
        (["--group", "pathology"], ["pathology/histo_vit"]),
        (["--wrapper", "timm"], ["pathology/histo_vit", "vision/vit_small"]),
        (["--tag", "pathology"], ["pathology/histo_vit"]),
        (["--commercial"], ["vision/vit_small"]),
    ],
)
def test_list_filters(
    run_cli: CliRunner, catalog_root: Path, args: list[str], expected: list[str]
) -> None:
    code, out, _ = run_cli("list", *args, "--json")
    assert code == 0
    assert [row["name"] for row in json.loads(out)] == expected


def test_list_nothing_matches(run_cli: CliRunner, catalog_root: Path) -> None:
    code, out, err = run_cli("list", "nothing/*")
    assert code == 0
    assert out == ""
    assert err.strip() == "no model matches"
    code, out, err = run_cli("list", "nothing/*", "--json")
    assert code == 0
    assert json.loads(out) == []
    assert err == ""


def test_list_mentions_skipped_invalid_manifests(
    run_cli: CliRunner, catalog_root: Path, write_manifest: ManifestWriter
) -> None:
    write_manifest(catalog_root, "schema_version: 1\nname: vision/broken\n", name="vision/broken")
    code, out, err = run_cli("list", "--json")
    assert code == 0
    assert [row["name"] for row in json.loads(out)] == ["pathology/histo_vit", "vision/vit_small"]
    assert "problem(s) in the catalogue's manifests were skipped" in err
    assert "zoo validate" in err


def test_list_extra_root_from_environment(
    run_cli: CliRunner,
    catalog_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    write_manifest(tmp_path / "mine", tiny_manifest_data("mine/model"))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path / "mine"))
    code, out, _ = run_cli("list", "--json")
    assert code == 0
    assert "mine/model" in [row["name"] for row in json.loads(out)]


# -- zoo show --------------------------------------------------------------------------------


def test_show_panels(run_cli: CliRunner, catalog_root: Path) -> None:
    code, out, err = run_cli("show", "pathology/histo_vit")
    assert code == 0, err
    assert out.splitlines()[0] == "pathology/histo_vit"
    for section in ("identity", "wrapper", "checkpoint", "input", "output", "precision"):
        assert section in out
    assert "vit_small_patch16_224" in out
    assert "example-org/histo" in out
    assert str(catalog_root / "pathology" / "histo_vit.yaml") in out


def test_show_random_init_says_so(run_cli: CliRunner, catalog_root: Path) -> None:
    code, out, _ = run_cli("show", "vision/vit_small")
    assert code == 0
    assert "none (random initialization)" in out


def test_show_json_round_trips(run_cli: CliRunner, catalog_root: Path) -> None:
    code, out, _ = run_cli("show", "pathology/histo_vit", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == set(Manifest.model_fields)
    assert data["name"] == "pathology/histo_vit"
    assert data["wrapper"]["architecture"] == "vit_small_patch16_224"
    assert data["checkpoint"]["hf"]["repo"] == "example-org/histo"
    assert data["output"]["embedding_dim"] == 384
    again = Manifest.model_validate(data)
    assert again.model_dump(mode="json") == data


def test_show_by_alias(run_cli: CliRunner, catalog_root: Path) -> None:
    code, out, _ = run_cli("show", "mmpre/vit-small-p16", "--json")
    assert code == 0
    assert json.loads(out)["name"] == "vision/vit_small"


def test_show_unknown_name(run_cli: CliRunner, catalog_root: Path) -> None:
    code, out, err = run_cli("show", "vision/vit_smal")
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: no model named 'vision/vit_smal'")
    assert "Did you mean 'vision/vit_small'" in err
    assert "Traceback" not in err


def test_show_invalid_manifest(
    run_cli: CliRunner, catalog_root: Path, write_manifest: ManifestWriter
) -> None:
    file = write_manifest(
        catalog_root, "schema_version: 1\nname: vision/broken\n", name="vision/broken"
    )
    code, out, err = run_cli("show", "vision/broken")
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert f"{file}:" in err
    assert "field required" in err
    assert "Traceback" not in err


def test_debug_shows_the_exception(
    run_cli: CliRunner, catalog_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_DEBUG", "1")
    with pytest.raises(ModelNotFoundError):
        run_cli("show", "vision/nothing")


# -- zoo validate ----------------------------------------------------------------------------


def test_validate_good_folder(run_cli: CliRunner) -> None:
    code, out, err = run_cli("validate", VALID_DIR)
    assert code == 0, out
    assert out == ""
    n = len(list(VALID_DIR.rglob("*.yaml")))
    assert err.strip() == f"ok: {n} file(s), 0 error(s), 0 warning(s)"


def test_validate_bad_folder(run_cli: CliRunner) -> None:
    code, out, err = run_cli("validate", INVALID_DIR)
    assert code == 1
    files = sorted(INVALID_DIR.rglob("*.yaml"))
    lines = out.splitlines()
    assert len(lines) >= len(files)
    reported = set()
    for line in lines:
        # YAML-level problems have no field path; unreadable files have no line either.
        match = PROBLEM_LINE.match(line) or re.match(
            r"^(?P<file>\S+\.yaml)(:\d+:\d+)?: .+ \[error\]$", line
        )
        assert match, line
        reported.add(match["file"])
    assert reported == {str(f) for f in files}
    assert sum(bool(PROBLEM_LINE.match(line)) for line in lines) >= 30  # most name a field
    assert err.startswith(f"FAILED: {len(files)} file(s), ")


def test_validate_problem_line_format(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    data = tiny_manifest_data()
    data["output"]["pooling"] = "gem"
    file = write_manifest(tmp_path, data)
    code, out, _ = run_cli("validate", file)
    assert code == 1
    (line,) = out.splitlines()
    match = PROBLEM_LINE.match(line)
    assert match, line
    assert match["file"] == str(file)
    assert match["path"] == "output.pooling"
    assert match["tag"] == "error"
    assert file.read_text().splitlines()[int(match["line"]) - 1].strip() == "pooling: gem"


@pytest.fixture
def warned_file(
    tmp_path: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory
) -> Path:
    """A valid manifest that draws one warning (no description)."""
    return write_manifest(tmp_path, tiny_manifest_data(description=""))


def test_validate_warnings_do_not_block(run_cli: CliRunner, warned_file: Path) -> None:
    code, out, err = run_cli("validate", warned_file)
    assert code == 0
    assert (
        out.strip()
        == f"{warned_file}: description: no description: say what the model is and which embedding it returns [warning]"
    )
    assert "ok: 1 file(s), 0 error(s), 1 warning(s)" in err


def test_validate_strict_turns_warnings_into_errors(run_cli: CliRunner, warned_file: Path) -> None:
    code, out, err = run_cli("validate", "--strict", warned_file)
    assert code == 1
    assert out.strip().endswith("[error]")
    assert "FAILED: 1 file(s), 1 error(s), 0 warning(s)" in err


@pytest.mark.parametrize(
    ("checkpoint", "path"),
    [
        ({"hf": {"repo": "a/b", "filename": "w.bin"}}, "checkpoint.hf.revision"),
        ({"url": "https://example.invalid/w.pth"}, "checkpoint.sha256"),
    ],
)
def test_validate_advice(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
    checkpoint: dict[str, object],
    path: str,
) -> None:
    data = tiny_manifest_data(checkpoint=checkpoint, paper={"title": "A paper"})
    file = write_manifest(tmp_path, data)
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True
    assert [(p["path"], p["severity"]) for p in report["problems"]] == [(path, "warning")]


def test_validate_github_format(run_cli: CliRunner, warned_file: Path) -> None:
    broken = warned_file.parent / "broken.yaml"
    broken.write_text(warned_file.read_text().replace("embedding_dim: 384", "embedding_dim: 0"))
    code, out, _ = run_cli("validate", "--format", "github", warned_file.parent)
    assert code == 1
    parsed = [GITHUB_LINE.match(line) for line in out.splitlines()]
    assert all(parsed), out
    by_file = {m["file"]: m for m in parsed if m}
    error = by_file[str(broken)]
    assert error["level"] == "error"
    assert error["line"] is not None
    assert error["col"] is not None
    assert error["text"].startswith("output.embedding_dim: ")
    warning = by_file[str(warned_file)]
    assert warning["level"] == "warning"
    assert warning["text"].startswith("description: no description")


def test_validate_github_format_is_one_line_per_problem(run_cli: CliRunner, tmp_path: Path) -> None:
    file = tmp_path / "vision" / "nul.yaml"
    file.parent.mkdir()
    file.write_bytes(b"schema_version: 1\nname: vision/nul\ndescription: a\x00b\n")
    code, out, _ = run_cli("validate", "--format", "github", file)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 1, lines
    match = GITHUB_LINE.match(lines[0])
    assert match, lines[0]
    assert match["line"] == "3"


def test_validate_json(run_cli: CliRunner, tmp_path: Path, warned_file: Path) -> None:
    broken = warned_file.parent / "broken.yaml"
    broken.write_text(warned_file.read_text().replace("embedding_dim: 384", "embedding_dim: 0"))
    code, out, err = run_cli("validate", "--json", warned_file.parent)
    assert code == 1
    assert err == ""
    report = json.loads(out)
    assert report["ok"] is False
    assert report["files"] == 2
    keys = {"file", "line", "column", "path", "message", "severity", "code"}
    for problem in report["problems"]:
        assert set(problem) == keys
    error = next(p for p in report["problems"] if p["file"] == str(broken))
    assert (error["path"], error["severity"], error["code"]) == (
        "output.embedding_dim",
        "error",
        "greater_than",
    )
    assert isinstance(error["line"], int)
    assert any(p["severity"] == "warning" for p in report["problems"])


def test_validate_reports_duplicate_names(
    run_cli: CliRunner,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    first = write_manifest(tmp_path / "a", tiny_manifest_data("vision/one", aliases=["other/x"]))
    second = write_manifest(tmp_path / "b", tiny_manifest_data("vision/two", aliases=["other/x"]))
    code, out, _ = run_cli("validate", "--json", tmp_path / "a", tmp_path / "b")
    assert code == 1
    problems = json.loads(out)["problems"]
    dup = [p for p in problems if p["code"] == "duplicate_name"]
    assert len(dup) == 1
    assert dup[0]["file"] == str(second)
    assert dup[0]["path"] == "aliases"
    assert str(first) in dup[0]["message"]


# -- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--bogus"], "No such option"),
        (["list", "--wrapper", "keras"], "Invalid value for '--wrapper'"),
        (["validate", "/nonexistent/zoo/catalog"], "does not exist"),
        (["show"], "Missing argument"),
        (["frobnicate"], "No such command"),
        (["validate", "--format", "xml", "."], "Invalid value for '--format'"),
    ],
)
def test_usage_errors_exit_2(run_cli: CliRunner, args: list[str], message: str) -> None:
    code, out, err = run_cli(*args)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_version(run_cli: CliRunner) -> None:
    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.strip() == "zoo, version 0.1.0"


def test_an_unwritable_zoo_home_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any, server: Any
) -> None:
    """A ZOO_HOME zoo cannot write (here: under a file) ends `zoo pull` and `zoo load` in one
    line naming the folder and the variable, not a traceback."""
    from tests.offline_kit import manifest, tiny_weights, write

    _, data = tiny_weights()
    url = server.add("tiny.safetensors", data)
    root = tmp_path / "catalog"
    write(root, manifest(checkpoint={"url": url, "sha256": hashlib.sha256(data).hexdigest()}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ZOO_HOME", str(blocker / "zoo"))
    code, _, err = run_cli("load", "testing/tiny")
    assert code == 1, err
    assert err.startswith(f"error: {blocker}/zoo"), err
    assert "not a directory (zoo keeps its caches in ZOO_HOME=" in err
    assert len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli("pull", "testing/tiny")  # one line per model that could not be pulled
    assert code == 1, err
    assert err.strip() == f"failed: testing/tiny: cannot write {blocker}/zoo/locks: Not a directory"
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))  # a mirror under a file: the same
    code, _, err = run_cli("pull", "testing/tiny", "--to", str(blocker / "mirror"))
    assert code == 1
    assert (
        err.strip() == f"failed: testing/tiny: cannot write {blocker / 'mirror'}: Not a directory"
    )
