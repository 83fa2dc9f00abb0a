"""The YAML guards: every hostile or broken file is a clean ManifestError, never a crash."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO_ROOT, ManifestFactory
from zoo.catalog._yaml import MAX_BYTES, MAX_DEPTH, field_lines, load_manifest_data, locate
from zoo.catalog.parse import parse_manifest, read_manifest
from zoo.errors import ManifestError
from zoo.problems import Problem

FILE = "catalog/testing/tiny_vit.yaml"


def _problem(raw: bytes, file: str = FILE) -> Problem:
    """The single problem of a refused file; anything but a ManifestError fails the test."""
    with pytest.raises(ManifestError) as info:
        parse_manifest(raw, file)
    problems = info.value.problems
    assert len(problems) == 1, problems
    assert problems[0].file == file
    assert problems[0].severity == "error"
    return problems[0]


def _nested_lists(depth: int) -> bytes:
    return ("a: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n").encode()


def _nested_maps(depth: int) -> bytes:
    # The depth counts containers and the scalar at the bottom: depth - 1 mappings, then a value.
    lines = [f"{'  ' * i}k{i}:" for i in range(depth - 2)]
    lines.append(f"{'  ' * (depth - 2)}leaf: 1")
    return ("\n".join(lines) + "\n").encode()


# -- size ------------------------------------------------------------------------------------


def test_file_over_one_mebibyte(tmp_path: Path) -> None:
    raw = b"description: " + b"x" * MAX_BYTES + b"\n"
    file = tmp_path / "testing" / "big.yaml"
    file.parent.mkdir()
    file.write_bytes(raw)
    start = time.perf_counter()
    with pytest.raises(ManifestError) as info:
        read_manifest(file)
    assert time.perf_counter() - start < 1.0
    (problem,) = info.value.problems
    assert problem.file == str(file)
    assert f"file is {len(raw)} bytes; a manifest may have at most {MAX_BYTES}" in problem.message


def test_file_of_exactly_the_limit_is_read() -> None:
    prefix = b"description: "
    raw = prefix + b"x" * (MAX_BYTES - len(prefix) - 1) + b"\n"
    assert len(raw) == MAX_BYTES
    data, problems = load_manifest_data(raw, FILE)
    assert problems == []
    assert len(data["description"]) == MAX_BYTES - len(prefix) - 1


# -- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [_nested_lists, _nested_maps], ids=["flow-lists", "block-maps"])
def test_nesting_limit(make) -> None:  # type: ignore[no-untyped-def]
    data, problems = load_manifest_data(make(MAX_DEPTH), FILE)
    assert problems == [], problems
    assert data is not None
    problem = _problem(make(MAX_DEPTH + 1))
    assert problem.message == f"nested too deeply (more than {MAX_DEPTH} levels)"


def test_deep_nesting_is_refused_quickly() -> None:
    start = time.perf_counter()
    problem = _problem(_nested_lists(5000))
    assert "nested too deeply" in problem.message
    assert time.perf_counter() - start < 2.0


def test_very_deep_nesting_does_not_crash_the_interpreter(tmp_path: Path) -> None:
    # In a child process: a crash here would otherwise take the whole test run down.
    code = (
        "from zoo.catalog._yaml import load_manifest_data\n"
        "raw = ('a: ' + '[' * 100000 + ']' * 100000).encode()\n"
        "data, problems = load_manifest_data(raw, 'deep.yaml')\n"
        "print(problems[0].message)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"interpreter died with {proc.returncode}"
    assert "nested too deeply" in proc.stdout


# -- aliases ---------------------------------------------------------------------------------

BILLION_LAUGHS = b"""\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_is_refused_quickly() -> None:
    start = time.perf_counter()
    problem = _problem(BILLION_LAUGHS)
    assert time.perf_counter() - start < 1.0
    assert problem.message == "YAML anchors and aliases are not allowed in manifests"
    assert problem.code == "yaml"
    assert problem.line is not None
    assert problem.line <= 2


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "&k a: 1\nb: *k\n",
        "base: &b {k: 1}\nother: *b\n",
    ],
    ids=["scalar", "key", "mapping"],
)
def test_any_alias_is_refused(text: str) -> None:
    problem = _problem(text.encode())
    assert "anchors and aliases are not allowed" in problem.message
    assert problem.line is not None


def test_merge_keys_are_refused() -> None:
    problem = _problem(b"base: {k: 1}\nother:\n  <<: {k: 2}\n  j: 3\n")
    assert "merge" in problem.message
    assert problem.line == 3


