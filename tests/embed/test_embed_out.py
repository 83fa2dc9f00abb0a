"""``zoo embed`` never touches what it did not write: a project folder (``.git/``, ``thesis.tex``,
``src/``) survives every mode; ``--overwrite`` replaces only zoo's output; a resumed run must be
the same run; files respect the umask."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.embed.conftest import embed, rows, summary, tree

PROJECT = {
    ".git/HEAD": "ref: refs/heads/main\n",
    ".git/objects/ab/cdef0123": "blob\n",
    "thesis.tex": "\\documentclass{article}\n",
    "src/main.py": "print('hello')\n",
    "src/data/table.csv": "a,b\n1,2\n",
}


def write_project(folder: Path) -> Path:
    for name, text in PROJECT.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project folder: a git repository, a thesis, sources."""
    return write_project(tmp_path / "project")


def outside(snapshot: dict[str, str], prefix: str = "emb") -> dict[str, str]:
    return {k: v for k, v in snapshot.items() if k != prefix and not k.startswith(f"{prefix}/")}


def test_fresh_folder_inside_a_project(
    run_cli: Any, manifest_file: Path, images: Path, project: Path
) -> None:
    before = tree(project)
    code, _, stderr = embed(run_cli, manifest_file, [images], project / "emb")
    assert code == 0, stderr
    assert outside(tree(project)) == before


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_a_folder_zoo_did_not_write_is_refused(
    run_cli: Any, manifest_file: Path, images: Path, project: Path, overwrite: bool
) -> None:
    before = tree(project)
    extra = ["--overwrite"] if overwrite else []
    code, stdout, stderr = embed(run_cli, manifest_file, [images], project, *extra)
    assert code == 2
    assert f"--out {project} is not empty and holds files zoo did not write (.git/, src/" in stderr
    assert "never deletes or replaces other files, with --overwrite or without" in stderr
    assert stdout == ""
    assert tree(project) == before  # nothing written, nothing deleted


def test_overwrite_replaces_only_zoos_output(
    run_cli: Any, manifest_file: Path, images: Path, project: Path
) -> None:
    out = project / "emb"
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--shard-size", "2")
    assert code == 0, stderr
    first = tree(out)
    before = tree(project)

    # zoo's earlier output next to foreign files: refused, nothing touched
    write_project(out)
    with_foreign = tree(out)
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--overwrite")
    assert code == 2
    assert "holds zoo's earlier output but also files zoo did not write (.git/, src/" in stderr
    assert "--overwrite replaces only zoo's own files" in stderr
    assert tree(out) == with_foreign
    shutil.rmtree(out / ".git")
    shutil.rmtree(out / "src")
    (out / "thesis.tex").unlink()
    assert tree(out) == first

    # only zoo's output: replaced by the new run (other settings, shards of another size)
    code, stdout, stderr = embed(
        run_cli, manifest_file, [images], out, "--overwrite", "--random-init", "--seed", "3",
        "--shard-size", "4", "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert summary(stdout)["reused"] == 0
    shards = sorted(p.name for p in (out / "shards").iterdir())
    assert shards == [f"{a:012d}-{b:012d}.{ext}" for a, b in [(0, 4), (4, 8), (8, 11)]
                      for ext in ("json", "safetensors")]  # fmt: skip
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["weights"] == {"source": "none", "note": "random initialization"}
    assert prov["model"]["seed"] == 3
    assert outside(tree(project)) == outside(before)


def test_resume_leaves_other_files_alone(
    run_cli: Any, manifest_file: Path, images: Path, project: Path
) -> None:
    out = project / "emb"
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--shard-size", "4")
    assert code == 0, stderr
    keys, levels = rows(out)
    # a crash before the last shard's commit, and the user's files added meanwhile
    (out / "shards" / f"{8:012d}-{11:012d}.json").unlink()
    write_project(out)
    foreign = {
        k: v for k, v in tree(out).items() if k.split("/")[0] in (".git", "src", "thesis.tex")
    }
    code, stdout, stderr = embed(
        run_cli, manifest_file, [images], out, "--shard-size", "4", "--json"
    )
    assert code == 0, stderr
    assert "resuming: 8 of 11 images are already done" in stderr
    resumed = summary(stdout)
    assert (resumed["reused"], resumed["computed"]) == (7, 3)
    again_keys, again_levels = rows(out)
    assert again_keys == keys
    assert (again_levels["embedding"] == levels["embedding"]).all()
    assert {k: v for k, v in tree(out).items() if k in foreign} == foreign
    # --overwrite now refuses: the folder holds the user's files
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--overwrite")
    assert code == 2
    assert "files zoo did not write (.git/, src/, thesis.tex)" in stderr


def test_a_run_with_other_settings_is_refused(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, _, stderr = embed(run_cli, manifest_file, [images], out)
    assert code == 0, stderr
    before = tree(out)
    cases = [
        (["--out-indices", "-1,-2"], "output.out_indices: None then, [-1, -2] now"),
        (["--random-init"], "model.pretrained: True then, False now"),
        (["--format", "parquet"], "output.format: 'safetensors' then, 'parquet' now"),
        (["--precision", "bf16-true"], "precision: '32-true' then, 'bf16-true' now"),
    ]
    for extra, difference in cases:
        code, _, stderr = embed(run_cli, manifest_file, [images], out, *extra)
        assert code == 2, extra
        assert "holds the output of a zoo embed run with other settings" in stderr
        assert difference in stderr
        assert "Re-run with the same settings to resume it, pass --overwrite" in stderr
        assert tree(out) == before
    (images / "new.png").write_bytes((images / "img1.png").read_bytes())
    code, _, stderr = embed(run_cli, manifest_file, [images], out)
    assert code == 2
    assert "images.count: 11 then, 12 now" in stderr
    # another manifest file: its sha256 differs
    manifest_file.write_text(manifest_file.read_text() + "\n# edited\n")
    (images / "new.png").unlink()
    code, _, stderr = embed(run_cli, manifest_file, [images], out)
    assert code == 2
    assert "model.manifest_sha256" in stderr
    assert tree(out) == before


def test_changed_or_unreadable_record_is_refused(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, _, stderr = embed(run_cli, manifest_file, [images], out)
    assert code == 0, stderr
    provenance = out / "provenance.json"
    provenance.write_text(provenance.read_text() + "my notes\n")
    for extra in ([], ["--overwrite"]):
        code, _, stderr = embed(run_cli, manifest_file, [images], out, *extra)
        assert code == 2
        assert "provenance.json changed after zoo wrote it" in stderr
        assert provenance.read_text().endswith("my notes\n")
    provenance.unlink()
    (out / "zoo-embed.json").write_text("{ not json")
    before = tree(out)
    code, _, stderr = embed(run_cli, manifest_file, [images], out, "--overwrite")
    assert code == 2
    assert "is not a record zoo can read" in stderr
    assert "cannot tell which files" in stderr
    assert tree(out) == before


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_files_respect_the_umask(
    run_cli: Any, manifest_file: Path, images: Path, tmp_path: Path, mask: int
) -> None:
    out = tmp_path / "deep" / "out"
    old = os.umask(mask)
    try:
        for fmt in ("safetensors", "parquet"):
            code, _, stderr = embed(
                run_cli, manifest_file, [images], out, "--format", fmt, "--overwrite"
            )
            assert code == 0, stderr
            for path in [out.parent, out, *out.rglob("*")]:
                mode = stat.S_IMODE(path.stat().st_mode)
                want = (0o777 if path.is_dir() else 0o666) & ~mask
                assert mode == want, f"{path}: {oct(mode)}, want {oct(want)}"
    finally:
        os.umask(old)
