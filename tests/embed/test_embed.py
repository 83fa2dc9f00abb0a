"""``zoo embed`` end to end: the rows are the model's, with provenance; streams and messages;
two processes equal one; a run killed mid-way resumes to the same result."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import zoo
from tests.embed.conftest import (
    BAD,
    QUICK,
    direct,
    embed,
    embed_command,
    rows,
    run_process,
    summary,
    write_images,
)
from tests.process_kit import child
from zoo.embed.images import collect_images
from zoo.errors import UsageError


def good_files(folder: Path) -> dict[str, Path]:
    found = collect_images([folder])
    return {found.key(i): found.file(i) for i in range(len(found)) if found.key(i) != BAD}


def test_embed_one_process(run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(
        "embed", manifest_file, images, "--out", out, "--batch", "4", "--workers", "0",
        "--accelerator", "cpu", "--shard-size", "4", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    result = summary(stdout)  # the progress bar went to stderr: stdout is one JSON document
    assert "Predicting" in stderr
    assert (result["embedded"], result["skipped"], result["computed"]) == (10, 1, 10)
    assert result["shapes"] == [[24]]
    assert result["shards"] == 3  # 11 images in blocks of 4
    # the unreadable image is named on stderr, as it happens and in the closing count
    assert f"skipped {BAD}: UnidentifiedImageError" in stderr
    assert f"1 of 11 images could not be read or embedded and were skipped: {BAD}" in stderr

    keys, levels = rows(out)
    files = good_files(images)
    assert keys == sorted(files)
    want = direct(manifest_file, files)
    for row, key in enumerate(keys):
        torch.testing.assert_close(levels["embedding"][row], want[key][0], rtol=1e-4, atol=1e-5)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["index.json", "provenance.json", "shards", "zoo-embed.json"]

    prov = json.loads((out / "provenance.json").read_text())
    weights = manifest_file.parent / "tiny.safetensors"
    assert prov["model"]["name"] == "testing/tiny"
    assert (
        prov["model"]["manifest_sha256"] == hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    )
    assert prov["model"]["manifest_file"] == str(manifest_file)
    assert prov["model"]["pretrained"] is True
    assert prov["weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (prov["weights"]["source"], prov["weights"]["field"]) == ("path", "checkpoint.path")
    assert prov["preprocessing"]["size"] == [32, 32]
    assert "EvalTransform" in prov["preprocessing"]["transform"]
    assert prov["output"]["kind"] == "embedding"
    assert prov["output"]["levels"] == [{"name": "embedding", "shape": [24]}]
    assert prov["precision"] == "32-true"
    assert [s["world_size"] for s in prov["sessions"]] == [1]
    assert prov["images"]["count"] == 11
    assert prov["images"]["sources"] == [str(images)]
    assert [s["path"] for s in prov["images"]["skipped"]] == [BAD]
    assert {"zoo", "torch", "timm", "lightning"} <= set(prov["versions"])
    assert prov["created"].endswith("+00:00")

    record = json.loads((out / "zoo-embed.json").read_text())
    assert record["complete"] is True
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(record["files"]) == written - {"zoo-embed.json"}
    for name, info in record["files"].items():
        data = (out / name).read_bytes()
        assert info == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    # the same command again: nothing left to do
    code, stdout, stderr = run_cli(
        "embed", manifest_file, images, "--out", out, *QUICK, "--shard-size", "4", "--json"
    )
    assert code == 0, stderr
    again = summary(stdout)
    assert (again["computed"], again["reused"], again["embedded"]) == (0, 10, 10)
    assert rows(out)[0] == keys


def test_embed_feature_maps_parquet(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    code, _, stderr = embed(
        run_cli, manifest_file, [images], out, "--out-indices", "(-1, 0)", "--format", "parquet",
        "--workers", "1", "--batch", "3",
    )  # fmt: skip
    assert code == 0, stderr
    files = good_files(images)
    keys, levels = rows(out)
    assert keys == sorted(files)
    assert sorted(levels) == ["feature_0", "feature_1"]
    assert levels["feature_0"].shape == (10, 24, 4, 4)
    want = direct(manifest_file, files, out_indices=(-1, 0))
    for row, key in enumerate(keys):
        for level in range(2):
            got = levels[f"feature_{level}"][row]
            torch.testing.assert_close(got, want[key][level], rtol=1e-4, atol=1e-5)
    # pyarrow alone reads it too
    index = json.loads((out / "index.json").read_text())
    table = pq.read_table(out / index["shards"][0]["file"])
    assert table.column_names == ["key", "feature_0", "feature_1"]
    assert table.column("key").to_pylist() == keys[: table.num_rows]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["output"]["kind"] == "feature_maps"
    assert prov["output"]["out_indices"] == [-1, 0]


def test_list_file_with_missing_images(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("images/img1.png\n# a comment\nimages/gone.png\nimages/sub/img0.png\n")
    out = tmp_path / "out"
    code, stdout, stderr = embed(run_cli, manifest_file, [listing], out)
    assert code == 2  # a usage error
    assert "1 listed image(s) do not exist" in stderr
    assert "images/gone.png" in stderr
    assert "--skip-missing" in stderr
    assert stdout == ""
    assert not out.exists()
    code, stdout, stderr = embed(run_cli, manifest_file, [listing], out, "--skip-missing", "--json")
    assert code == 0, stderr
    result = summary(stdout)
    assert (result["embedded"], result["skipped"]) == (2, 1)
    assert "images/gone.png (FileNotFoundError" in stderr
    assert rows(out)[0] == ["images/img1.png", "images/sub/img0.png"]
    prov = json.loads((out / "provenance.json").read_text())
    assert [s["path"] for s in prov["images"]["skipped"]] == ["images/gone.png"]


def test_embed_usage_errors(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    code, _, stderr = run_cli("embed", manifest_file, tmp_path / "nowhere", "--out", tmp_path / "o")
    assert code == 2
    assert "no such folder or list file" in stderr
    (tmp_path / "file").write_text("x")
    code, _, stderr = run_cli("embed", manifest_file, images, "--out", tmp_path / "file")
    assert code == 2  # a usage error, caught by click
    assert "is a file" in stderr
    code, _, stderr = run_cli(
        "embed", manifest_file, images, "--out", tmp_path / "o", "--out-indices", "x"
    )
    assert code == 2
    assert "out_indices" in stderr
    code, _, stderr = run_cli(
        "embed", manifest_file, images, "--out", tmp_path / "o", "--precision", "fp8"
    )
    assert code == 2
    assert "--precision 'fp8'" in stderr
    code, _, stderr = run_cli("embed", manifest_file, images, "--out", images.parent, "--overwrite")
    assert code == 2
    assert "files zoo did not write" in stderr
    code, _, stderr = run_cli("embed", "testing/nope", images, "--out", tmp_path / "o")
    assert code == 1
    assert "no model named" in stderr
    assert not (tmp_path / "o").exists()
    from zoo.embed.runner import EmbedConfig, run

    with pytest.raises(UsageError, match="--shard-size 0: must be at least 1"):
        run(EmbedConfig(str(manifest_file), [str(images)], tmp_path / "o", shard_size=0))
    with pytest.raises(UsageError, match="--format 'csv'"):
        run(EmbedConfig(str(manifest_file), [str(images)], tmp_path / "o", fmt="csv"))


# -- several processes ---------------------------------------------------------------------------


@pytest.mark.slow
def test_two_cpu_processes_equal_one(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    """Two DDP processes (gloo) write their own shards; the result equals one process row for
    row, and stdout holds only rank 0's JSON even with the progress bar on. All the images fit
    in one shard (the default size): the work is still cut in two, one block per process (it
    was all given to rank 0, and rank 1 crashed: "DataLoader within local rank has zero
    length", then gloo errors)."""
    one, two = tmp_path / "one", tmp_path / "two"
    code, _, stderr = embed(
        run_cli, manifest_file, [images], one, "--batch", "2", "--shard-size", "2"
    )
    assert code == 0, stderr
    command = embed_command(manifest_file, [images], two, "--batch", "3")
    command.remove("--no-progress")
    done = run_process([*command, "--devices", "2", "--json"])
    assert done.returncode == 0, done.stderr[-3000:]
    result = summary(done.stdout)  # printed once, by rank 0
    assert result["world_size"] == 2
    assert result["embedded"] == 10
    records = [json.loads(p.read_text()) for p in (two / "shards").glob("*.json")]
    assert sorted((r["start"], r["end"], r["rank"]) for r in records) == [(0, 5, 0), (5, 11, 1)]
    keys_one, levels_one = rows(one)
    keys_two, levels_two = rows(two)
    assert keys_two == keys_one
    assert torch.equal(levels_two["embedding"], levels_one["embedding"])
    prov = json.loads((two / "provenance.json").read_text())
    assert prov["sessions"][0]["world_size"] == 2
    assert [s["path"] for s in prov["images"]["skipped"]] == [BAD]


@pytest.mark.slow
def test_a_process_with_nothing_to_do(run_cli: Any, manifest_file: Path, tmp_path: Path) -> None:
    """One image, two processes: the other process has no block and the run ends as one
    process's would (it crashed: "DataLoader within local rank has zero length")."""
    folder = tmp_path / "tiles"
    write_images(folder, 1)
    one, two = tmp_path / "one", tmp_path / "two"
    code, _, stderr = embed(run_cli, manifest_file, [folder], one)
    assert code == 0, stderr
    done = run_process([*embed_command(manifest_file, [folder], two), "--devices", "2", "--json"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    result = summary(done.stdout)
    assert (result["world_size"], result["embedded"]) == (2, 1)
    records = [json.loads(p.read_text()) for p in (two / "shards").glob("*.json")]
    assert [r["rank"] for r in records] == [0]
    assert rows(two)[0] == rows(one)[0] == ["img000.png"]
    assert torch.equal(rows(two)[1]["embedding"], rows(one)[1]["embedding"])


# -- killed mid-way, resumed ---------------------------------------------------------------------

FIFO_AT = 10  # the 11th of 16 images is a named pipe: reading it blocks until the test says


def wait_blocked_on(fifo: Path, proc: subprocess.Popen[str], timeout: float = 240) -> int:
    """Wait until the process opens the pipe to read, i.e. has embedded everything before it;
    returns the pipe's write end, held open so that the process then waits in read()."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"zoo embed exited early: {proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: no reader yet
            if exc.errno != errno.ENXIO:
                raise
        time.sleep(0.05)
    raise AssertionError("zoo embed never reached the pipe")


def covered(out: Path) -> list[tuple[int, int]]:
    records = [json.loads(p.read_text()) for p in (out / "shards").glob("*.json")]
    return sorted((r["start"], r["end"]) for r in records)


@pytest.mark.slow
@pytest.mark.parametrize(
    "how", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["SIGKILL", "SIGINT", "SIGTERM"]
)
def test_killed_run_resumes(
    run_cli: Any, manifest_file: Path, tmp_path: Path, how: signal.Signals
) -> None:
    folder = tmp_path / "tiles"
    files = write_images(folder, 16)
    files[FIFO_AT].unlink()
    os.mkfifo(files[FIFO_AT])
    listing = tmp_path / "tiles.txt"
    listing.write_text("".join(f"tiles/{f.name}\n" for f in files))
    out = tmp_path / "out"
    args = ("--batch", "2", "--shard-size", "4")

    # SIGINT and SIGTERM at their defaults in the child, whatever the test run ignores
    with child(embed_command(manifest_file, [listing], out, *args)) as proc:
        writer = wait_blocked_on(files[FIFO_AT], proc)
        before = covered(out)
        proc.send_signal(how)
        stdout, stderr = proc.communicate(timeout=120)
        os.close(writer)
    after = covered(out)
    # Blocked on image 10 (batches of 2, shards of 4): images 0..7 are in two shards, the
    # rows of 8 and 9 are in memory.
    assert before == [(0, 4), (4, 8)]
    if how == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert after == before  # rows 8 and 9 were in memory only
    else:  # Ctrl-C, or SIGTERM as a batch scheduler sends before it kills: stopped alike
        assert proc.returncode == 128 + how, stderr[-3000:]
        said = "interrupted" if how == signal.SIGINT else "stopped by SIGTERM"
        assert f"{said}: 10 of 16 images are done and saved" in stderr
        assert "Run the same command again to embed the other 6" in stderr
        assert "Traceback" not in stderr
        assert after == [*before, (8, 10)]  # it saved the rows it had
        assert stdout == ""
    done = after[-1][1]

    files[FIFO_AT].unlink()
    write_images(folder / "again", FIFO_AT + 1)[FIFO_AT].rename(files[FIFO_AT])
    code, stdout, stderr = embed(run_cli, manifest_file, [listing], out, *args, "--json")
    assert code == 0, stderr
    resumed = summary(stdout)
    assert f"resuming: {done} of 16 images are already done" in stderr
    assert (resumed["reused"], resumed["computed"], resumed["embedded"]) == (done, 16 - done, 16)
    session = json.loads((out / "provenance.json").read_text())["sessions"][-1]
    assert (session["images_done_before"], session["images"]) == (done, 16 - done)

    fresh = tmp_path / "fresh"
    code, _, stderr = embed(run_cli, manifest_file, [listing], fresh, *args)
    assert code == 0, stderr
    keys, levels = rows(out)
    assert keys == rows(fresh)[0] == [f"tiles/{f.name}" for f in files]
    assert torch.equal(levels["embedding"], rows(fresh)[1]["embedding"])
    assert len(zoo.read_embeddings(out).shards) == len(covered(out))
