"""Loading through the catalogue and the command line: eva's documented examples on the bundled
catalogue, meta-device builds, declared-vs-built checks, ``zoo validate --build`` and ``zoo load``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import zoo
from tests.loading.loading_kit import Kit, block_outputs, hf_manifest, token_maps
from zoo import load_manifest
from zoo.loading.check import check_build

EVA_EXAMPLE = "universal/vit_small_patch16_224_random"

# -- eva's registry examples, on the bundled catalogue ---------------------------------------------


def test_eva_example_embedding() -> None:
    model = zoo.load(EVA_EXAMPLE, pretrained=False)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 384)
    assert model.manifest.name == EVA_EXAMPLE


def test_eva_example_last_two_feature_maps() -> None:
    model = zoo.load(EVA_EXAMPLE, pretrained=False, out_indices=2)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        maps = model(x)
    assert [tuple(m.shape) for m in maps] == [(1, 384, 14, 14)] * 2
    want = [token_maps(t, 1, (14, 14)) for t in block_outputs(model.backbone, x, [10, 11])]
    for got, expected in zip(maps, want, strict=True):
        torch.testing.assert_close(got, expected)


def test_eva_example_penultimate_and_fourth_from_last() -> None:
    model = zoo.load(EVA_EXAMPLE, pretrained=False, out_indices=(-2, -4))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        maps = model(x)
    assert [tuple(m.shape) for m in maps] == [(1, 384, 14, 14)] * 2
    want = [token_maps(t, 1, (14, 14)) for t in block_outputs(model.backbone, x, [10, 8])]
    for got, expected in zip(maps, want, strict=True):
        torch.testing.assert_close(got, expected)


# -- meta builds -----------------------------------------------------------------------------------


def test_meta_build_allocates_nothing_and_has_the_right_shapes(kit: Kit) -> None:
    # The weights do not exist: a meta build never looks for them.
    data = kit.timm_manifest(checkpoint={"path": "absent.safetensors"})
    model = load_manifest(kit.write(data), meta=True)
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors
    assert all(t.is_meta for t in tensors)
    x = torch.zeros(1, 3, 32, 32, device="meta")
    emb = model(x)
    assert emb.is_meta
    assert emb.shape == (1, 32)
    maps = model.features(x, [0, 1])
    assert [tuple(m.shape) for m in maps] == [(1, 32, 4, 4)] * 2


def test_meta_build_of_the_bundled_example() -> None:
    manifest = zoo.Catalog().get(EVA_EXAMPLE)
    model = load_manifest(manifest, meta=True, out_indices=(-2, -4))
    assert all(p.is_meta for p in model.parameters())
    maps = model(torch.zeros(2, 3, 224, 224, device="meta"))
    assert [tuple(m.shape) for m in maps] == [(2, 384, 14, 14)] * 2


def test_meta_build_of_a_transformers_model(kit: Kit) -> None:
    model = load_manifest(kit.write(hf_manifest(kit, checkpoint={"path": "absent"})), meta=True)
    assert all(p.is_meta for p in model.parameters())
    assert model(torch.zeros(1, 3, 32, 32, device="meta")).shape == (1, 32)


# -- declared against built ------------------------------------------------------------------------


def _read(path: Path) -> Any:
    return zoo.catalog.reader.read_manifest(path)


def test_check_build_ok(kit: Kit) -> None:
    result = check_build(_read(kit.write(kit.timm_manifest())))
    assert result.ok, result.problems
    assert result.device == "meta"
    assert result.embedding_shape == [1, 32]
    assert result.feature_shapes == [[1, 32, 4, 4]] * 2


def test_check_build_ok_for_the_bundled_example() -> None:
    result = check_build(zoo.Catalog().get(EVA_EXAMPLE))
    assert result.ok, result.problems
    assert result.embedding_shape == [1, 384]
    assert len(result.feature_shapes) == 12


def test_check_build_reports_a_wrong_pooler_dim(kit: Kit) -> None:
    data = hf_manifest(kit, "pooler")
    data["output"]["embedding_dim"] = 48
    result = check_build(_read(kit.write(data)))
    assert not result.ok
    assert [p.path for p in result.problems] == ["output.embedding_dim"]
    assert "declared 48" in result.problems[0].message
    assert "[1, 32]" in result.problems[0].message


def test_check_build_reports_wrong_feature_dims(kit: Kit) -> None:
    data = hf_manifest(kit, "pooler")
    data["output"]["feature_dim"] = [32, 16]
    result = check_build(_read(kit.write(data)))
    assert not result.ok
    assert [p.path for p in result.problems] == ["output.feature_dim"]
    assert (
        "feature level 1: expected [1, 16, 4, 4], got [1, 32, 4, 4]" in result.problems[0].message
    )


def test_check_build_names_the_field_of_a_wrong_timm_dim(kit: Kit) -> None:
    data = kit.timm_manifest()
    data["output"].update(embedding_dim=64, feature_dim=64)
    result = check_build(_read(kit.write(data)))
    assert not result.ok
    assert any("output.embedding_dim" in f"{p.path} {p.message}" for p in result.problems), (
        result.problems
    )


def test_check_build_of_a_wrong_timm_dim_fails(kit: Kit) -> None:
    data = kit.timm_manifest()
    data["output"].update(embedding_dim=64, feature_dim=64)
    result = check_build(_read(kit.write(data)))
    assert not result.ok
    assert "declared 64, built 32" in result.problems[0].message


def test_validate_build_exit_codes(kit: Kit, run_zoo: Any) -> None:
    good = kit.write(kit.timm_manifest())
    code, _out, err = run_zoo("validate", "--build", good.parent)
    assert code == 0, err
    bad = kit.timm_manifest(name="testing/wrong")
    bad["output"].update(embedding_dim=64, feature_dim=64)
    wrong = kit.write(bad)
    code, out, err = run_zoo("validate", "--build", good.parent)
    assert code == 1
    assert str(wrong) in out
    assert str(good) not in out
    assert "FAILED" in err


# -- zoo load --------------------------------------------------------------------------------------


@pytest.fixture
def on_path(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> Kit:
    """A catalogue root with a 4-block tiny ViT (weights saved, dynamic size) in ZOO_CATALOG_PATH."""
    source = kit.timm_source(depth=4, dynamic_img_size=True)
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    data = kit.timm_manifest(
        kwargs={"depth": 4, "dynamic_img_size": True},
        checkpoint={"path": "tiny.safetensors"},
        dynamic_size=True,
    )
    kit.write(data)
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(kit.root))
    return kit


def _json(run_zoo: Any, *args: str) -> dict[str, Any]:
    code, out, err = run_zoo("load", "testing/tiny", "--json", *args)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_cli_load_json(on_path: Kit, run_zoo: Any) -> None:
    data = _json(run_zoo)
    assert {
        "name",
        "parameters",
        "build_seconds",
        "forward_seconds",
        "embedding_shape",
    } <= data.keys()
    assert data["name"] == "testing/tiny"
    assert data["embedding_shape"] == [1, 32]
    assert data["pretrained"] is True
    assert data["parameters"] == sum(p.numel() for p in on_path.timm_source(depth=4).parameters())
    assert data["build_seconds"] >= 0
    assert data["forward_seconds"] >= 0
    assert "feature_shapes" not in data


def test_cli_load_out_indices(on_path: Kit, run_zoo: Any) -> None:
    data = _json(run_zoo, "--out-indices=-2,-4")
    assert data["feature_shapes"] == [[1, 32, 4, 4]] * 2
    assert "embedding_shape" not in data


def test_cli_load_input_size(on_path: Kit, run_zoo: Any) -> None:
    data = _json(run_zoo, "--input-size", "32,48", "--out-indices", "1", "--batch", "2")
    assert data["input_shape"] == [2, 3, 32, 48]
    assert data["feature_shapes"] == [[2, 32, 4, 6]]


def test_cli_load_random_init_needs_no_weights(on_path: Kit, run_zoo: Any) -> None:
    (on_path.folder / "tiny.safetensors").unlink()
    code, _out, err = run_zoo("load", "testing/tiny")
    assert code == 1
    assert err.startswith("error: weights not available")
    data = _json(run_zoo, "--random-init")
    assert data["pretrained"] is False
    assert data["embedding_shape"] == [1, 32]


def test_cli_load_human_output(on_path: Kit, run_zoo: Any) -> None:
    code, out, _err = run_zoo("load", "testing/tiny")
    assert code == 0
    assert "testing/tiny" in out
    assert "embedding_shape" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input-size", "abc"], "--input-size"),
        (["--out-indices", "x"], "out_indices"),
        (["--out-indices=9"], "valid: 1..4"),
    ],
)
def test_cli_load_bad_arguments(on_path: Kit, run_zoo: Any, args: list[str], message: str) -> None:
    code, out, err = run_zoo("load", "testing/tiny", *args)
    assert code in (1, 2)
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_cli_load_unknown_name_suggests(on_path: Kit, run_zoo: Any) -> None:
    code, _out, err = run_zoo("load", "testing/tiyn")
    assert code == 1
    assert "did you mean 'testing/tiny'" in err.lower()
