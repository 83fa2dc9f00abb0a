"""``zoo embed --out``: a symbolic link zoo did not create is never written through or deleted,
``--overwrite`` deletes only the files ``zoo-embed.json`` records, and a folder it cannot write
(a parent that is a file, a full disk) is one line, not a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.embed.conftest import embed, tree
from tests.offline_kit import tmpfs

LAST = f"{8:012d}-{11:012d}"


@pytest.fixture
def crashed(run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path) -> Path:
    """An output folder whose last shard was not committed (a crash): the same command resumes."""
    out = tmp_path / "out"
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--shard-size", "4")
    assert code == 0, stderr
    (out / "shards" / f"{LAST}.json").unlink()
    (out / "shards" / f"{LAST}.safetensors").unlink()
    return out


@pytest.mark.parametrize(
    "planted", ["index.json.tmp", "zoo-embed.json.tmp", f"shards/{LAST}.safetensors.tmp",
                f"shards/{LAST}.json", "provenance.json"],
)  # fmt: skip
def test_resume_never_writes_through_a_planted_link(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path, crashed: Path, planted: str
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file\n")
    (crashed / planted).unlink(missing_ok=True)
    (crashed / planted).symlink_to(victim)
    code, stdout, stderr = embed(
        run_cli, manifest_file, [images], crashed, "--shard-size", "4", "--json"
    )
    assert code == 2, stderr
    assert "where zoo writes its own files" in stderr
    assert planted in stderr
    assert "Traceback" not in stderr
    assert stdout == ""
    assert victim.read_text() == "the user's file\n"
    assert (crashed / planted).is_symlink()  # not deleted or replaced either


def test_a_shards_link_out_of_the_folder_is_refused(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path, crashed: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (crashed / "shards").rename(elsewhere)
    (crashed / "shards").symlink_to(elsewhere)
    before = tree(elsewhere)
    for extra in ([], ["--overwrite"]):
        code, _, stderr = embed(
            run_cli, manifest_file, [images], crashed, "--shard-size", "4", *extra
        )
        assert code == 2, stderr
        assert "shards where zoo writes its own files" in stderr
        assert tree(elsewhere) == before
        assert (crashed / "shards").is_symlink()


def test_overwrite_deletes_only_the_files_the_record_holds(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--shard-size", "4")
    assert code == 0, stderr
    lookalike = out / "shards" / f"{0:012d}-{2:012d}.safetensors"  # named as zoo names shards
    lookalike.write_bytes(b"someone else's data")
    before = tree(out)
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--overwrite")
    assert code == 2
    assert f"shards/{lookalike.name}" in stderr
    assert tree(out) == before
    lookalike.unlink()
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--overwrite")
    assert code == 0, stderr


def test_an_interrupted_run_records_its_shards_before_writing_them(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path, crashed: Path
) -> None:
    record = json.loads((crashed / "zoo-embed.json").read_text())
    record["complete"], record["files"] = False, {}
    record["sessions"][-1]["images_pending"] = [[0, 11]]
    (crashed / "zoo-embed.json").write_text(json.dumps(record))
    foreign = crashed / "shards" / f"{11:012d}-{12:012d}.json"  # not among the images recorded
    foreign.write_text("{}")
    code, _, stderr = embed(run_cli, manifest_file, [images], crashed, "--overwrite")
    assert code == 2
    assert foreign.name in stderr
    foreign.unlink()
    code, _, stderr = embed(run_cli, manifest_file, [images], crashed, "--shard-size", "4")
    assert code == 0, stderr
    sessions = json.loads((crashed / "zoo-embed.json").read_text())["sessions"]
    assert sessions[-1]["images_pending"] == [[8, 11]]


def test_out_below_a_file_is_one_line(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x")
    code, _, stderr = embed(run_cli, manifest_file, [images], tmp_path / "afile" / "sub")
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        f"error: --out {tmp_path / 'afile' / 'sub'}: {tmp_path / 'afile'} is a file, not a folder"
    )


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 96 KiB file system (tmpfs; needs root, skipped otherwise)."""
    with tmpfs(tmp_path / "disk", "size=96k") as mount:
        yield mount


def test_a_full_disk_is_one_line(
    run_cli: Any, manifest_file: Path, images: Path, tiny_disk: Path
) -> None:
    (tiny_disk / "ballast").write_bytes(os.urandom(60 << 10))
    out = tiny_disk / "out"
    code, stdout, stderr = embed(run_cli, manifest_file, [images], out, "--shard-size", "1")
    assert code == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write {out}")
    assert "the disk is full" in last
    assert "Traceback" not in stderr
    assert stdout == ""


@pytest.fixture
def read_only(tmp_path: Path) -> Any:
    """An empty read-only file system (a tmpfs mounted ro; needs root, skipped otherwise)."""
    with tmpfs(tmp_path / "ro", "ro,size=64k") as mount:
        yield mount


def test_a_read_only_zoo_home_or_out_is_one_line(
    run_cli: Any,
    manifest_file: Path,
    images: Path,
    tmp_path: Path,
    read_only: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOO_HOME", str(read_only / "home"))
    code, _, stderr = embed(run_cli, manifest_file, [images], tmp_path / "out")
    assert code == 0, stderr  # zoo's bookkeeping is a cache: a read-only home costs a re-hash
    code, stdout, stderr = embed(run_cli, manifest_file, [images], read_only / "out")
    assert code == 1
    assert stderr.strip().splitlines() == [
        f"error: cannot write {read_only / 'out'}: the file system is read-only; choose a "
        "writable folder"
    ]
    assert stdout == ""