# -- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/object:os.system",
        "!!python/name:os.system",
        "!!python/module:os",
        "!custom",
    ],
)
def test_python_and_custom_tags_are_refused(tag: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    raw = (
        f"schema_version: 1\nname: testing/tiny_vit\nmetrics: {tag} ['touch {sentinel}']\n".encode()
    )
    problem = _problem(raw)
    assert problem.message.startswith("tag not allowed: ")
    assert "no Python tags" in problem.message
    assert problem.line == 3
    assert problem.column is not None
    assert not sentinel.exists()


def test_safe_loader_is_used_even_for_top_level_tags() -> None:
    problem = _problem(b"!!python/object/apply:os.getcwd []\n")
    assert problem.message.startswith("tag not allowed: ")
    assert problem.line == 1


# -- duplicate keys --------------------------------------------------------------------------


def test_duplicate_top_level_key_names_both_lines() -> None:
    problem = _problem(b"schema_version: 1\nname: a/b\ngated: true\nname: a/c\n")
    assert problem.message == "duplicate key 'name' (first at line 2)"
    assert problem.line == 4
    assert problem.column == 1


def test_duplicate_nested_key_names_both_lines(tiny_manifest_data: ManifestFactory) -> None:
    text = yaml.safe_dump(tiny_manifest_data(), sort_keys=False)
    lines = text.splitlines()
    at = lines.index("  embedding_dim: 384")
    lines.insert(at + 2, "  embedding_dim: 768")
    problem = _problem(("\n".join(lines) + "\n").encode())
    assert problem.message == f"duplicate key 'embedding_dim' (first at line {at + 1})"
    assert problem.line == at + 3
    assert problem.column == 3


def test_unhashable_key_is_refused() -> None:
    problem = _problem(b"? [a, b]\n: 1\n")
    assert problem.message == "a mapping key must be a plain value"
    assert problem.line == 1


# -- encoding and syntax ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"description: caf\xe9\n",  # latin-1
        "description: x\n".encode("utf-16"),
        b"description: \xe2\x82\n",  # truncated multi-byte sequence
        b"\xff\xfe\xfd",
    ],
    ids=["latin-1", "utf-16", "truncated", "garbage"],
)
def test_non_utf8_is_refused(raw: bytes) -> None:
    problem = _problem(raw)
    assert problem.code == "encoding"
    assert problem.message.startswith("not UTF-8 text (byte ")


def test_utf8_bom_is_accepted() -> None:
    data, problems = load_manifest_data("\ufeffdescription: café\n".encode(), FILE)
    assert problems == []
    assert data == {"description": "café"}


def test_syntax_error_has_a_line() -> None:
    problem = _problem(b"schema_version: 1\nname: [unclosed\ngated: true\n")
    assert problem.code == "yaml"
    assert problem.line is not None
    assert problem.line >= 2
    assert "flow sequence" in problem.message


def test_several_documents_are_refused() -> None:
    problem = _problem(b"schema_version: 1\n---\nschema_version: 1\n")
    assert "expected a single document" in problem.message
    assert problem.line == 2


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"", "empty"), (b"# only a comment\n", "empty"), (b"- 1\n", "a list"), (b"text\n", "a str")],
)
def test_top_level_must_be_a_mapping(raw: bytes, kind: str) -> None:
    problem = _problem(raw)
    assert problem.message == f"a manifest is a YAML mapping, this file is {kind}"
    assert problem.code == "type"


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        (b"schema_version: 1\nname: a/b\ndescription: caf\xe9\n", 3),
        (_nested_lists(MAX_DEPTH + 1), 1),
        (b"schema_version: 1\ndescription: a\x00b\n", 2),
    ],
    ids=["non-utf8", "too-deep", "control-char"],
)
def test_every_refusal_has_a_line(raw: bytes, line: int) -> None:
    problem = _problem(raw)
    assert problem.line == line
    assert "\n" not in problem.message


# -- never another exception type ------------------------------------------------------------

_YAMLISH = st.text(alphabet=[*list("[]{}:-&*!#|>'\",?%@`\\ \t\nab1.<~"), "\x00", "é"], max_size=80)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.one_of(st.binary(max_size=80), _YAMLISH.map(str.encode)))
def test_arbitrary_bytes_never_escape_as_another_exception(raw: bytes) -> None:
    # Random bytes are never a valid manifest: the only acceptable outcome is a ManifestError.
    with pytest.raises(ManifestError) as info:
        parse_manifest(raw, FILE)
    assert info.value.problems
    assert all(p.file == FILE for p in info.value.problems)


@settings(max_examples=200, deadline=None, database=None)
@given(
    _YAMLISH.map(str.encode),
    st.lists(st.one_of(st.text(max_size=5), st.integers(-3, 3)), max_size=4),
)
def test_locate_never_raises(raw: bytes, loc: list[str | int]) -> None:
    line, column = locate(raw, loc)
    assert (line is None) == (column is None)
    if line is not None:
        assert line >= 1
        assert column is not None
        assert column >= 1


def test_field_lines_agree_with_locate() -> None:
    raw = (
        b"# comment\nname: g/n\nlicense: {id: MIT, commercial: true}\n"
        b"output:\n  embedding_dim: 384\n  pooling: cls\ntags: [a, {x: 1}]\n"
    )
    lines = field_lines(raw)
    assert lines == {
        ("name",): 2,
        ("license",): 3,
        ("license", "id"): 3,
        ("license", "commercial"): 3,
        ("output",): 4,
        ("output", "embedding_dim"): 5,
        ("output", "pooling"): 6,
        ("tags",): 7,
    }
    for path, line in lines.items():
        if path != (
            "output",
        ):  # locate gives the value's line; a block mapping starts below its key
            assert locate(raw, path)[0] == line


@pytest.mark.parametrize("raw", [b"", b"- a\n", b"a: &x 1\nb: *x\n", b"\xff\xfe", b"a: [\n"])
def test_field_lines_of_a_refused_or_empty_file_is_empty(raw: bytes) -> None:
    assert field_lines(raw) == {}
