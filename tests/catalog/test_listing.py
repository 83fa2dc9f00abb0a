"""The listing index: `zoo list` from stored summaries, rebuilt whenever a manifest file changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, VALID_DIR, CliRunner, ManifestFactory, ManifestWriter
from zoo import settings
from zoo.catalog import listing
from zoo.catalog.filters import select
from zoo.catalog.reader import Catalog
from zoo.errors import DuplicateNameError
from zoo.manifest import WRAPPER_TYPES

#: What a listing answered from the index must not import.
VALIDATION_MODULES = ("pydantic", "yaml", "zoo.manifest", "zoo.catalog.reader")

#: Runs several `zoo` command lines in one fresh interpreter; reports each one's exit code,
#: stdout and stderr, and which of VALIDATION_MODULES were imported by the end.
_PROBE = """
import contextlib, io, json, sys
import zoo.cli
runs = []
for argv in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = zoo.cli.main(argv)
    runs.append([code, out.getvalue(), err.getvalue()])
loaded = sorted(m for m in json.loads(sys.argv[3]) if m in sys.modules)
with open(sys.argv[1], "w") as f:
    json.dump({"runs": runs, "loaded": loaded}, f)
"""

ARGVS = [
    ["list"],
    ["list", "--json"],
    ["list", "testing*/*"],
    ["list", "--group", "testing", "--json"],
    ["list", "--wrapper", "onnx"],
    ["list", "--tag", "pathology", "--json"],
    ["list", "--commercial", "--json"],
    ["list", "nothing/*"],
]


def _probe(tmp_path: Path, argvs: list[list[str]], zoo_home: Path) -> dict[str, object]:
    result = tmp_path / "result.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["ZOO_CATALOG_PATH"] = str(VALID_DIR)
    env["ZOO_HOME"] = str(zoo_home)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            str(result),
            json.dumps(argvs),
            json.dumps(VALIDATION_MODULES),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(result.read_text())  # type: ignore[no-any-return]


def _index_files() -> list[Path]:
    return sorted((settings.zoo_home() / "index").glob("listing-*.json"))


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


# -- the fast path, end to end ---------------------------------------------------------------


def test_second_listing_imports_no_validation_and_prints_the_same(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _probe(tmp_path, [["list"]], home)
    assert "pydantic" in first["loaded"]  # type: ignore[operator]
    assert len(list((home / "index").glob("listing-*.json"))) == 1
    second = _probe(tmp_path, [["list"]], home)
    assert second["loaded"] == [], f"a fresh index still imported {second['loaded']}"
    assert second["runs"] == first["runs"]


def test_cached_output_is_identical_to_validated_output(tmp_path: Path) -> None:
    # A ZOO_HOME that is a file can never hold an index: every listing validates.
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    uncached = _probe(tmp_path, ARGVS, blocked)
    assert "pydantic" in uncached["loaded"]  # type: ignore[operator]
    home = tmp_path / "home"
    _probe(tmp_path, [["list", "--json"]], home)  # writes the index
    cached = _probe(tmp_path, ARGVS, home)
    assert cached["loaded"] == []
    assert cached["runs"] == uncached["runs"]
    codes = [run[0] for run in cached["runs"]]  # type: ignore[attr-defined]
    assert codes == [0] * len(ARGVS)
    table = cached["runs"][0][1]  # type: ignore[index]
    assert "testing/timm_vit_small_random" in table
    assert "timm/*" in table


@pytest.mark.usefixtures("with_timm_index")
def test_timm_pattern_keeps_reading_timm(run_cli: CliRunner) -> None:
    # `zoo list 'timm/...'` adds timm's registry to the file manifests (none matches here).
    pytest.importorskip("timm")
    assert run_cli("list", "--json")[0] == 0  # writes the index
    assert _index_files()
    code, out, _ = run_cli("list", "timm/vit_small_patch16_224", "--json")
    assert code == 0
    assert [row["name"] for row in json.loads(out)] == ["timm/vit_small_patch16_224"]


# -- what the index holds and when it is rebuilt ---------------------------------------------


@pytest.fixture
def root(
    tmp_path: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory
) -> Path:
    root = tmp_path / "catalog"
    write_manifest(root, tiny_manifest_data("vision/vit_small", aliases=["mmpre/vit-s"]))
    closed = tiny_manifest_data("pathology/histo", tags=["pathology"], gated=True)
    closed["license"] = {"id": "CC-BY-NC-4.0", "commercial": False}
    write_manifest(root, closed)
    return root


def _names(roots: list[Path]) -> list[str]:
    rows, problems = listing.summaries(roots)
    assert problems == []
    return [row["name"] for row in rows]


def test_summaries_equal_the_catalogue_and_are_read_back(root: Path) -> None:
    expected = [m.summary() for m in Catalog([root]).list()]
    assert listing.summaries([root]) == (expected, [])
    index = listing.index_path([root])
    assert index.is_file()
    # The stored rows are what the next listing returns: change them and it shows.
    data = json.loads(index.read_text())
    data["summaries"][0]["license"] = "from-the-index"
    index.write_text(json.dumps(data))
    rows, _ = listing.summaries([root])
    assert rows[0]["license"] == "from-the-index"


def test_unchanged_files_do_not_rewrite_the_index(root: Path) -> None:
    listing.summaries([root])
    before = _stamp(listing.index_path([root]))
    listing.summaries([root])
    assert _stamp(listing.index_path([root])) == before


def test_same_size_edit_with_a_new_mtime_rebuilds(root: Path) -> None:
    listing.summaries([root])
    file = root / "vision" / "vit_small.yaml"
    text = file.read_text()
    edited = text.replace("- vit\n", "- vid\n")
    assert edited != text
    assert len(edited) == len(text)
    st = file.stat()
    file.write_text(edited)
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    rows, _ = listing.summaries([root])
    assert {r["name"]: r["tags"] for r in rows}["vision/vit_small"] == ["testing", "vid"]


def test_size_change_with_the_same_mtime_rebuilds(root: Path) -> None:
    listing.summaries([root])
    file = root / "vision" / "vit_small.yaml"
    st = file.stat()
    file.write_text(file.read_text().replace("- vit\n", "- vits\n"))
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))
    rows, _ = listing.summaries([root])
    assert {r["name"]: r["tags"] for r in rows}["vision/vit_small"] == ["testing", "vits"]


def test_added_and_deleted_files_rebuild(
    root: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory
) -> None:
    assert _names([root]) == ["pathology/histo", "vision/vit_small"]
    write_manifest(root, tiny_manifest_data("vision/vit_new"))
    assert _names([root]) == ["pathology/histo", "vision/vit_new", "vision/vit_small"]
    (root / "pathology" / "histo.yaml").unlink()
    assert _names([root]) == ["vision/vit_new", "vision/vit_small"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("version", "0.0.0-other"), ("format", listing.INDEX_FORMAT + 1), ("code", [])],
)
def test_index_of_another_version_or_format_is_ignored(root: Path, key: str, value: object) -> None:
    listing.summaries([root])
    index = listing.index_path([root])
    data = json.loads(index.read_text())
    data[key] = value
    data["summaries"] = []
    index.write_text(json.dumps(data))
    assert _names([root]) == ["pathology/histo", "vision/vit_small"]
    assert json.loads(index.read_text())[key] != value  # rewritten


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": 1, "summaries": 3}'])
def test_unreadable_index_is_rebuilt(root: Path, content: str) -> None:
    index = listing.index_path([root])
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(content)
    assert _names([root]) == ["pathology/histo", "vision/vit_small"]
    assert json.loads(index.read_text())["format"] == listing.INDEX_FORMAT


def test_select_filters_as_the_catalogue_does(root: Path) -> None:
    catalog = Catalog([root])
    rows, _ = listing.summaries([root])
    for pattern, filters in [
        (None, {}),
        ("vision/*", {}),
        ("mmpre/*", {}),  # aliases match
        (None, {"group": "pathology"}),
        (None, {"wrapper": "timm"}),
        (None, {"wrapper": "onnx"}),
        (None, {"tag": "pathology"}),
        (None, {"commercial": True}),
        (None, {"commercial": False}),
    ]:
        expected = [m.summary() for m in catalog.list(pattern, **filters)]  # type: ignore[arg-type]
        assert select(rows, pattern, **filters) == expected, (pattern, filters)  # type: ignore[arg-type]


# -- problems are never stored -----------------------------------------------------------------


def test_invalid_manifest_is_not_indexed_and_still_reported(
    run_cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    write_manifest: ManifestWriter,
) -> None:
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    write_manifest(root, "schema_version: 1\nname: vision/broken\n", name="vision/broken")
    outputs = [run_cli("list", "--group", "vision") for _ in range(2)]
    assert outputs[0] == outputs[1]
    code, out, err = outputs[0]
    assert code == 0
    assert "vision/vit_small" in out
    assert "vision/broken" not in out
    count = len(Catalog([root]).problems)
    assert count > 0
    assert err == (
        f"{count} problem(s) in the catalogue's manifests were skipped; run `zoo validate`.\n"
    )
    assert _index_files() == []
    _, problems = listing.summaries([root])
    assert {p.file for p in problems} == {str(root / "vision" / "broken.yaml")}
    assert not listing.index_path([root]).exists()


def test_duplicate_names_raise_and_are_not_indexed(
    root: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory
) -> None:
    write_manifest(root, tiny_manifest_data("other/dup", aliases=["vision/vit_small"]))
    for _ in range(2):
        with pytest.raises(DuplicateNameError):
            listing.summaries([root])
    assert not listing.index_path([root]).exists()


# -- where the index lives -----------------------------------------------------------------------


def test_unwritable_zoo_home_only_costs_speed(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, root: Path
) -> None:
    blocked = tmp_path / "home-is-a-file"
    blocked.write_text("")
    monkeypatch.setenv("ZOO_HOME", str(blocked))
    assert _names([root]) == ["pathology/histo", "vision/vit_small"]
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    code, out, err = run_cli("list", "vision/*", "--json")
    assert (code, err) == (0, "")
    assert [row["name"] for row in json.loads(out)] == ["vision/vit_small"]
    assert blocked.read_text() == ""
    assert not list(tmp_path.glob("**/.listing-*.tmp"))


def test_catalog_path_change_uses_another_index(
    run_cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    write_manifest: ManifestWriter,
    tiny_manifest_data: ManifestFactory,
) -> None:
    listed = {}
    for extra in ("one", "two"):
        write_manifest(tmp_path / extra, tiny_manifest_data(f"{extra}/model"))
        monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path / extra))
        for _ in range(2):  # the second listing reads that root's index
            code, out, _ = run_cli("list", "--json")
            assert code == 0
            listed[extra] = {row["name"] for row in json.loads(out)}
    assert "one/model" in listed["one"]
    assert "two/model" not in listed["one"]
    assert "two/model" in listed["two"]
    assert "one/model" not in listed["two"]
    assert len(_index_files()) == 2


# -- kept equal to what they mirror --------------------------------------------------------------


def test_wrapper_types_match_the_manifest_format() -> None:
    assert listing.WRAPPER_TYPES == WRAPPER_TYPES


def test_the_listing_index_is_stamped_with_the_code_that_makes_it() -> None:
    # An edit to zoo/catalog/*.py or zoo/manifest/*.py must invalidate a stored index.
    from zoo.catalog import listing

    stamped = {entry[0].partition("/")[0] for entry in listing._code_stamp()}
    assert stamped == {"catalog", "manifest", "text.py"}
