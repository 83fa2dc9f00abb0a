"""Downloads and caches under stress: truncating, stalling and corrupting servers, several
processes at once, offline mode, damaged caches, ONNX external data. Servers run on 127.0.0.1."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.offline_kit import Server, fetch, hf_add, hf_path, manifest, sha, url_file, write
from zoo import settings
from zoo.catalog.parse import read_manifest
from zoo.errors import (
    DownloadError,
    EndpointTimeoutError,
    IntegrityError,
    LoadError,
    WeightsNotAvailableError,
)
from zoo.manifest import HfLocation
from zoo.weights.locations import url_cache_path
from zoo.weights.transport import integrity

DATA = bytes(range(256)) * 4096  # 1 MiB
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cache_files() -> list[str]:
    root = settings.cache_dir()
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


# -- atomic, verified downloads ------------------------------------------------------------------


def test_download_leaves_only_the_file_and_records_its_hash(server: Server) -> None:
    url = server.add("w.safetensors", DATA)
    path = url_file(url, sha256=sha(DATA))
    assert path.read_bytes() == DATA
    # No lock file, sidecar or temporary file next to the download.
    assert _cache_files() == ["w.safetensors"]
    (record,) = (settings.zoo_home() / "verified").iterdir()
    assert json.loads(record.read_text())["sha256"] == sha(DATA)
    assert list((settings.zoo_home() / "locks").iterdir())  # locks live apart


def test_unchanged_cached_file_is_not_hashed_again(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("w.bin", DATA)
    path = url_file(url, sha256=sha(DATA))
    hashed: list[Path] = []
    real = integrity.sha256_of
    monkeypatch.setattr(integrity, "sha256_of", lambda p: hashed.append(p) or real(p))
    url_file(url, sha256=sha(DATA))
    assert hashed == []
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched
    url_file(url, sha256=sha(DATA))
    assert len(hashed) == 1
    url_file(url, sha256=sha(DATA))
    assert len(hashed) == 1
    assert server.hits["/w.bin"] == 1


@pytest.mark.parametrize("declared", [True, False], ids=["sha256-declared", "no-sha256"])
def test_damaged_cache_file_is_fetched_again_online(
    server: Server, declared: bool, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.add("w.bin", DATA)
    digest = sha(DATA) if declared else None
    path = url_file(url, sha256=digest)
    path.write_bytes(DATA[: len(DATA) // 3])  # a disk that filled up, a copy cut short
    with caplog.at_level("WARNING", logger="zoo"):
        assert url_file(url, sha256=digest).read_bytes() == DATA  # fetched again
    assert server.hits["/w.bin"] == 2
    assert "damaged" in caplog.text
    assert str(path) in caplog.text


def test_corrupt_cache_file_offline_is_refused_and_kept(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("w.bin", DATA)
    path = url_file(url)
    path.write_bytes(b"\0" * len(DATA))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(IntegrityError) as info:
        url_file(url)
    assert not info.value.removed
    assert "network" in str(info.value)
    assert path.exists()


def test_truncating_server_leaves_nothing_under_the_final_name(server: Server) -> None:
    url = server.add("w.bin", DATA, mode="truncate")
    with pytest.raises(DownloadError) as info:
        url_file(url, sha256=sha(DATA))
    message = str(info.value)
    assert "cut short" in message
    assert f"of {len(DATA)} bytes" in message
    assert "kept to resume from" in message
    assert _cache_files() == ["w.bin.incomplete"]


def test_stalling_server_times_out_and_leaves_nothing_under_the_final_name(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_DOWNLOAD_TIMEOUT", "0.5")
    server.stall_seconds = 3
    url = server.add("w.bin", DATA, mode="stall")
    with pytest.raises(EndpointTimeoutError) as info:
        url_file(url)
    assert "stopped sending for 0.5 s (ZOO_DOWNLOAD_TIMEOUT)" in str(info.value)
    assert info.value.timeout == 0.5
    assert _cache_files() == ["w.bin.incomplete"]


def test_corrupting_server_is_caught_by_the_declared_hash(server: Server) -> None:
    url = server.add("w.bin", DATA, mode="corrupt")
    with pytest.raises(IntegrityError) as info:
        url_file(url, sha256=sha(DATA))
    assert info.value.expected == sha(DATA)
    assert info.value.actual != sha(DATA)
    assert _cache_files() == []


def test_http_error_is_a_download_error(server: Server) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        url_file(f"{server.base}/absent.bin")


# -- several processes at once -------------------------------------------------------------------


@pytest.mark.slow
def test_processes_pulling_the_same_url_at_once_download_it_once(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("w.bin", DATA, mode="slow")  # ~1 s, so the pulls overlap
    write(tmp_path / "cat", manifest(checkpoint={"url": url, "sha256": sha(DATA)}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path / "cat"))
    from zoo.cli import main

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        codes = pool.map(main, [["pull", "testing/tiny", "--json"]] * 4)
    assert codes == [0, 0, 0, 0]
    assert server.hits["/w.bin"] == 1
    (path,) = settings.cache_dir().rglob("w.bin")
    assert path.read_bytes() == DATA
    assert _cache_files() == ["w.bin"]


def test_threads_share_one_download(server: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = server.add("w.bin", DATA, mode="slow")
    with ThreadPoolExecutor(3) as pool:
        paths = list(pool.map(lambda _: url_file(url, sha256=sha(DATA)), range(3)))
    assert len(set(paths)) == 1
    assert server.hits["/w.bin"] == 1


# -- offline: one message saying what, where and how -----------------------------------------------


def test_offline_url_miss_says_what_where_and_how(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    url = server.add("w.bin", DATA)
    write(tmp_path / "cat", manifest(checkpoint={"url": url, "sha256": sha(DATA)}))
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(tmp_path / "cat"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    code, out, err = run_cli("pull", "testing/tiny")
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("failed: testing/tiny: weights not available")
    assert url in err  # what
    assert str(url_cache_path(url)) in err  # where it looked
    assert "`zoo pull testing/tiny`" in err  # how to get it
    assert "ZOO_MIRROR" in err
    assert "offline" in err
    assert server.hits["/w.bin"] == 0


@pytest.mark.parametrize("variable", ["ZOO_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_hf_miss_never_touches_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # An endpoint that would answer: offline mode must not even connect to it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv(variable, "1")
    try:
        with pytest.raises(WeightsNotAvailableError) as info:
            hf_path(HfLocation(repo="o/absent", filename="m.safetensors"), name="testing/x")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    assert info.value.looked == [str(settings.hf_hub_cache())]
    assert "`zoo pull testing/x`" in info.value.fix
    assert "ZOO_MIRROR" in info.value.fix


def test_hf_endpoint_is_read_at_call_time(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "1")
    with pytest.raises(DownloadError) as info:
        hf_path(HfLocation(repo="o/absent", filename="m.safetensors"))
    assert f"cannot reach http://127.0.0.1:{closed_port}" in info.value.reason
    assert info.value.endpoint == f"http://127.0.0.1:{closed_port}"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HF_HUB_CACHE": "/a/hub"}, "/a/hub"),
        ({"HUGGINGFACE_HUB_CACHE": "/old/hub"}, "/old/hub"),
        ({"HF_HOME": "/h"}, "/h/hub"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
        ({}, "~/.cache/huggingface/hub"),
    ],
)
def test_hf_hub_cache_follows_huggingface_hub_rules(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert settings.hf_hub_cache() == Path(expected).expanduser()


# -- the Hugging Face cache ----------------------------------------------------------------------


def test_corrupt_hf_blob_is_refused_offline_and_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = hf_add(settings.hf_hub_cache(), "o/r", {"m.safetensors": DATA}, commit=COMMIT)
    loc = HfLocation(repo="o/r", revision=COMMIT, filename="m.safetensors")
    assert hf_path(loc).read_bytes() == DATA
    blob = (snapshot / "m.safetensors").resolve()
    blob.write_bytes(DATA[:1000])
    with pytest.raises(IntegrityError) as info:
        hf_path(loc, name="testing/x")
    assert info.value.expected == sha(DATA)
    assert "zoo pull testing/x" in str(info.value)
    assert blob.exists()


def test_whole_hf_snapshot_is_verified_file_by_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = {"config.json": b"{}", "model.safetensors": DATA}
    snapshot = hf_add(settings.hf_hub_cache(), "o/r", files, commit=COMMIT)
    assert hf_path(HfLocation(repo="o/r")) == snapshot
    (snapshot / "model.safetensors").resolve().write_bytes(b"x" * len(DATA))
    with pytest.raises(IntegrityError):
        hf_path(HfLocation(repo="o/r"))


# -- ONNX external data --------------------------------------------------------------------------


def _onnx_with_external_data(folder: Path, location: str = "model.onnx.data") -> Path:
    """A tiny conv-as-patch-embedding ONNX model whose weights live in ``location``
    (written as ``model.onnx.data``, then renamed in the model file only)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((8, 3, 8, 8)).astype("float32"), "w")
    shape = numpy_helper.from_array(np.array([0, 8, -1], dtype="int64"), "shape")
    nodes = [
        helper.make_node("Conv", ["pixels", "w"], ["maps"], strides=[8, 8]),
        helper.make_node("Reshape", ["maps", "shape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["tokens"], perm=[0, 2, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["b", 3, 32, 32])],
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["b", 16, 8])],
        [weight, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=256,  # the weight goes out, the small shape tensor stays in
    )
    if location != "model.onnx.data":
        edited = onnx.load_model(str(path), load_external_data=False)
        for entry in edited.graph.initializer[0].external_data:
            if entry.key == "location":
                entry.value = location
        onnx.save_model(edited, str(path))
    return path


def _onnx_manifest(checkpoint: dict[str, Any]) -> dict[str, Any]:
    data = manifest(checkpoint=checkpoint)
    data["wrapper"] = {"type": "onnx", "output": "tokens", "hidden_states": ["tokens"]}
    data["output"] = {
        "embedding_dim": 8,
        "pooling": "mean",
        "patch_size": 8,
        "feature_levels": 1,
        "feature_dim": 8,
    }
    return data


def _run(path: Path) -> Any:
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.linspace(-1, 1, 2 * 3 * 32 * 32, dtype="float32").reshape(2, 3, 32, 32)
    return session.run(["tokens"], {"pixels": x})[0]


@pytest.mark.parametrize("source", ["url", "hf", "local"])
def test_onnx_external_data_is_fetched_next_to_the_model(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    original = _onnx_with_external_data(tmp_path / "made")
    data = (tmp_path / "made" / "model.onnx.data").read_bytes()
    root = tmp_path / "cat"
    if source == "url":
        server.add("m/model.onnx.data", data)
        checkpoint = {"url": server.add("m/model.onnx", original.read_bytes())}
    elif source == "hf":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        files = {"onnx/model.onnx": original.read_bytes(), "onnx/model.onnx.data": data}
        hf_add(settings.hf_hub_cache(), "o/r", files, commit=COMMIT)
        checkpoint = {"hf": {"repo": "o/r", "revision": COMMIT, "filename": "onnx/model.onnx"}}
    else:
        (root / "testing").mkdir(parents=True)
        (root / "testing" / "model.onnx").write_bytes(original.read_bytes())
        (root / "testing" / "model.onnx.data").write_bytes(data)
        checkpoint = {"path": "model.onnx"}
    m = read_manifest(write(root, _onnx_manifest(checkpoint)))
    path = fetch(m)
    assert (path.parent / "model.onnx.data").read_bytes() == data
    assert (_run(path) == _run(original)).all()
    if source == "url":
        assert server.hits["/m/model.onnx.data"] == 1


def test_onnx_external_data_missing_offline_names_the_side_file(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _onnx_with_external_data(tmp_path / "made")
    url = server.add("m/model.onnx", original.read_bytes())
    m = read_manifest(write(tmp_path / "cat", _onnx_manifest({"url": url})))
    url_file(url)  # the model file is cached, its data file never was
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError) as info:
        fetch(m)
    assert info.value.what == f"{server.base}/m/model.onnx.data"


def test_onnx_external_data_outside_the_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    _onnx_with_external_data(root / "testing", location="../secret.data")
    m = read_manifest(write(root, _onnx_manifest({"path": "model.onnx"})))
    with pytest.raises(LoadError, match="outside its folder"):
        fetch(m)


def test_external_data_reader_survives_garbage(tmp_path: Path) -> None:
    from zoo.weights.sources.onnx import external_data_locations

    for i, raw in enumerate(
        [b"", b"\xff" * 64, b"\x3a\xff\xff\xff\xff\x0f", yaml.dump([1]).encode()]
    ):
        file = tmp_path / f"{i}.onnx"
        file.write_bytes(raw)
        assert external_data_locations(file) == []
