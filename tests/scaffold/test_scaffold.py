"""`zoo new`: drafts from timm's registry and from transformers folders, scaffold to green."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, CliRunner
from zoo.scaffold import schema_reference

#: Drafts from timm names read zoo's index of timm's registry.
pytestmark = pytest.mark.usefixtures("with_timm_index")

pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty catalogue root that is also the bundled one (so `zoo load NAME` finds drafts)."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: catalog)
    return catalog


def _new(run_cli: CliRunner, *args: object) -> tuple[Path, dict[str, Any], str]:
    code, out, err = run_cli("new", *args)
    assert code == 0, err
    file = Path(out.strip())
    text = file.read_text(encoding="utf-8")
    return file, yaml.safe_load(text), text


def _green(run_cli: CliRunner, file: Path, name: str, expect: list[int]) -> None:
    """The draft validates and builds unedited, and loads with random weights."""
    code, out, err = run_cli("validate", "--build", "--json", file)
    report = json.loads(out)
    assert code == 0, report
    assert report["ok"] is True
    assert all(p["severity"] == "warning" for p in report["problems"])
    code, out, err = run_cli("load", name, "--random-init", "--json")
    assert code == 0, err
    assert json.loads(out)["embedding_shape"] == expect


# -- timm --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_timm_vit_scaffold_to_green(run_cli: CliRunner, root: Path) -> None:
    file, data, text = _new(
        run_cli, "timm:vit_small_patch16_224.dino", "vision/dino_s16", "--root", root
    )
    assert file == root / "vision" / "dino_s16.yaml"
    assert text.startswith("# yaml-language-server: $schema=")
    assert data["name"] == "vision/dino_s16"
    assert data["wrapper"] == {"type": "timm", "architecture": "vit_small_patch16_224"}
    assert data["checkpoint"] == {"timm": "dino"}
    assert data["license"] == {"id": "Apache-2.0", "commercial": True}
    assert data["input"]["size"] == [224, 224]
    assert data["input"]["crop_pct"] == 0.9
    assert data["input"]["interpolation"] == "bicubic"
    assert data["output"] == {
        "embedding_dim": 384,
        "pooling": "pooler",
        "prefix_tokens": 1,
        "patch_size": 16,
        "feature_levels": 12,
        "feature_dim": 384,
    }
    assert "# TODO description:" in text
    assert "# TODO paper:" in text
    assert "same_weights_as" not in data  # the (empty) catalogue has no twin
    _green(run_cli, file, "vision/dino_s16", [1, 384])


def test_timm_cnn_scaffold_to_green(run_cli: CliRunner, root: Path) -> None:
    file, data, _ = _new(run_cli, "timm:resnet18", "vision/r18", "--root", root)
    assert data["checkpoint"] == {"timm": "a1_in1k"}  # timm's default tag, as timm/resnet18
    assert data["output"] == {
        "embedding_dim": 512,
        "pooling": "pooler",
        "feature_levels": 5,
        "feature_dim": [64, 64, 128, 256, 512],
    }
    _green(run_cli, file, "vision/r18", [1, 512])
    code, out, _ = run_cli("validate", "--strict", file)
    assert code == 1  # the TODOs left block under --strict
    assert "TODO left: description" in out or "no description" in out


def test_timm_register_tokens(run_cli: CliRunner, root: Path) -> None:
    _, data, _ = _new(run_cli, "timm:vit_small_patch14_reg4_dinov2", "vision/reg4", "--root", root)
    assert data["output"]["prefix_tokens"] == 5
    assert data["output"]["patch_size"] == 14


def test_timm_draft_points_at_an_existing_twin(run_cli: CliRunner, root: Path) -> None:
    _new(run_cli, "timm:resnet18.a1_in1k", "vision/first", "--root", root)
    file, data, text = _new(run_cli, "timm:resnet18.a1_in1k", "vision/second", "--root", root)
    assert data["same_weights_as"] == "vision/first"
    assert "# TODO same_weights_as: vision/first already declares these weights" in text
    code, out, _ = run_cli("validate", "--json", file)
    assert code == 0, out


def test_the_real_catalogue_is_checked_for_twins(run_cli: CliRunner, tmp_path: Path) -> None:
    _, data, _ = _new(
        run_cli, "timm:vit_small_patch16_224.dino", "vision/dino", "--root", tmp_path / "c"
    )
    assert data["same_weights_as"] == "universal/vit_small_patch16_224_dino"


# -- transformers ------------------------------------------------------------------------------


def _save_vit(
    folder: Path, *, registers: int = 0, preprocessor: dict[str, Any] | None = None
) -> Any:
    import torch

    torch.manual_seed(0)
    common = {
        "hidden_size": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": 32,
        "patch_size": 8,
    }
    if registers:
        config = transformers.Dinov2WithRegistersConfig(num_register_tokens=registers, **common)
        model = transformers.Dinov2WithRegistersModel(config)
    else:
        model = transformers.ViTModel(transformers.ViTConfig(**common))
    model.save_pretrained(folder)
    if preprocessor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return model.eval()


@pytest.mark.parametrize("registers", [0, 4])
def test_transformers_folder_scaffold_to_green(
    run_cli: CliRunner, root: Path, registers: int
) -> None:
    import torch

    folder = root / "weights" / "tiny"  # inside the root: a relative checkpoint.path
    model = _save_vit(
        folder,
        registers=registers,
        preprocessor={"image_mean": [0.5] * 3, "image_std": [0.25] * 3, "resample": 2,
                      "size": {"height": 32, "width": 32}},
    )  # fmt: skip
    file, data, text = _new(run_cli, f"hf:{folder}", "vision/tiny", "--root", root)
    wrapper = data["wrapper"]
    assert wrapper["type"] == "transformers"
    assert wrapper["model_class"] == type(model).__name__
    assert wrapper["config"]["model_type"] == model.config.model_type
    assert wrapper["config"]["num_hidden_layers"] == 3
    assert data["checkpoint"] == {"path": "../weights/tiny", "format": "safetensors"}
    assert data["input"] == {
        "size": [32, 32],
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "dynamic_size": False,
    }
    assert data["output"] == {
        "embedding_dim": 32,
        "pooling": "cls",
        "prefix_tokens": 1 + registers,
        "patch_size": 8,
        "feature_levels": 3,
        "feature_dim": 32,
    }
    assert "# TODO license:" in text
    _green(run_cli, file, "vision/tiny", [1, 32])

    # With its weights, the draft returns exactly the saved model's class token.
    import zoo

    loaded = zoo.Catalog().load("vision/tiny")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(pixel_values=x).last_hidden_state[:, 0]
        torch.testing.assert_close(loaded(x), expected)
        maps = loaded.features(x, [0, 1, 2])
    assert [list(m.shape) for m in maps] == [[2, 32, 4, 4]] * 3


def test_transformers_config_json_outside_the_root(
    run_cli: CliRunner, root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "elsewhere"
    _save_vit(
        folder,
        preprocessor={"image_mean": [0.4, 0.4, 0.4], "image_std": [0.2, 0.2, 0.2], "resample": 3,
                      "do_center_crop": True, "size": {"shortest_edge": 256},
                      "crop_size": {"height": 224, "width": 224}},
    )  # fmt: skip
    (folder / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n# tiny\n")
    file, data, _ = _new(run_cli, f"hf:{folder / 'config.json'}", "vision/far", "--root", root)
    assert data["checkpoint"]["path"] == str(folder.resolve())
    assert data["license"] == {"id": "CC-BY-NC-4.0", "commercial": False}
    assert data["input"]["size"] == [224, 224]
    assert data["input"]["crop_pct"] == 0.875
    assert data["input"]["interpolation"] == "bicubic"
    code, out, _ = run_cli("validate", "--build", "--json", file)
    assert code == 0, out
    codes = {p["code"] for p in json.loads(out)["problems"]}
    assert "absolute_path" in codes


def test_transformers_config_without_weights_or_preprocessor(
    run_cli: CliRunner, root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "config_only"
    folder.mkdir()
    config = transformers.ViTConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=96, image_size=64, patch_size=16)  # fmt: skip
    config.save_pretrained(folder)
    file, data, text = _new(run_cli, f"hf:{folder}", "vision/cfg_only", "--root", root)
    assert "checkpoint" not in data
    assert "# TODO checkpoint: no weights" in text
    assert "# TODO input: no usable preprocessor_config.json" in text
    assert data["input"]["size"] == [64, 64]
    assert data["input"]["mean"] == [0.485, 0.456, 0.406]
    _green(run_cli, file, "vision/cfg_only", [1, 48])


def test_transformers_non_vit_config_is_refused(
    run_cli: CliRunner, root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "resnet"
    transformers.ResNetConfig().save_pretrained(folder)
    code, out, err = run_cli("new", f"hf:{folder}", "vision/rn", "--root", root)
    assert code == 2  # a usage error: the folder is not what hf: needs
    assert out == ""
    assert "drafts ViT-style models" in err
    assert "Write this manifest by hand" in err
    assert not (root / "vision" / "rn.yaml").exists()


def test_transformers_folder_without_config(run_cli: CliRunner, root: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("new", f"hf:{tmp_path}", "vision/x", "--root", root)
    assert code == 2  # a usage error: the folder is not what hf: needs
    assert f"no config.json in {tmp_path}" in err


def test_missing_transformers_names_the_extra(
    run_cli: CliRunner, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    code, _, err = run_cli("new", f"hf:{tmp_path}", "vision/x", "--root", root)
    assert code == 1
    assert "pip install 'zoo-backbones[transformers]'" in err


# -- writing and refusing ----------------------------------------------------------------------


def test_refuses_to_overwrite_unless_forced(run_cli: CliRunner, root: Path) -> None:
    file = root / "vision" / "r18.yaml"
    file.parent.mkdir()
    file.write_text("mine\n")
    code, out, err = run_cli("new", "timm:resnet18", "vision/r18", "--root", root)
    assert code == 1
    assert out == ""
    assert err.strip() == (
        f"error: {file} already exists. Pick another name, or pass --force to overwrite it."
    )
    assert file.read_text() == "mine\n"
    code, _, _ = run_cli("new", "timm:resnet18", "vision/r18", "--root", root, "--force")
    assert code == 0
    assert "architecture: resnet18" in file.read_text()
    assert [p.name for p in file.parent.iterdir()] == ["r18.yaml"]  # no partial file left


def test_default_root_is_catalog_in_the_current_directory(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("new", "timm:resnet18", "vision/r18")
    assert code == 0, err
    assert out.strip() == str(Path("catalog") / "vision" / "r18.yaml")
    assert "zoo validate --build catalog/vision/r18.yaml" in err


def test_json_output(run_cli: CliRunner, root: Path) -> None:
    code, out, _ = run_cli("new", "timm:resnet18", "vision/r18", "--root", root, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["file"] == str(root / "vision" / "r18.yaml")
    assert data["name"] == "vision/r18"
    assert {t["message"].split(":")[1].strip() for t in data["todo"]} >= {"description", "paper"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resnet18", "vision/x"], "give timm:<architecture>[.<tag>]"),
        (["onnx:model.onnx", "vision/x"], "cannot scaffold from 'onnx:model.onnx'"),
        (["timm:ResNet18", "vision/x"], "is not a timm name"),
        (["timm:", "vision/x"], "cannot scaffold from 'timm:'"),
        (["timm:resnet18", "noslash"], "is not a model name"),
        (["timm:resnet18", "Vision/X"], "is not a model name"),
        (["timm:resnet18"], "Missing argument"),
    ],
)
def test_usage_errors(run_cli: CliRunner, root: Path, args: list[str], message: str) -> None:
    code, out, err = run_cli("new", *args, "--root", root)
    assert code == 2
    assert out == ""
    assert message in err
    assert not any(root.iterdir())


def test_unknown_timm_architecture(run_cli: CliRunner, root: Path) -> None:
    code, _, err = run_cli("new", "timm:vit_smal_patch16_224", "vision/x", "--root", root)
    assert code == 1
    assert "error: no model named 'timm/vit_smal_patch16_224'" in err


# -- the schema header -------------------------------------------------------------------------


def test_schema_header_is_relative_inside_the_checkout() -> None:
    target = REPO_ROOT / "catalog" / "vision" / "new.yaml"
    assert schema_reference(target) == "../../schemas/manifest.schema.json"


def test_schema_header_uses_a_private_catalogues_own_copy(
    run_cli: CliRunner, tmp_path: Path, root: Path
) -> None:
    repo = tmp_path / "private"
    (repo / "schemas").mkdir(parents=True)
    (repo / "schemas" / "manifest.schema.json").write_text("{}")
    _, _, text = _new(run_cli, "timm:resnet18", "vision/r18", "--root", repo / "catalog")
    assert (
        text.splitlines()[0] == "# yaml-language-server: $schema=../../schemas/manifest.schema.json"
    )


def test_schema_header_falls_back_to_the_installed_schema(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("zoo.catalog.roots.bundled_root", lambda: REPO_ROOT / "catalog")
    _, _, text = _new(run_cli, "timm:resnet18", "vision/r18", "--root", tmp_path / "c")
    uri = (REPO_ROOT / "schemas" / "manifest.schema.json").resolve().as_uri()
    assert text.splitlines()[0] == f"# yaml-language-server: $schema={uri}"
