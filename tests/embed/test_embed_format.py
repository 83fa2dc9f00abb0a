"""The ``zoo embed`` output format: shards and records, the index, the reader, 10 million keys,
and the README's recipes for reading it without zoo."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zoo
from tests.conftest import REPO_ROOT
from zoo.embed.rows import ShardWriter
from zoo.embed.shards import (
    INDEX,
    SHARDS,
    build_index,
    pending,
    read_records,
    shard_name,
    write_json,
    write_shard,
)
from zoo.errors import EmbeddingsError, IntegrityError, LoadError


def encode(keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    data = [k.encode() for k in keys]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return np.frombuffer(b"".join(data), dtype=np.uint8), offsets


def make_output(out: Path, fmt: str = "safetensors", shape: tuple[int, ...] = (3,)) -> dict:
    """Images 0..11 in three shards: 5 rows (one image skipped), none (all skipped), 4 rows."""
    folder = out / SHARDS
    folder.mkdir(parents=True)
    name = "embedding" if len(shape) == 1 else "feature_0"
    plan = [((0, 6), [0, 1, 2, 3, 5]), ((6, 8), []), ((8, 12), [8, 9, 10, 11])]
    for interval, numbers in plan:
        keys = [f"k{i:03d}é" for i in numbers]
        values = torch.tensor(numbers, dtype=torch.float32).reshape(-1, *[1] * len(shape))
        values = values + torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape)
        skipped = [(i, f"k{i:03d}é", "bad") for i in range(*interval) if i not in numbers]
        write_shard(
            folder, interval, fmt=fmt, keys=encode(keys), levels={name: values}, skipped=skipped
        )
    records, leftovers = read_records(folder)
    assert leftovers == []
    index = build_index(records, 12, fmt)
    write_json(out / INDEX, index)
    return index


ROWS = [0, 1, 2, 3, 5, 8, 9, 10, 11]


@pytest.mark.parametrize("fmt", ["safetensors", "parquet"])
def test_write_and_read(tmp_path: Path, fmt: str) -> None:
    index = make_output(tmp_path, fmt)
    assert index["rows"] == 9
    assert [s["rows"] for s in index["shards"]] == [5, 4]  # the empty shard has no file
    assert [s["first_row"] for s in index["shards"]] == [0, 5]
    emb = zoo.read_embeddings(tmp_path, verify=True)
    assert len(emb) == 9
    assert emb.levels == ["embedding"]
    assert list(emb.keys) == [f"k{i:03d}é" for i in ROWS]
    assert emb.keys[5] == "k008é"
    assert emb.keys[-1] == "k011é"
    assert emb.keys[3:6] == ["k003é", "k005é", "k008é"]
    assert emb.keys.index("k009é") == 6
    assert "k005é" in emb.keys
    assert "k004é" not in emb.keys  # skipped
    level = emb["embedding"]
    assert level.shape == (9, 3)
    want = torch.tensor(ROWS, dtype=torch.float32)[:, None] + torch.arange(3.0)
    assert torch.equal(level[:], want)
    assert torch.equal(level[4], want[4])
    assert torch.equal(level[-1], want[-1])
    assert torch.equal(level[3:7], want[3:7])  # across the two shards
    assert torch.equal(level[::4], want[::4])
    assert torch.equal(level[[8, 0, 5, 5]], want[[8, 0, 5, 5]])
    assert torch.equal(level[torch.tensor([-1, 2])], want[[8, 2]])
    assert level[9:].shape == (0, 3)
    assert torch.equal(torch.cat(list(level.shards())), want)
    for shard in emb.shards:
        got = shard.tensor("embedding")
        assert torch.equal(got, want[shard.first_row : shard.first_row + shard.rows])
        assert shard.keys() == list(emb.keys)[shard.first_row : shard.first_row + shard.rows]
    with pytest.raises(IndexError):
        level[9]
    with pytest.raises(IndexError):
        level[[0, 9]]
    with pytest.raises(KeyError, match="no level 'feature_0'"):
        emb["feature_0"]
    with pytest.raises(ValueError, match="is not a key"):
        emb.keys.index("nope")


def test_feature_maps_keep_their_shape(tmp_path: Path) -> None:
    make_output(tmp_path, "parquet", shape=(2, 2, 2))
    emb = zoo.read_embeddings(tmp_path)
    assert emb.levels == ["feature_0"]
    assert emb["feature_0"].shape == (9, 2, 2, 2)
    assert torch.equal(emb["feature_0"][5], 8 + torch.arange(8.0).reshape(2, 2, 2))


def readme_recipes() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Output format") :]
    section = section[: section.index("\n### ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_recipes_read_the_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's reading recipes, run as written: zoo's reader, and safetensors alone."""
    make_output(tmp_path / "emb")
    with_zoo, plain = readme_recipes()
    assert "safetensors" in plain
    assert "zoo" not in plain
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(with_zoo, "README", "exec"), scope)
    assert scope["keys"] == ["k008é", "k009é", "k010é", "k011é"]
    plain_scope: dict[str, Any] = {}
    exec(compile(plain, "README", "exec"), plain_scope)
    assert plain_scope["keys"] == scope["keys"]  # the last shard, read both ways
    np.testing.assert_array_equal(plain_scope["x"], scope["rows"].numpy())


