"""Strict means strict for every wrapper: a transformers folder with missing, unexpected or
mis-shaped weights is one error naming the keys; ``key`` and ``remap`` apply to it; checkpoint
fields a wrapper cannot honour are validation errors. Real save_pretrained folders throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.loading.loading_kit import HF_CONFIG, Kit, hf_manifest, hf_source
from zoo.errors import CheckpointMismatchError, ManifestError

GONE = "encoder.layer.1.output.dense.weight"  # the file's name (transformers' older layout)


def _edit(folder: Path, change: Any) -> None:
    state = load_file(str(folder / "model.safetensors"))
    change(state)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


def _load(kit: Kit, folder: str = "vit_hf", **checkpoint: Any) -> Any:
    return kit.load(hf_manifest(kit, checkpoint={"path": folder, **checkpoint}))


def test_a_missing_weight_is_an_error_naming_it(kit: Kit, run_cli: Any) -> None:
    hf_source(kit.folder / "vit_hf")
    _edit(kit.folder / "vit_hf", lambda s: s.pop(GONE))
    with pytest.raises(CheckpointMismatchError) as info:
        _load(kit)
    assert len(info.value.missing) == 1
    assert info.value.missing[0].startswith(("layers.1.", "encoder.layer.1."))
    assert info.value.missing[0].endswith(".weight")
    assert info.value.unexpected == []
    code, out, err = run_cli(
        "load", str(kit.write(hf_manifest(kit, checkpoint={"path": "vit_hf"})))
    )
    assert code == 1
    assert out == ""
    assert "1 missing" in err
    assert "Traceback" not in err
    assert "pretrained" not in err


def _save_without_pooler(folder: Path) -> Any:
    import transformers

    torch.manual_seed(0)
    config = transformers.ViTConfig(**{k: v for k, v in HF_CONFIG.items() if k != "model_type"})
    source = transformers.ViTModel(config, add_pooling_layer=False).eval()
    source.save_pretrained(folder)
    return source


def test_a_missing_pooler_the_entry_does_not_use_names_add_pooling_layer(kit: Kit) -> None:
    source = _save_without_pooler(kit.folder / "vit_hf")
    with pytest.raises(CheckpointMismatchError) as info:
        _load(kit)  # pooling: cls
    assert [k.split(" ")[0] for k in info.value.missing] == [
        "pooler.dense.bias",
        "pooler.dense.weight",
    ]
    assert "`wrapper.kwargs: {add_pooling_layer: false}`" in str(info.value)
    assert "pathology/owkin_phikon" in str(info.value)
    assert "Fix checkpoint.key" not in str(info.value)
    # ... and that fix loads it, strictly
    manifest = hf_manifest(kit, checkpoint={"path": "vit_hf"}, kwargs={"add_pooling_layer": False})
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(
            kit.load(manifest)(x), source(pixel_values=x).last_hidden_state[:, 0], rtol=0, atol=0
        )


def test_a_missing_pooler_the_entry_uses_keeps_the_usual_advice(kit: Kit) -> None:
    _save_without_pooler(kit.folder / "vit_hf")
    with pytest.raises(CheckpointMismatchError) as info:
        kit.load(hf_manifest(kit, pooling="pooler", checkpoint={"path": "vit_hf"}))
    assert "add_pooling_layer" not in str(info.value)
    assert "Fix checkpoint.key or checkpoint.remap" in str(info.value)


def test_a_mis_shaped_weight_is_always_an_error(kit: Kit) -> None:
    hf_source(kit.folder / "vit_hf")
    _edit(kit.folder / "vit_hf", lambda s: s.__setitem__(GONE, torch.zeros(32, 63)))
    with pytest.raises(CheckpointMismatchError, match="shape mismatch") as info:
        _load(kit, strict=False)
    assert len(info.value.mismatched) == 1


def test_an_unexpected_weight_is_an_error_unless_strict_is_off(kit: Kit) -> None:
    source = hf_source(kit.folder / "vit_hf")
    _edit(kit.folder / "vit_hf", lambda s: s.__setitem__("extra.weight", torch.zeros(3)))
    with pytest.raises(CheckpointMismatchError) as info:
        _load(kit)
    assert info.value.unexpected == ["extra.weight"]
    model = _load(kit, strict=False)
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), source(pixel_values=x).last_hidden_state[:, 0], rtol=0, atol=0
        )


def test_remap_applies_to_a_transformers_checkpoint(kit: Kit) -> None:
    source = hf_source(kit.folder / "vit_hf")
    _edit(
        kit.folder / "vit_hf",
        lambda s: s.update(
            {f"backbone.{k}": s.pop(k) for k in list(s)} | {"head.w": torch.ones(2)}
        ),
    )
    with pytest.raises(CheckpointMismatchError):
        _load(kit)
    model = _load(kit, remap={"strip_prefix": ["backbone."], "drop": ["head.*"]})
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), source(pixel_values=x).last_hidden_state[:, 0], rtol=0, atol=0
        )


def test_key_selects_the_state_dict_of_a_pickled_transformers_checkpoint(kit: Kit) -> None:
    source = hf_source(kit.folder / "vit_hf")
    folder = kit.folder / "vit_hf"
    state = load_file(str(folder / "model.safetensors"))
    torch.save({"model": state, "epoch": 3}, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    model = _load(kit, format="pickle", key="model")
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), source(pixel_values=x).last_hidden_state[:, 0], rtol=0, atol=0
        )


def test_sharded_checkpoints_load_every_shard(kit: Kit) -> None:
    import transformers

    torch.manual_seed(0)
    from tests.loading.loading_kit import HF_CONFIG

    config = transformers.ViTConfig(**{k: v for k, v in HF_CONFIG.items() if k != "model_type"})
    source = transformers.ViTModel(config).eval()
    source.save_pretrained(kit.folder / "vit_hf", max_shard_size="20KB")
    assert (kit.folder / "vit_hf" / "model.safetensors.index.json").is_file()
    model = _load(kit)
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), source(pixel_values=x).last_hidden_state[:, 0], rtol=0, atol=0
        )


def test_transformers_prints_no_progress_bar_or_load_report(
    kit: Kit, capfd: pytest.CaptureFixture[str]
) -> None:
    hf_source(kit.folder / "vit_hf")
    capfd.readouterr()
    _load(kit)
    out, err = capfd.readouterr()
    assert out == ""
    assert "Loading weights" not in err
    assert "LOAD REPORT" not in err
    assert err == ""


# -- fields a wrapper cannot honour are validation errors -------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key", "state_dict"),
        ("remap", {"strip_prefix": ["model."]}),
        ("strict", False),
        ("format", "safetensors"),
    ],
)
def test_onnx_refuses_checkpoint_fields_it_cannot_apply(
    kit: Kit, write_manifest: Any, field: str, value: Any
) -> None:
    data = kit.manifest(
        {"type": "onnx"},
        {"embedding_dim": 8, "pooling": "none"},
        checkpoint={"path": "model.onnx", field: value},
    )
    with pytest.raises(ManifestError, match=f"checkpoint.{field} cannot apply to an onnx wrapper"):
        kit.load(data)


def test_a_single_file_wrapper_needs_a_hub_filename(kit: Kit) -> None:
    data = kit.timm_manifest(checkpoint={"hf": {"repo": "o/r", "revision": "a" * 40}})
    with pytest.raises(ManifestError, match=r"set checkpoint\.hf\.filename") as info:
        kit.load(data)
    assert info.value.problems[0].path == "checkpoint.hf.filename"
