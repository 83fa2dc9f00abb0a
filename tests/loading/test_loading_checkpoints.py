"""Where weights come from and how they are read: local paths, URLs (sha256), the Hugging Face
cache (offline), nested keys, remaps, strictness, weights-only pickles, no random init first."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.loading.loading_kit import ARCH, TINY_KWARGS, HfCache, Kit
from tests.offline_kit import Server
from zoo.errors import (
    CheckpointMismatchError,
    DownloadError,
    IntegrityError,
    LoadError,
    WeightsNotAvailableError,
)


def _check_equal(model: Any, source: torch.nn.Module, kit: Kit) -> None:
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(model(x), source.forward_features(x)[:, 0], rtol=0, atol=0)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- local paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["weights/tiny.safetensors", "weights/tiny.pth", "tiny.bin"])
def test_relative_path_safetensors_and_pickle(kit: Kit, file: str) -> None:
    source = kit.timm_source()
    kit.save(source.state_dict(), kit.folder / file)
    _check_equal(kit.load(kit.timm_manifest(checkpoint={"path": file})), source, kit)


def test_absolute_path_outside_the_catalogue(kit: Kit) -> None:
    source = kit.timm_source()
    weights = kit.save(source.state_dict(), kit.tmp / "elsewhere" / "tiny.safetensors")
    _check_equal(kit.load(kit.timm_manifest(checkpoint={"path": str(weights)})), source, kit)


def test_pickle_declared_by_format_whatever_the_extension(kit: Kit) -> None:
    source = kit.timm_source()
    kit.save(source.state_dict(), kit.folder / "tiny.weights")
    _check_equal(
        kit.load(kit.timm_manifest(checkpoint={"path": "tiny.weights", "format": "pickle"})),
        source,
        kit,
    )


def test_missing_local_file_names_where_to_put_it(kit: Kit) -> None:
    with pytest.raises(WeightsNotAvailableError) as info:
        kit.load(kit.timm_manifest(checkpoint={"path": "nowhere.safetensors"}))
    expected = str(kit.folder.resolve() / "nowhere.safetensors")
    assert info.value.looked == [expected]
    assert "Put the weights at" in str(info.value)


def test_relative_path_may_not_escape_the_catalogue_root(kit: Kit) -> None:
    kit.save(kit.timm_source().state_dict(), kit.tmp / "secret.safetensors")
    with pytest.raises(WeightsNotAvailableError, match="catalogue root"):
        kit.load(kit.timm_manifest(checkpoint={"path": "../../secret.safetensors"}))


def test_wrong_sha256_of_a_users_file_is_refused_and_the_file_kept(kit: Kit) -> None:
    path = kit.save(kit.timm_source().state_dict(), kit.folder / "tiny.safetensors")
    with pytest.raises(IntegrityError):
        kit.load(kit.timm_manifest(checkpoint={"path": "tiny.safetensors", "sha256": "0" * 64}))
    assert path.exists()  # zoo only deletes files of its own cache


# -- URLs ------------------------------------------------------------------------------------------


def _leftovers(cache: Path) -> list[str]:
    """Files in zoo's download cache other than lock files."""
    return sorted(p.name for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def test_url_download_is_verified_cached_and_fetched_once(kit: Kit, file_server: Server) -> None:
    from zoo import settings

    source = kit.timm_source()
    data = kit.save(source.state_dict(), kit.tmp / "src" / "tiny.safetensors").read_bytes()
    url = file_server.add("tiny.safetensors", data)
    manifest = kit.timm_manifest(checkpoint={"url": url, "sha256": _sha(data)})
    _check_equal(kit.load(manifest), source, kit)
    cached = list(settings.cache_dir().rglob("tiny.safetensors"))
    assert len(cached) == 1
    assert cached[0].is_relative_to(settings.zoo_home())
    assert cached[0].read_bytes() == data
    _check_equal(kit.load(manifest), source, kit)
    assert file_server.hits["/tiny.safetensors"] == 1


def test_url_with_a_bad_sha256_is_refused_and_leaves_nothing(kit: Kit, file_server: Server) -> None:
    from zoo import settings

    data = kit.save(
        kit.timm_source().state_dict(), kit.tmp / "src" / "tiny.safetensors"
    ).read_bytes()
    url = file_server.add("tiny.safetensors", data)
    with pytest.raises(IntegrityError) as info:
        kit.load(kit.timm_manifest(checkpoint={"url": url, "sha256": "f" * 64}))
    assert info.value.actual == _sha(data)
    assert _leftovers(settings.cache_dir()) == []
    # The right hash then downloads it again (nothing bad was kept).
    kit.load(kit.timm_manifest(checkpoint={"url": url, "sha256": _sha(data)}))
    assert file_server.hits["/tiny.safetensors"] == 2


def test_corrupt_cached_download_is_detected_and_fetched_again(
    kit: Kit, file_server: Server
) -> None:
    from zoo import settings

    source = kit.timm_source()
    data = kit.save(source.state_dict(), kit.tmp / "src" / "tiny.safetensors").read_bytes()
    manifest = kit.timm_manifest(
        checkpoint={"url": file_server.add("tiny.safetensors", data), "sha256": _sha(data)}
    )
    kit.load(manifest)
    (cached,) = settings.cache_dir().rglob("tiny.safetensors")
    cached.write_bytes(data[:-8] + b"\0" * 8)  # same size, different bytes
    # zoo's own cache, damaged, vouched for by nothing: replaced by a fresh download.
    _check_equal(kit.load(manifest), source, kit)
    assert file_server.hits["/tiny.safetensors"] == 2
    assert cached.read_bytes() == data


def test_url_offline_and_not_cached(
    kit: Kit, file_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    url = file_server.add("tiny.safetensors", b"never served")
    with pytest.raises(WeightsNotAvailableError, match="offline") as info:
        kit.load(kit.timm_manifest(checkpoint={"url": url}))
    assert info.value.what == url
    assert url in info.value.fix
    assert file_server.hits["/tiny.safetensors"] == 0


def test_unreachable_url_fails_fast(
    kit: Kit, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "1")
    url = f"http://127.0.0.1:{closed_port}/tiny.safetensors"
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"cannot reach http://127\.0\.0\.1") as info:
        kit.load(kit.timm_manifest(checkpoint={"url": url}))
    assert time.monotonic() - start < 15
    assert str(info.value).startswith(f"testing/tiny: checkpoint.url ({url})")
    assert "zoo pull testing/tiny --to DIR" in info.value.fix
    assert "ZOO_MIRROR" in info.value.fix


# -- the Hugging Face cache, offline ---------------------------------------------------------------

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "unpinned"])
def test_hf_single_file_from_the_cache_offline(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch, pinned: bool
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = kit.timm_source()
    data = kit.save(source.state_dict(), kit.tmp / "src" / "model.safetensors").read_bytes()
    hf_cache.add("owner/tiny-vit", {"model.safetensors": data}, commit=REVISION)
    hf = {
        "repo": "owner/tiny-vit",
        "revision": REVISION if pinned else None,
        "filename": "model.safetensors",
    }
    model = kit.load(kit.timm_manifest(checkpoint={"hf": hf, "sha256": _sha(data)}))
    _check_equal(model, source, kit)


def test_hf_pinned_revision_is_the_one_loaded(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    old, new = kit.timm_source(seed=1), kit.timm_source(seed=2)
    blob = {}
    for name, model in (("old", old), ("new", new)):
        blob[name] = kit.save(model.state_dict(), kit.tmp / name / "model.safetensors").read_bytes()
    hf_cache.add("owner/tiny-vit", {"model.safetensors": blob["old"]}, commit=REVISION, ref=None)
    hf_cache.add(
        "owner/tiny-vit", {"model.safetensors": blob["new"]}, commit="f" * 40
    )  # main moved on
    hf = {"repo": "owner/tiny-vit", "revision": REVISION, "filename": "model.safetensors"}
    _check_equal(kit.load(kit.timm_manifest(checkpoint={"hf": hf})), old, kit)
    hf["revision"] = None
    _check_equal(kit.load(kit.timm_manifest(checkpoint={"hf": hf})), new, kit)


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "unpinned"])
def test_hf_whole_repository_for_transformers_offline(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch, pinned: bool
) -> None:
    from tests.loading.loading_kit import hf_manifest, hf_source

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = hf_source(kit.tmp / "saved")
    hf_cache.add_folder("owner/tiny-hf-vit", kit.tmp / "saved", commit=REVISION)
    hf = {"repo": "owner/tiny-hf-vit", "revision": REVISION if pinned else None}
    model = kit.load(hf_manifest(kit, "pooler", checkpoint={"hf": hf}))
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(pixel_values=x).pooler_output, rtol=0, atol=0)


