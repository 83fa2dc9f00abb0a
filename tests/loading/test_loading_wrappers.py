"""Each wrapper type, end to end: a tiny model saved in tmp_path, loaded through a manifest,
gives exactly the source model's own embeddings and block outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tests.loading.loading_kit import (
    TINY_KWARGS,
    Kit,
    block_outputs,
    hf_manifest,
    hf_source,
    token_maps,
)

GRID = (4, 4)  # 32x32 input, 8x8 patches


def _pool(tokens: torch.Tensor, pooling: str, prefix: int = 1) -> torch.Tensor:
    cls, mean = tokens[:, 0], tokens[:, prefix:].mean(dim=1)
    return {"cls": cls, "mean": mean, "cls+mean": torch.cat([cls, mean], dim=-1)}[pooling]


# -- timm ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls+mean"])
def test_timm_token_pooling_equals_source(kit: Kit, pooling: str) -> None:
    source = kit.timm_source()
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    model = kit.load(kit.timm_manifest(pooling=pooling, checkpoint={"path": "tiny.safetensors"}))
    x = kit.image()
    with torch.no_grad():
        got = model(x)
        want = _pool(source.forward_features(x), pooling)
    assert got.shape == (2, 64 if pooling == "cls+mean" else 32)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_timm_pooler_is_the_models_own_head(kit: Kit) -> None:
    # global_pool=avg: timm averages the patch tokens and applies fc_norm, which no token pooling does.
    source = kit.timm_source(global_pool="avg")
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    data = kit.timm_manifest(
        kwargs={"global_pool": "avg"}, pooling="pooler", checkpoint={"path": "tiny.safetensors"}
    )
    model = kit.load(data)
    x = kit.image()
    with torch.no_grad():
        got, want = model(x), source(x)
        assert not torch.allclose(want, source.forward_features(x)[:, 1:].mean(1))
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_timm_feature_maps_equal_source_blocks(kit: Kit) -> None:
    source = kit.timm_source(depth=3)
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    model = kit.load(
        kit.timm_manifest(kwargs={"depth": 3}, checkpoint={"path": "tiny.safetensors"}),
        out_indices=2,
    )
    x = kit.image()
    with torch.no_grad():
        maps = model(x)
    want = [token_maps(t, 1, GRID) for t in block_outputs(source, x, [1, 2])]
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4)] * 2
    for got, expected in zip(maps, want, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_timm_checkpoint_with_a_classifier_head_loads(kit: Kit) -> None:
    # timm checkpoints carry their ImageNet head; zoo builds with num_classes=0 and drops it.
    source = kit.timm_source(num_classes=10)
    assert "head.weight" in source.state_dict()
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    model = kit.load(kit.timm_manifest(checkpoint={"path": "tiny.safetensors"}))
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(model(x), source.forward_features(x)[:, 0], rtol=0, atol=0)


# -- transformers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls+mean", "pooler"])
def test_transformers_embedding_equals_source(kit: Kit, pooling: str) -> None:
    source = hf_source(kit.folder / "vit_hf")
    model = kit.load(
        hf_manifest(kit, pooling, checkpoint={"path": "vit_hf", "format": "safetensors"})
    )
    x = kit.image()
    with torch.no_grad():
        got = model(x)
        out = source(pixel_values=x)
    want = out.pooler_output if pooling == "pooler" else _pool(out.last_hidden_state, pooling)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_transformers_feature_maps_equal_hidden_states(kit: Kit) -> None:
    source = hf_source(kit.folder / "vit_hf")
    model = kit.load(hf_manifest(kit, checkpoint={"path": "vit_hf"}), out_indices=(0, 1))
    x = kit.image()
    with torch.no_grad():
        maps = model(x)
        hidden = source(pixel_values=x, output_hidden_states=True).hidden_states
    # hidden_states[0] is the patch embedding; block i is hidden_states[i + 1].
    for got, block in zip(maps, (0, 1), strict=True):
        torch.testing.assert_close(got, token_maps(hidden[block + 1], 1, GRID), rtol=0, atol=0)


def test_transformers_random_init_builds_from_the_inline_config(kit: Kit) -> None:
    model = kit.load(hf_manifest(kit))
    assert type(model.backbone).__name__ == "ViTModel"
    assert model.backbone.config.hidden_size == 32
    with torch.no_grad():
        assert model(kit.image()).shape == (2, 32)


# -- onnx ------------------------------------------------------------------------------------------


class _Exported(nn.Module):
    """timm's forward_features, returning every block's tokens too (as extra graph outputs)."""

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        v = self.vit
        x = v.norm_pre(v.patch_drop(v._pos_embed(v.patch_embed(x))))
        hidden = []
        for block in v.blocks:
            x = block(x)
            hidden.append(x)
        return (v.norm(x), *hidden)


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module]:
    """A tiny ViT exported to ONNX once per module (export takes seconds): ``(file, source)``."""
    source = Kit.timm_source()
    wrapped = _Exported(source).eval()
    x = Kit.image()
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x)[0], source.forward_features(x), rtol=0, atol=0)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    torch.onnx.export(
        wrapped,
        (x,),
        str(path),
        input_names=["pixels"],
        output_names=["tokens", "block0", "block1"],
        dynamo=True,
        verbose=False,
        external_data=False,
    )
    return path, source


def onnx_manifest(kit: Kit, file: Path, pooling: str = "cls") -> dict[str, Any]:
    (kit.folder / "tiny.onnx").write_bytes(file.read_bytes())
    wrapper = {"type": "onnx", "output": "tokens", "hidden_states": ["block0", "block1"]}
    return kit.manifest(wrapper, kit.vit_output(pooling), checkpoint={"path": "tiny.onnx"})


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["cls", "mean", "cls+mean"])
def test_onnx_embedding_equals_source(
    kit: Kit, onnx_model: tuple[Path, nn.Module], pooling: str
) -> None:
    file, source = onnx_model
    model = kit.load(onnx_manifest(kit, file, pooling))
    x = kit.image(seed=1)
    with torch.no_grad():
        want = _pool(source.forward_features(x), pooling)
    got = model(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_onnx_feature_maps_equal_source_blocks(
    kit: Kit, onnx_model: tuple[Path, nn.Module]
) -> None:
    file, source = onnx_model
    model = kit.load(onnx_manifest(kit, file), out_indices=(-1, 0))
    x = kit.image(seed=2)
    maps = model(x)
    want = [token_maps(t, 1, GRID) for t in block_outputs(source, x, [1, 0])]
    for got, expected in zip(maps, want, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


# -- torchhub (source: local) ------------------------------------------------------------------------


def _token_source(kit: Kit, file: Path, seed: int = 0) -> nn.Module:
    module = kit.import_file(file)
    torch.manual_seed(seed)
    source = module.token_model(dim=32, depth=2).eval()
    kit.save(source.state_dict(), kit.folder / "tokens.safetensors")
    return source


def test_torchhub_local_equals_source(kit: Kit) -> None:
    hubconf = kit.write_module("hubconf", folder=kit.folder / "hubrepo")
    source = _token_source(kit, hubconf)
    wrapper = {
        "type": "torchhub",
        "source": "local",
        "repo": "hubrepo",
        "entry": "token_model",
        "kwargs": {"dim": 32},
    }
    data = kit.manifest(
        wrapper, kit.vit_output("cls+mean"), checkpoint={"path": "tokens.safetensors"}
    )
    x = kit.image()
    with torch.no_grad():
        got = kit.load(data, trust_remote_code=True)(x)
        torch.testing.assert_close(
            got, _pool(source.forward_features(x), "cls+mean"), rtol=0, atol=0
        )
        maps = kit.load(data, out_indices=(1, 0), trust_remote_code=True)(x)
        want = source.get_intermediate_layers(x, n=[1, 0], reshape=True)
    for g, w in zip(maps, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_torchhub_local_repo_without_hubconf_is_a_load_error(kit: Kit) -> None:
    from zoo.errors import LoadError

    (kit.folder / "empty").mkdir()
    wrapper = {"type": "torchhub", "source": "local", "repo": "empty", "entry": "token_model"}
    with pytest.raises(LoadError, match=r"hubconf\.py"):
        kit.load(kit.manifest(wrapper, kit.vit_output()), trust_remote_code=True)


def test_torchhub_local_code_runs_only_with_the_opt_in(kit: Kit, run_cli: Any) -> None:
    from zoo.errors import TrustError

    marker = kit.tmp / "hubconf-ran"
    folder = kit.folder / "hubrepo"
    kit.write_module("hubconf", folder=folder)
    hubconf = folder / "hubconf.py"
    hubconf.write_text(f"open({str(marker)!r}, 'w').close()\n" + hubconf.read_text())
    wrapper = {"type": "torchhub", "source": "local", "repo": "hubrepo", "entry": "token_model"}
    data = kit.manifest(wrapper, kit.vit_output())
    with pytest.raises(TrustError, match="trust_remote_code=True") as info:
        kit.load(data)
    assert info.value.flag == "--trust-remote-code"
    assert not marker.exists()  # refused before a line of hubconf.py ran
    code, _, err = run_cli("load", str(kit.write(data)), "--random-init")
    assert code == 1
    assert "--trust-remote-code" in err
    assert not marker.exists()
    kit.load(data, trust_remote_code=True)
    assert marker.exists()


def test_torchhub_local_folder_may_not_leave_the_catalogue_root(kit: Kit, run_cli: Any) -> None:
    from zoo.errors import TrustError

    outside = kit.tmp / "outside"
    kit.write_module("hubconf", folder=outside)
    wrapper = {
        "type": "torchhub",
        "source": "local",
        "repo": "../../outside",
        "entry": "token_model",
    }
    data = kit.manifest(wrapper, kit.vit_output())
    with pytest.raises(TrustError, match="leaves the catalogue root"):
        kit.load(data, trust_remote_code=True)
    code, out, _ = run_cli("validate", str(kit.write(data)))
    assert code == 1
    assert "wrapper.repo: a relative hubconf folder must stay inside the catalogue root" in out
    # An absolute folder is the user's explicit choice: it loads, and validation warns.
    absolute = kit.manifest({**wrapper, "repo": str(outside)}, kit.vit_output())
    kit.load(absolute, trust_remote_code=True)
    code, out, _ = run_cli("validate", "--strict", str(kit.write(absolute)))
    assert code == 1
    assert "wrapper.repo: an absolute hubconf folder" in out


# -- function --------------------------------------------------------------------------------------


def test_function_from_a_trusted_user_module_equals_source(
    kit: Kit, user_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_TRUSTED_MODULES", user_module)
    source = _token_source(kit, kit.tmp / "site" / f"{user_module}.py")
    wrapper = {
        "type": "function",
        "path": f"{user_module}.token_model",
        "arguments": {"dim": 32, "depth": 2},
    }
    data = kit.manifest(wrapper, kit.vit_output("mean"), checkpoint={"path": "tokens.safetensors"})
    x = kit.image()
    with torch.no_grad():
        torch.testing.assert_close(
            kit.load(data)(x), source.forward_features(x)[:, 1:].mean(1), rtol=0, atol=0
        )
        maps = kit.load(data, out_indices=1)(x)
        (want,) = source.get_intermediate_layers(x, n=[1], reshape=True)
    torch.testing.assert_close(maps[0], want, rtol=0, atol=0)


def test_function_timm_create_model_equals_source(kit: Kit) -> None:
    source = kit.timm_source()
    kit.save(source.state_dict(), kit.folder / "tiny.safetensors")
    arguments = {"model_name": "vit_tiny_patch16_224", "num_classes": 0, **TINY_KWARGS}
    wrapper = {"type": "function", "path": "timm.models.create_model", "arguments": arguments}
    data = kit.manifest(wrapper, kit.vit_output("cls"), checkpoint={"path": "tiny.safetensors"})
    x = kit.image()
    model = kit.load(data, out_indices=(0,))
    with torch.no_grad():
        (got,) = model(x)
    torch.testing.assert_close(
        got, token_maps(block_outputs(source, x, [0])[0], 1, GRID), rtol=0, atol=0
    )
