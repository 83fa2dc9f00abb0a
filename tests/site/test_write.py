"""The site folder: zoo replaces or deletes only files it wrote itself (its ledger says which)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from zoo.atomic import OutputWriteError
from zoo.errors import SiteOutputError
from zoo.site import LEDGER
from zoo.site._write import write_site


def test_a_non_empty_folder_zoo_did_not_write_is_refused(
    site_env: Path, tmp_path: Path, run_cli: CliRunner
) -> None:
    out = tmp_path / "docs"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    code, stdout, stderr = run_cli("site", "--out", out)
    assert code == 1
    assert stdout == ""
    assert "is not empty and holds no site written by `zoo site`" in stderr
    assert "choose a new or empty folder" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]


def test_out_may_not_be_a_file(site_env: Path, tmp_path: Path, run_cli: CliRunner) -> None:
    out = tmp_path / "site.html"
    out.write_text("x")
    code, _, stderr = run_cli("site", "--out", out)
    assert code == 1
    assert "is a file, not a folder" in stderr


def test_regeneration_updates_removes_stale_pages_and_keeps_other_files(
    site_env: Path, tmp_path: Path, run_cli: CliRunner
) -> None:
    out = tmp_path / "site"
    assert run_cli("site", "--out", out)[0] == 0
    (out / "CNAME").write_text("zoo.example.org\n")  # the user's own file, e.g. for Pages
    (site_env / "other" / "resnet_fn.yaml").unlink()
    (site_env / "other" / "hostile.yaml").unlink()
    code, stdout, _ = run_cli("site", "--out", out, "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["removed"] == [
        "models/other/hostile.html",
        "models/other/hostile.yaml",
        "models/other/resnet_fn.html",
        "models/other/resnet_fn.yaml",
    ]
    assert not (out / "models" / "other").exists()  # left empty, so removed
    assert (out / "CNAME").read_text() == "zoo.example.org\n"
    assert summary["written"] == 1  # only the index changed
    ledger = json.loads((out / LEDGER).read_text())
    assert "CNAME" not in ledger["files"]
    assert "models/other/hostile.html" not in ledger["files"]


def test_a_file_in_the_way_that_zoo_did_not_write_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(out, {"index.html": b"1"})
    (out / "models").mkdir()
    (out / "models" / "page.html").write_text("someone else's")
    with pytest.raises(SiteOutputError, match="exists and was not written by `zoo site`"):
        write_site(out, {"index.html": b"2", "models/page.html": b"zoo's"})
    assert (out / "models" / "page.html").read_text() == "someone else's"
    assert (out / "index.html").read_text() == "1"  # nothing written before the refusal


@pytest.mark.parametrize("entry", ["../outside.txt", "/etc/passwd", "a/../../b", "./x"])
def test_a_ledger_entry_outside_the_folder_is_refused(tmp_path: Path, entry: str) -> None:
    out = tmp_path / "site"
    write_site(out, {"index.html": b"1"})
    victim = tmp_path / "outside.txt"
    victim.write_text("keep")
    (out / LEDGER).write_text(json.dumps({"format": 1, "files": ["index.html", entry]}))
    with pytest.raises(SiteOutputError, match="not a plain relative path"):
        write_site(out, {"index.html": b"1"})
    assert victim.read_text() == "keep"


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(out, {"index.html": b"1"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "models").symlink_to(elsewhere)
    with pytest.raises(SiteOutputError, match="resolves outside the site folder"):
        write_site(out, {"index.html": b"1", "models/a.html": b"x"})
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("ledger", ["not json", '{"format": 99, "files": []}', '{"files": [1]}'])
def test_an_unreadable_ledger_is_refused(tmp_path: Path, ledger: str) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / LEDGER).write_text(ledger)
    (out / "index.html").write_text("?")
    with pytest.raises(SiteOutputError, match="cannot read this ledger"):
        write_site(out, {"index.html": b"1"})
    assert (out / "index.html").read_text() == "?"


def test_unchanged_files_are_not_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(out, {"a.html": b"1", "b.html": b"2"})
    before = (out / "a.html").stat().st_mtime_ns
    report = write_site(out, {"a.html": b"1", "b.html": b"3"})
    assert report.unchanged == ["a.html"]
    assert report.written == ["b.html"]
    assert (out / "a.html").stat().st_mtime_ns == before
    assert not list(out.rglob("*.tmp"))


def test_the_error_is_a_file_exists_error() -> None:
    assert issubclass(SiteOutputError, FileExistsError)


@pytest.mark.parametrize("planted", [".index.html.tmp", LEDGER, "index.html", "models/a.html"])
def test_a_planted_link_is_never_written_through(tmp_path: Path, planted: str) -> None:
    """A link zoo did not create, in the folder (even pointing inside it), is refused and kept."""
    out = tmp_path / "site"
    write_site(out, {"index.html": b"1", "models/a.html": b"a"})
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file\n")
    (out / planted).unlink(missing_ok=True)
    (out / planted).symlink_to(victim)
    if planted.endswith(".tmp"):  # zoo's temporary files have new names: it is left alone
        write_site(out, {"index.html": b"2", "models/a.html": b"b"})
        assert (out / "index.html").read_text() == "2"
    else:
        with pytest.raises((SiteOutputError, OutputWriteError), match="link"):
            write_site(out, {"index.html": b"2", "models/a.html": b"b"})
    assert victim.read_text() == "the user's file\n"
    assert (out / planted).is_symlink()


def test_a_link_inside_the_folder_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(out, {"index.html": b"1", "a.html": b"a"})
    (out / "a.html").unlink()
    (out / "a.html").symlink_to(out / "index.html")
    with pytest.raises(SiteOutputError, match="is a symbolic link"):
        write_site(out, {"index.html": b"1", "a.html": b"b"})
    assert (out / "a.html").is_symlink()
    assert (out / "index.html").read_text() == "1"


def test_out_below_a_file_is_one_line(site_env: Path, tmp_path: Path, run_cli: CliRunner) -> None:
    (tmp_path / "afile").write_text("x")
    code, _, stderr = run_cli("site", "--out", tmp_path / "afile" / "sub")
    assert code == 1
    assert stderr.startswith(
        f"error: cannot write {tmp_path / 'afile' / 'sub'}: a part of the path"
    )
    assert len(stderr.strip().splitlines()) == 1