def test_records_leftovers_and_pending(tmp_path: Path) -> None:
    make_output(tmp_path)
    folder = tmp_path / SHARDS
    (folder / f"{shard_name(12, 16)}.safetensors.tmp").write_bytes(b"half")
    (folder / f"{shard_name(12, 16)}.safetensors").write_bytes(b"no record")
    stem = shard_name(8, 12)
    data = folder / f"{stem}.safetensors"
    data.write_bytes(data.read_bytes() + b"changed")  # its record no longer vouches for it
    records, leftovers = read_records(folder)
    assert [(r["start"], r["end"]) for r in records] == [(0, 6), (6, 8)]
    late = shard_name(12, 16)
    assert sorted(p.name for p in leftovers) == sorted(
        [f"{late}.safetensors.tmp", f"{late}.safetensors", f"{stem}.json", f"{stem}.safetensors"]
    )
    assert pending(records, 20, 4) == [(8, 12), (12, 16), (16, 20)]
    assert pending(records[1:], 9, 4) == [(0, 4), (4, 6), (8, 9)]
    assert pending([], 0, 4) == []
    with pytest.raises(LoadError, match=r"images 8\.\.11 are in no shard"):
        build_index(records, 12, "safetensors")
    other = dict(records[0], start=8, end=12, levels=[{"name": "embedding", "shape": [4]}])
    with pytest.raises(LoadError, match="has levels"):
        build_index([*records, other], 12, "safetensors")
    write_json(folder / f"{shard_name(4, 8)}.json", {"start": 4, "end": 8, "rows": 0})
    with pytest.raises(LoadError, match="overlap"):
        read_records(folder)


def test_pending_work_is_spread_over_the_processes() -> None:
    # the images fit in one shard: one block per process, not one block for one of them
    assert pending([], 10, 4096, 2) == [(0, 5), (5, 10)]
    assert pending([], 1000, 4096, 8) == [(125 * i, 125 * (i + 1)) for i in range(8)]
    assert pending([], 1000, 4096, 3) == [(0, 333), (333, 666), (666, 1000)]
    # fewer images than processes: one each, the other processes have nothing to do
    assert pending([], 2, 4096, 4) == [(0, 1), (1, 2)]
    assert pending([], 0, 4096, 4) == []
    # enough blocks already: shards stay aligned to the shard size
    assert pending([], 20, 4, 2) == [(0, 4), (4, 8), (8, 12), (12, 16), (16, 20)]
    # resumed: only the gaps are cut, the largest first
    done = [{"start": 0, "end": 6}, {"start": 8, "end": 9}]
    assert pending(done, 10, 4096, 3) == [(6, 7), (7, 8), (9, 10)]
    assert pending(done, 16, 4096, 3) == [(6, 8), (9, 12), (12, 16)]


class _Keys:
    """The image list's keys as ShardWriter asks for them: image i is ``k{i}``."""

    def key(self, i: int) -> str:
        return f"k{i}"

    def encoded(self, numbers: list[int]) -> tuple[np.ndarray, np.ndarray]:
        return encode([f"k{i}" for i in numbers])


def test_shard_writer_follows_blocks(tmp_path: Path) -> None:
    """Blocks complete in turn, a batch may span two, an early shard when rows get too big,
    and a flush (Ctrl-C) writes the images received so far."""
    (tmp_path / SHARDS).mkdir()

    writer = ShardWriter(
        tmp_path / SHARDS,
        [(0, 3), (6, 9), (9, 12)],
        _Keys(),
        "safetensors",
        feature_maps=False,
        max_bytes=4 * 4 * 2,  # two rows of 4 floats
    )
    rows = torch.arange(12.0)[:, None].repeat(1, 4)
    assert writer.add([0, 1], [rows[[0, 1]]], []) == []  # 2 rows: written early
    assert writer.add([2, 6], [rows[[2, 6]]], [(7, "broken")]) == [(7, "k7", "broken")]
    with pytest.raises(LoadError, match="out of order"):
        writer.add([3], [rows[[3]]], [])
    writer.add([8], [rows[[8]]], [])
    writer.add([9], [rows[[9]]], [])
    writer.flush()
    intervals = [(r["start"], r["end"]) for r in writer.records]
    assert intervals == [(0, 2), (2, 3), (6, 9), (9, 10)]
    assert writer.records[2]["skipped"] == [[7, "k7", "broken"]]
    assert (writer.rows, writer.processed) == (6, 7)


