"""The hostile-manifest corpus (tests/catalog/hostile/): every file is refused with a clean error that
names the file and, where a line exists, the line, through the library and through `zoo
validate` (exit 1, no traceback). Files refused only when loading (paths that climb out of the
catalogue) are in tests/catalog/hostile/load/ and go through `zoo pull`. Hypothesis feeds the reader
random bytes, text and structures: only ManifestError ever comes out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO_ROOT
from tests.offline_kit import fetch
from zoo.catalog._yaml import MAX_BYTES
from zoo.catalog.parse import parse_manifest, read_manifest
from zoo.errors import ManifestError, WeightsNotAvailableError

CORPUS = Path(__file__).resolve().parent / "hostile"
NO_TAGS = "(manifests are plain YAML: no Python tags)"

#: file stem -> (text the first problem's message contains, its line or None where there is none)
EXPECTED: dict[str, tuple[str, int | None]] = {
    "alias_in_key": ("anchors and aliases are not allowed", 4),
    "anchor_alias": ("anchors and aliases are not allowed", 5),
    "bad_timestamp": ("cannot read this timestamp: day is out of range", 4),
    "arabic_letter_mark": ("the file holds U+061C (ARABIC LETTER MARK, a bidi control)", 4),
    "bidi_in_comment": ("the file holds U+2066 (LEFT-TO-RIGHT ISOLATE, a bidi control)", 4),
    "bidi_override_name": ("the file holds U+202E (RIGHT-TO-LEFT OVERRIDE, a bidi control)", 3),
    "billion_laughs": ("anchors and aliases are not allowed", 21),
    "binary_tag": ("tag not allowed: '!!binary'", 4),
    "confusable_name": ("should match pattern", 3),
    "control_char": ("unacceptable character U+0007", 4),
    "custom_local_tag": ("tag not allowed: '!include'", 4),
    "deep_30k_brackets": ("nested too deeply (more than 32 levels)", 20),
    "deep_block_maps": ("nested too deeply (more than 32 levels)", 51),
    "deep_flow_lists": ("nested too deeply (more than 32 levels)", 20),
    "deep_unclosed_brackets": ("nested too deeply (more than 32 levels)", 20),
    "duplicate_nested_key": ("duplicate key 'pooling' (first at line 15)", 16),
    "duplicate_top_key": ("duplicate key 'name' (first at line 3)", 20),
    "empty_file": ("this file is empty", None),
    "escape_bidi_tag": ("this value holds U+202E (RIGHT-TO-LEFT OVERRIDE, a bidi control)", 5),
    "escape_c1_csi": ("this value holds U+009B (CSI, a one-byte terminal escape sequence)", 5),
    "escape_carriage_return": ("this value holds U+000D (a control character)", 4),
    "escape_csi": (
        'holds U+001B (ESC, which starts terminal escape sequences) at character 3, near "A \\x1b[31mred',
        4,
    ),
    "escape_del": ("this value holds U+007F (DEL)", 5),
    "escape_hex_in_kwargs": (
        "this value holds U+001B (ESC, which starts terminal escape sequences)",
        10,
    ),
    "escape_lrm_in_key": ("this value holds U+200E (LEFT-TO-RIGHT MARK, a bidi control)", 10),
    "escape_osc_title": ('near "A manifest.\\x1b]0;you have bee"', 4),
    "function_path_shell": ("should match pattern", 8),
    "hf_filename_absolute": ("the file name '/home/user/.ssh/id_ed25519' is absolute", 24),
    "hf_filename_climbs": ("the file name '../../../../tmp/x/id_rsa' has a `..`", 24),
    "hf_revision_path": (
        "the revision '../../../../../home/user/.bashrc' must be a commit sha",
        23,
    ),
    "huge_integer": ("integer of 5000 digits is too large", 20),
    "infinite_std": ("should be a finite number", 12),
    "kwargs_object_outside_dotted": ("$object must be a dotted path", 9),
    "latin1_bytes": ("not UTF-8 text (byte 108", 4),
    "long_name": ("at most 128 characters", 3),
    "many_aliases": ("40 aliases; a manifest may have at most 32", 5),
    "merge_key": ("merge keys (<<) are not allowed", 14),
    "nan_metric": ("should be a finite number", 20),
    "nul_byte": ("unacceptable character U+0000", 4),
    "null_name": ("valid string", 3),
    "omap_tag": ("tag not allowed: '!!omap'", 20),
    "python_module": ("tag not allowed: '!!python/module:shutil'", 8),
    "python_name": ("tag not allowed: '!!python/name:os.system'", 8),
    "python_object_apply": ("tag not allowed: '!!python/object/apply:os.system'", 4),
    "python_object_new": ("tag not allowed: '!!python/object/new:subprocess.Popen'", 4),
    "set_tag": ("tag not allowed: '!!set'", 20),
    "sha256_unquoted": ("read this sha256 as a number; put it in quotes", 22),
    "tab_indentation": ("tab character", 15),
    "top_level_list": ("this file is a list", None),
    "two_documents": ("expected a single document", 20),
    "unclosed_flow": ("flow sequence", 21),
    "unknown_key": ("unknown key", 20),
    "url_file_scheme": ("should match pattern '^https?://", 21),
    "utf16_be_bom": ("UTF-16 byte-order mark: save it as UTF-8", 1),
    "utf16_le_bom": ("UTF-16 byte-order mark: save it as UTF-8", 1),
    "utf16_no_bom": ("looks like UTF-16 or UTF-32", 1),
    "utf32_bom": ("UTF-32 byte-order mark", 1),
    "wrapper_type_pickle": ("unknown wrapper type 'pickle'", 7),
}
FILES = sorted(CORPUS.glob("*.yaml"))


def test_the_corpus_is_complete() -> None:
    assert len(FILES) >= 30
    assert {f.stem for f in FILES} == set(EXPECTED)


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.stem)
def test_refused_with_file_line_and_reason(file: Path) -> None:
    text, line = EXPECTED[file.stem]
    with pytest.raises(ManifestError) as info:
        read_manifest(file)
    problem = info.value.problems[0]
    assert problem.file == str(file)
    assert problem.severity == "error"
    assert text in problem.message
    assert problem.line == line
    assert (problem.column is None) == (line is None)
    assert "\n" not in problem.message


def test_a_python_tag_never_runs(tmp_path: Path) -> None:
    # The corpus file's payload touches a file; pointed into tmp_path, it must never appear.
    canary = tmp_path / "pwned"
    text = (CORPUS / "python_object_apply.yaml").read_text()
    assert "touch /tmp/zoo-pwned" in text
    file = tmp_path / "hostile" / "python_object_apply.yaml"
    file.parent.mkdir()
    file.write_text(text.replace("/tmp/zoo-pwned", str(canary)))
    with pytest.raises(ManifestError, match="tag not allowed"):
        read_manifest(file)
    assert not canary.exists()


@pytest.mark.parametrize("file", FILES, ids=lambda f: f.stem)
def test_zoo_validate_exits_1_without_a_traceback(file: Path, run_cli: Any) -> None:
    code, out, err = run_cli("validate", file)
    assert code == 1
    assert "Traceback" not in out + err
    line = EXPECTED[file.stem][1]
    where = f"{file}:{line}:" if line is not None else f"{file}:"
    assert any(row.startswith(where) and "[error]" in row for row in out.splitlines()), out


def test_the_30k_nesting_in_a_fresh_interpreter() -> None:
    # A crash in libyaml would take the interpreter down: run the real CLI in a child.
    file = CORPUS / "deep_30k_brackets.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", "validate", str(file), "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "nested too deeply" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_file_over_the_size_limit(tmp_path: Path, run_cli: Any) -> None:
    file = tmp_path / "hostile" / "huge.yaml"
    file.parent.mkdir()
    file.write_bytes(b"description: " + b"x" * MAX_BYTES + b"\n")
    code, out, err = run_cli("validate", file)
    assert code == 1
    assert f"a manifest may have at most {MAX_BYTES}" in out
    assert "Traceback" not in out + err


# -- refused at load time ---------------------------------------------------------------------


@pytest.mark.parametrize("file", sorted((CORPUS / "load").glob("*.yaml")), ids=lambda f: f.stem)
def test_path_climbing_out_of_the_catalogue_is_refused(
    file: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    with pytest.raises(WeightsNotAvailableError, match="escapes the catalogue root"):
        fetch(read_manifest(file))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(file.parent))
    code, out, err = run_cli("pull", f"load/{file.stem}")
    assert code == 1
    assert out == ""
    assert "escapes the catalogue root" in err
    assert "Traceback" not in err
    # `zoo validate` refuses it before anyone loads it.
    code, out, err = run_cli("validate", str(file))
    assert code == 1
    assert "checkpoint.path: a relative path must stay inside the catalogue root" in out + err


def test_symlink_out_of_the_catalogue_is_refused(tmp_path: Path, run_cli: Any) -> None:

    secret = tmp_path / "outside" / "secret.safetensors"
    secret.parent.mkdir()
    secret.write_bytes(b"not yours")
    root = tmp_path / "cat"
    (root / "load").mkdir(parents=True)
    (root / "load" / "weights.safetensors").symlink_to(secret)
    text = (CORPUS / "load" / "path_traversal.yaml").read_text()
    text = text.replace("../../../../../../etc/passwd", "weights.safetensors")
    (root / "load" / "symlink.yaml").write_text(text.replace("load/path_traversal", "load/symlink"))
    with pytest.raises(WeightsNotAvailableError, match="escapes the catalogue root"):
        fetch(read_manifest(root / "load" / "symlink.yaml"))
    code, out, err = run_cli("validate", str(root / "load" / "symlink.yaml"))
    assert code == 1
    assert "must stay inside the catalogue root" in out + err
    # An absolute path is the user's explicit choice and is allowed.
    (root / "load" / "symlink.yaml").write_text(
        text.replace("weights.safetensors", str(secret)).replace(
            "load/path_traversal", "load/symlink"
        )
    )
    assert fetch(read_manifest(root / "load" / "symlink.yaml")) == secret


# -- fuzzing ----------------------------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_VALID: dict[str, Any] = yaml.safe_load((CORPUS / "unknown_key.yaml").read_text())
_VALID.pop("postinstall")
_VALID["name"] = "hostile/fuzz"
_FIELDS = [*_VALID, "checkpoint", "metrics", "tags", "precision", "paper", "gated"]


def _parsed(raw: bytes) -> None:
    """A valid manifest or a ManifestError naming the file; anything else fails the test."""
    problems = []
    try:
        parse_manifest(raw, "hostile/fuzz.yaml")
    except ManifestError as exc:
        problems = exc.problems or [None]
    assert all(p is not None and p.file == "hostile/fuzz.yaml" for p in problems)


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.sampled_from(_FIELDS), _TREES)
def test_any_value_in_any_field_is_a_manifest_or_a_manifest_error(field: str, value: Any) -> None:
    data = {**_VALID, field: value}
    _parsed(yaml.safe_dump(data, allow_unicode=True).encode())


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.binary(max_size=200), st.integers(0, 600))
def test_bytes_spliced_into_a_valid_manifest(junk: bytes, at: int) -> None:
    raw = yaml.safe_dump(_VALID).encode()
    _parsed(raw[:at] + junk + raw[at:])


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_arbitrary_text(text: str) -> None:
    _parsed(text.encode("utf-8"))