def test_hf_offline_and_missing_says_what_where_and_how(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf = {"repo": "owner/absent", "revision": REVISION, "filename": "model.safetensors"}
    with pytest.raises(WeightsNotAvailableError) as info:
        kit.load(kit.timm_manifest(checkpoint={"hf": hf}))
    err = info.value
    assert err.what == f"owner/absent/model.safetensors@{REVISION}"
    assert err.looked == [str(hf_cache.root)]
    assert f"hf download owner/absent model.safetensors --revision {REVISION}" in err.fix
    assert "offline" in err.reason
    assert isinstance(err, FileNotFoundError)


def test_hf_cache_env_read_at_call_time(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_HUB_CACHE set after huggingface_hub was imported must still be where zoo looks."""
    import huggingface_hub.constants  # noqa: F401  (imported before the variable changes, as in a long-lived process)

    root = tmp_path / "late-hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = kit.timm_source()
    data = kit.save(source.state_dict(), kit.tmp / "src" / "model.safetensors").read_bytes()
    HfCache(root).add("owner/tiny-vit", {"model.safetensors": data}, commit=REVISION)
    hf = {"repo": "owner/tiny-vit", "revision": REVISION, "filename": "model.safetensors"}
    _check_equal(kit.load(kit.timm_manifest(checkpoint={"hf": hf})), source, kit)


def test_cli_load_of_missing_weights_is_one_line(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch, run_zoo: Any
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(kit.root))
    hf = {"repo": "owner/absent", "revision": REVISION, "filename": "model.safetensors"}
    kit.write(kit.timm_manifest(checkpoint={"hf": hf}))
    code, out, err = run_zoo("load", "testing/tiny")
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: weights not available: owner/absent/model.safetensors")
    assert "hf download" in lines[0]
    assert "Traceback" not in err


def test_unreachable_hub_fails_fast_with_the_clear_message(
    kit: Kit, hf_cache: HfCache, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("ZOO_CONNECT_TIMEOUT", "1")
    hf = {"repo": "owner/absent", "revision": REVISION, "filename": "model.safetensors"}
    start = time.monotonic()
    with pytest.raises(DownloadError, match=f"cannot reach http://127.0.0.1:{closed_port}") as info:
        kit.load(kit.timm_manifest(checkpoint={"hf": hf}))
    assert time.monotonic() - start < 15
    assert "checkpoint.hf (owner/absent/model.safetensors@" in str(info.value)
    assert "ZOO_MIRROR" in str(info.value)


# -- nested keys, remaps, strictness ---------------------------------------------------------------


def _nest(state: dict[str, torch.Tensor], key: str) -> dict[str, Any]:
    node: Any = state
    for part in reversed(key.split(".")):
        node = {part: node}
    return node


@pytest.mark.parametrize("key", ["state_dict", "model", "teacher.backbone"])
def test_checkpoint_key_selects_the_nested_state_dict(kit: Kit, key: str) -> None:
    source = kit.timm_source()
    nested = _nest(source.state_dict(), key)
    nested["epoch"] = 7  # training checkpoints carry more than weights
    kit.save(nested, kit.folder / "ckpt.pth")
    _check_equal(
        kit.load(kit.timm_manifest(checkpoint={"path": "ckpt.pth", "key": key})), source, kit
    )


@pytest.mark.parametrize(("key", "prefix"), [("visual", "visual."), ("model.visual", "visual.")])
def test_checkpoint_key_selects_a_flat_prefix(kit: Kit, key: str, prefix: str) -> None:
    # A full CLIP state dict: the image tower's keys under visual., the text tower beside them.
    source = kit.timm_source()
    flat: dict[str, Any] = {prefix + k: v for k, v in source.state_dict().items()}
    flat["transformer.resblocks.0.attn.in_proj_weight"] = torch.zeros(3, 3)  # the text tower
    flat["logit_scale"] = torch.ones(())
    kit.save(_nest(flat, "model") if key.startswith("model.") else flat, kit.folder / "clip.pth")
    model = kit.load(kit.timm_manifest(checkpoint={"path": "clip.pth", "key": key}))
    _check_equal(model, source, kit)


def test_a_key_that_is_neither_dict_nor_prefix_lists_the_keys(kit: Kit) -> None:
    flat = {f"visual.{k}": v for k, v in kit.timm_source().state_dict().items()}
    kit.save(flat, kit.folder / "clip.pth")
    with pytest.raises(LoadError, match=r"no key 'vis'.*keys: visual\."):
        kit.load(kit.timm_manifest(checkpoint={"path": "clip.pth", "key": "vis"}))


def test_wrong_checkpoint_key_lists_the_keys_there_are(kit: Kit) -> None:
    kit.save({"teacher": kit.timm_source().state_dict()}, kit.folder / "ckpt.pth")
    with pytest.raises(LoadError, match=r"no key 'student'.*keys: teacher"):
        kit.load(kit.timm_manifest(checkpoint={"path": "ckpt.pth", "key": "student"}))


def test_nested_checkpoint_without_key_suggests_one(kit: Kit) -> None:
    kit.save({"teacher": kit.timm_source().state_dict()}, kit.folder / "ckpt.pth")
    with pytest.raises(LoadError, match=r"Nested dicts: teacher; set checkpoint\.key"):
        kit.load(kit.timm_manifest(checkpoint={"path": "ckpt.pth"}))


def test_remap_strip_rename_drop(kit: Kit) -> None:
    source = kit.timm_source()
    state = {}
    for key, value in source.state_dict().items():
        state["module.backbone." + key.replace("blocks.", "layers.")] = value
    state["module.backbone.dino_head.weight"] = torch.zeros(3, 3)
    state["module.backbone.dino_head.last.bias"] = torch.zeros(3)
    kit.save(state, kit.folder / "tiny.safetensors")
    remap = {
        "strip_prefix": ["module.", "backbone."],
        "rename": {r"^layers\.(\d+)\.": r"blocks.\1."},
        "drop": ["dino_head.*"],
    }
    model = kit.load(kit.timm_manifest(checkpoint={"path": "tiny.safetensors", "remap": remap}))
    _check_equal(model, source, kit)


def test_strict_mismatch_lists_the_first_missing_and_unexpected_keys(kit: Kit) -> None:
    state = kit.timm_source().state_dict()
    for key in ("norm.weight", "norm.bias"):
        state.pop(key)
    state["extra.weight"] = torch.zeros(2)
    kit.save(state, kit.folder / "tiny.safetensors")
    with pytest.raises(CheckpointMismatchError) as info:
        kit.load(kit.timm_manifest(checkpoint={"path": "tiny.safetensors"}))
    message = str(info.value)
    assert "2 missing: norm.weight, norm.bias" in message
    assert "1 unexpected: extra.weight" in message
    assert "checkpoint.remap" in message
    assert isinstance(info.value, LoadError)


def test_shape_mismatch_is_always_an_error(kit: Kit) -> None:
    state = kit.timm_source().state_dict()
    state["norm.weight"] = torch.ones(16)
    kit.save(state, kit.folder / "tiny.safetensors")
    for strict in (True, False):
        with pytest.raises(
            CheckpointMismatchError, match=r"shape mismatch: norm.weight \(16,\) vs \(32,\)"
        ):
            kit.load(kit.timm_manifest(checkpoint={"path": "tiny.safetensors", "strict": strict}))


def test_strict_false_loads_what_is_there_and_initializes_the_rest(kit: Kit) -> None:
    source = kit.timm_source()
    state = dict(source.state_dict())
    state.pop("norm.weight")
    state["extra.weight"] = torch.zeros(2)
    kit.save(state, kit.folder / "tiny.safetensors")
    model = kit.load(kit.timm_manifest(checkpoint={"path": "tiny.safetensors", "strict": False}))
    loaded = model.backbone.state_dict()
    for key, value in state.items():
        if key != "extra.weight":
            torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    assert not loaded["norm.weight"].is_meta
    assert torch.equal(loaded["norm.weight"], torch.ones(32))  # LayerNorm's own initialization
    assert not any(p.is_meta for p in model.parameters())


# -- weights-only pickles --------------------------------------------------------------------------


def _touch(path: str) -> None:
    Path(path).touch()


class Payload:
    """An object whose unpickling runs code (writes a file)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _touch, (self.path,)


def test_pickle_with_an_arbitrary_object_is_refused_unexecuted(kit: Kit) -> None:
    marker = kit.tmp / "unpickled"
    state: dict[str, Any] = dict(kit.timm_source().state_dict())
    kit.save({"state_dict": state, "config": Payload(marker)}, kit.folder / "ckpt.pth")
    assert not marker.exists()
    with pytest.raises(LoadError, match=r"weights_only=True\), so that reading weights") as info:
        kit.load(kit.timm_manifest(checkpoint={"path": "ckpt.pth", "key": "state_dict"}))
    # The blocked function is named, read off the pickle without running it.
    assert f"({__name__}._touch)" in str(info.value)
    assert not marker.exists()


def test_truncated_safetensors_is_a_load_error(kit: Kit) -> None:
    path = kit.save(kit.timm_source().state_dict(), kit.folder / "tiny.safetensors")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(LoadError, match=r"cannot read .* as safetensors"):
        kit.load(kit.timm_manifest(checkpoint={"path": "tiny.safetensors"}))


# -- no wasted work --------------------------------------------------------------------------------
#
# Building a model with random weights and then overwriting them is what zoo must not do. Every
# random initializer (timm's trunc_normal_, nn.Linear's kaiming_uniform_, normal_ ...) draws from
# torch's CPU generator when it fills a real tensor; on the meta device it draws nothing. So the
# generator's state after a load tells whether any real tensor was randomly initialized, whichever
# initializer the architecture uses, without replacing any of them. The random-init load is the
# control that shows the probe works.


def _draws_random_numbers(load: Any) -> bool:
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    load()
    return not torch.equal(before, torch.get_rng_state())


def test_timm_load_with_weights_does_no_random_init(kit: Kit) -> None:
    source = kit.timm_source()
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    data = kit.timm_manifest(checkpoint={"path": "tiny.safetensors"})
    assert _draws_random_numbers(lambda: kit.load(data, pretrained=False))
    models = []
    assert not _draws_random_numbers(lambda: models.append(kit.load(data)))
    _check_equal(models[0], source, kit)


def test_function_load_with_weights_does_no_random_init(kit: Kit) -> None:
    source = kit.timm_source()
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    arguments = {"model_name": ARCH, "num_classes": 0, **TINY_KWARGS}
    wrapper = {"type": "function", "path": "timm.models.create_model", "arguments": arguments}
    data = kit.manifest(wrapper, kit.vit_output(), checkpoint={"path": "tiny.safetensors"})
    assert _draws_random_numbers(lambda: kit.load(data, pretrained=False))
    assert not _draws_random_numbers(lambda: kit.load(data))


def test_torchhub_load_with_weights_does_no_random_init(kit: Kit) -> None:
    hubconf = kit.write_module("hubconf", folder=kit.folder / "hubrepo")
    source = kit.import_file(hubconf).token_model()
    kit.save(source.state_dict(), kit.folder / "tokens.safetensors")
    wrapper = {"type": "torchhub", "source": "local", "repo": "hubrepo", "entry": "token_model"}
    data = kit.manifest(wrapper, kit.vit_output(), checkpoint={"path": "tokens.safetensors"})
    assert not _draws_random_numbers(lambda: kit.load(data, trust_remote_code=True))