def test_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingsError, match="no zoo embed output"):
        zoo.read_embeddings(tmp_path)
    (tmp_path / "zoo-embed.json").write_text("{}")
    with pytest.raises(EmbeddingsError, match="unfinished zoo embed run"):
        zoo.read_embeddings(tmp_path)
    (tmp_path / INDEX).write_text("[")
    with pytest.raises(EmbeddingsError, match="unreadable"):
        zoo.read_embeddings(tmp_path)
    (tmp_path / INDEX).write_text(json.dumps({"format": "zoo-embed", "version": 9}))
    with pytest.raises(EmbeddingsError, match="version 9"):
        zoo.read_embeddings(tmp_path)
    out = tmp_path / "out"
    make_output(out)
    shard = out / SHARDS / f"{shard_name(0, 6)}.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    zoo.read_embeddings(out)  # not checked unless asked
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        zoo.read_embeddings(out, verify=True)


TEN_MILLION = 10_000_000
PER_SHARD = 250_000


def synthetic_keys(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys ``slide<5 digits>/tile<7 digits>.png`` for rows start..stop-1, made with numpy."""
    numbers = np.arange(start, stop, dtype=np.int64)
    width = 26
    table = np.empty((len(numbers), width), dtype=np.uint8)
    table[:] = np.frombuffer(b"slide00000/tile0000000.png", dtype=np.uint8)
    for digit, column in enumerate(range(9, 4, -1)):  # slide number: row // 10_000
        table[:, column] = 48 + (numbers // 10_000 // 10**digit) % 10
    for digit, column in enumerate(range(21, 14, -1)):  # tile number: the row itself
        table[:, column] = 48 + (numbers // 10**digit) % 10
    return table.reshape(-1), np.arange(len(numbers) + 1, dtype=np.int64) * width


def synthetic_key(row: int) -> str:
    return f"slide{row // 10_000:05d}/tile{row % 10_000_000:07d}.png"


@pytest.mark.slow
def test_ten_million_keys(tmp_path: Path) -> None:
    """10 million keys in 40 shards (written directly: no model), then a few rows read back by
    global number without loading the keys or rows of the others."""
    folder = tmp_path / SHARDS
    folder.mkdir()
    for start in range(0, TEN_MILLION, PER_SHARD):
        stop = start + PER_SHARD
        values = torch.arange(start, stop, dtype=torch.float32)[:, None]
        write_shard(
            folder,
            (start, stop),
            fmt="safetensors",
            keys=synthetic_keys(start, stop),
            levels={"embedding": values},
        )
    records, _ = read_records(folder)
    write_json(tmp_path / INDEX, build_index(records, TEN_MILLION, "safetensors"))
    assert (tmp_path / INDEX).stat().st_size < 20_000

    tracemalloc.start()
    emb = zoo.read_embeddings(tmp_path)
    assert len(emb) == len(emb.keys) == TEN_MILLION
    for row in (0, 1, 249_999, 250_000, 5_123_457, TEN_MILLION - 1):
        assert emb.keys[row] == synthetic_key(row)
        assert emb["embedding"][row].item() == row
    picked = emb["embedding"][[9_999_999, 3, 7_500_000]]
    assert picked[:, 0].tolist() == [9_999_999, 3, 7_500_000]
    assert emb["embedding"][249_998:250_002][:, 0].tolist() == [249_998, 249_999, 250_000, 250_001]
    assert emb.shards[-1].keys()[-1] == synthetic_key(TEN_MILLION - 1)  # one shard's keys
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 << 20  # all keys would be > 260 MB


def test_a_block_whose_every_image_is_skipped_is_a_shard_without_rows(tmp_path: Path) -> None:
    """After a block with rows, a block of unreadable (or NaN) images only: a record, no data."""
    (tmp_path / SHARDS).mkdir()

    writer = ShardWriter(
        tmp_path / SHARDS, [(0, 2), (2, 4)], _Keys(), "safetensors", feature_maps=False,
        max_bytes=1 << 20,
    )  # fmt: skip
    writer.add([0, 1], [torch.ones(2, 4)], [])
    writer.add([], [torch.ones(0, 4)], [(2, "bad"), (3, "bad")])
    assert [(r["start"], r["end"], r["rows"]) for r in writer.records] == [(0, 2, 2), (2, 4, 0)]
    assert writer.records[1]["file"] is None
