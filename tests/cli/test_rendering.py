"""Readable in any terminal: names whole at 60, 80 and 200 columns; no escape codes with NO_COLOR."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from tests.conftest import REPO_ROOT, CliRunner, catalog_names
from zoo.cli import _layout
from zoo.cli._output import human_count

#: `zoo doctor` on the bundled catalogue locates timm tags' weights: it reads zoo's index of
#: timm's registry.
pytestmark = pytest.mark.usefixtures("with_timm_index")

WIDTHS = [60, 80, 200]
NAMES = catalog_names()
LONGEST = max(NAMES, key=len)


def _check_lines(out: str, width: int) -> list[str]:
    """Every line fits the width, unless it is one word that cannot be cut (a name, a path)."""
    lines = out.splitlines()
    for line in lines:
        assert len(line) <= width or len(line.split()) == 1, f"{len(line)} > {width}: {line!r}"
    return lines


def _whole(name: str, lines: list[str]) -> bool:
    """The name is a word of some line (not cut, not wrapped, not followed by an ellipsis)."""
    return any(name in line.split() for line in lines)


# -- the layout itself -----------------------------------------------------------------------------

ROWS = [
    ["pathology/kaiko_vits16", "timm", "384", "CC-BY-NC-ND-4.0", "no"],
    ["universal/eva02_large_patch14_448.mim_m38m_ft_in22k_in1k", "timm", "1024", "MIT", "no"],
    ["x/y", "transformers", "3072", "a licence with many words in it", "yes"],
]
HEADERS = ["name", "wrapper", "dim", "license", "gated"]


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_layout_keeps_names_whole_at_any_width(width: int) -> None:
    laid = _layout.table(ROWS, HEADERS, width, optional=[1], prose=[3])
    lines = _check_lines("\n".join([laid.header or "", *laid.lines]), width)
    for row in ROWS:
        assert _whole(row[0], lines)
        assert any(row[2] in line.split() for line in lines)  # and the dims, whole too


def test_layout_chooses_table_drop_or_stack_by_width() -> None:
    wide = _layout.table(ROWS, HEADERS, 200, optional=[1], prose=[3])
    assert not wide.stacked
    assert wide.dropped == []
    assert wide.lines[1].startswith(
        "universal/eva02_large_patch14_448.mim_m38m_ft_in22k_in1k  timm"
    )
    middle = _layout.table(ROWS, HEADERS, 70, optional=[1], prose=[3])
    assert not middle.stacked
    assert middle.dropped == ["wrapper"]
    assert middle.lines[1] == ROWS[1][0]  # a long name takes a line of its own...
    assert middle.lines[2].split() == ["1024", "MIT", "no"]  # ...and its row follows
    narrow = _layout.table(ROWS, HEADERS, 40, optional=[1], prose=[3])
    assert narrow.stacked
    assert narrow.header is None
    assert narrow.lines[:2] == [ROWS[0][0], "  wrapper: timm  dim: 384"]


def test_numbers_are_right_aligned_and_prose_wraps_at_spaces() -> None:
    laid = _layout.table(ROWS, HEADERS, 70, optional=[1], prose=[3])
    dims = next(line for line in laid.lines if "384" in line.split())
    three = next(line for line in laid.lines if "3072" in line.split())
    assert dims.index("384") + 3 == three.index("3072") + 4
    assert "a licence with" in "\n".join(laid.lines)
    assert "words in it" in "\n".join(laid.lines)


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1.0K"),
        (21_665_664, "21.7M"),
        (304_140_000, "304.1M"),
        (1_136_000_000, "1.1B"),
    ],
)
def test_parameter_counts_read_as_people_read_them(n: int, shown: str) -> None:
    assert human_count(n) == shown


# -- the commands, on the bundled catalogue ----------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_list_keeps_every_name_whole(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = run_cli("list")
    assert code == 0, err
    lines = _check_lines(out, width)
    assert all(_whole(name, lines) for name in NAMES)
    assert "…" not in out
    assert "..." not in out
    catalog = zoo.Catalog()
    for dim in {str(catalog.get(n).output.embedding_dim) for n in NAMES}:
        assert re.search(rf"(^|[\s:]){dim}(\s|$)", out), dim  # dims are never cut either
    if width == 200:
        assert err == ""
        assert out.splitlines()[0].split() == [
            "name",
            "kind",
            "wrapper",
            "weights",
            "dim",
            "input",
            "mpp",
            "license",
            "gated",
        ]


@pytest.mark.parametrize("width", WIDTHS)
def test_doctor_keeps_every_name_whole(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = run_cli("doctor")
    assert code == 0, err
    lines = _check_lines(out, width)
    assert all(_whole(name, lines) for name in NAMES)
    assert "gated: request access on the Hub, then set HF_TOKEN" in " ".join(out.split())


@pytest.mark.parametrize("width", WIDTHS)
def test_show_keeps_the_name_whole(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = run_cli("show", LONGEST)
    assert code == 0, err
    lines = _check_lines(out, width)
    assert lines[0] == LONGEST
    assert _whole(LONGEST, lines[1:])  # in the identity section too
    assert str(zoo.Catalog().get(LONGEST).file) in out.split()  # the file path, whole


def test_list_json_carries_the_output_contract(run_cli: CliRunner) -> None:
    code, out, _ = run_cli("list", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    kaiko = rows["pathology/kaiko_vits16"]
    manifest = zoo.Catalog().get("pathology/kaiko_vits16")
    assert kaiko["pooling"] == manifest.output.pooling
    assert kaiko["prefix_tokens"] == manifest.output.prefix_tokens
    assert kaiko["patch_size"] == 16
    assert kaiko["input_size"] == [224, 224]


def test_load_prints_parameters_in_millions(run_cli: CliRunner) -> None:
    code, out, err = run_cli("load", "universal/vit_tiny_patch16_224_random", "--random-init")
    assert code == 0, err
    assert re.search(r"parameters\s+5\.5M", out), out
    code, out, _ = run_cli(
        "load", "universal/vit_tiny_patch16_224_random", "--random-init", "--json"
    )
    assert json.loads(out)["parameters"] == 5_524_416  # scripts keep the exact count


# -- NO_COLOR, checked on the raw bytes a terminal receives ---------------------------------------


def _in_a_terminal(argv: list[str], **env: str) -> bytes:
    primary, secondary = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    environ.update(env, TERM="xterm-256color", PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", *argv],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=environ,
        close_fds=True,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the program ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(primary)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks)


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv", [["list"], ["show", "pathology/kaiko_vits16"], ["doctor"]], ids=" ".join
)
def test_no_color_means_no_escape_codes(
    argv: list[str], tmp_path: Path, with_timm_index: Path | None
) -> None:
    for home in ("a", "b"):  # each starts with timm's index, as the test's own ZOO_HOME does
        if with_timm_index is not None:
            (tmp_path / home / "index").mkdir(parents=True)
            (tmp_path / home / "index" / with_timm_index.name).symlink_to(with_timm_index)
    styled = _in_a_terminal(argv, ZOO_HOME=str(tmp_path / "a"))
    assert b"\x1b[" in styled  # in a terminal, without NO_COLOR, headings are bold...
    plain = _in_a_terminal(argv, NO_COLOR="1", ZOO_HOME=str(tmp_path / "b"))
    assert b"\x1b" not in plain  # ...and with it, not a single escape code
    assert b"pathology/kaiko_vits16" in plain
