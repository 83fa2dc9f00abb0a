"""eva's model wrappers (seed 002) on tiny local models: torch.hub folder, module, timm, transformers, ONNX."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from zoo.compat.eva import (
    BaseModel,
    ExtractCLSFeatures,
    ExtractPatchFeatures,
    HuggingFaceModel,
    ModelFromFunction,
    ONNXModel,
    TimmModel,
    TorchHubModel,
)
from zoo.errors import (
    CheckpointMismatchError,
    LoadError,
    OutIndicesError,
    TrustError,
    UsageError,
    WeightsNotAvailableError,
)
from zoo.loading.model import ZooModel

X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _reference(module_name: str, seed: int = 0) -> nn.Module:
    return importlib.import_module(module_name).tiny_vit(seed=seed).eval()


# -- torch.hub -------------------------------------------------------------------------------------


def test_model_from_function_torch_hub_load(hub_repo: Path, tiny_module: str) -> None:
    # the seed's torch.hub.load config, pointed at a local repository
    model = ModelFromFunction(
        path=torch.hub.load,
        arguments={"repo_or_dir": str(hub_repo), "model": "tiny_vit", "source": "local"},
    )
    assert isinstance(model.model, ZooModel)
    # a manifest never names torch.hub.load: eva's call becomes a torchhub wrapper
    assert model.model.manifest.wrapper.type == "torchhub"
    with torch.no_grad():
        torch.testing.assert_close(model(X), _reference(tiny_module)(X))


def test_torch_hub_model_tokens_and_feature_maps(hub_repo: Path, tiny_module: str) -> None:
    reference = _reference(tiny_module)
    tokens = TorchHubModel("tiny_vit", str(hub_repo), pretrained=False)
    with torch.no_grad():
        torch.testing.assert_close(tokens(X), reference(X))
        maps = TorchHubModel("tiny_vit", str(hub_repo), out_indices=(-1, 0))(X)
        want = reference.get_intermediate_layers(X, n=[2, 0], reshape=True)
    assert [tuple(m.shape) for m in maps] == [(2, 16, 4, 4)] * 2
    for got, expected in zip(maps, want, strict=True):
        torch.testing.assert_close(got, expected)


def test_torch_hub_model_rejects_what_it_cannot_do(hub_repo: Path) -> None:
    with pytest.raises(UsageError, match="norm=True"):
        TorchHubModel("tiny_vit", str(hub_repo), norm=True)
    with pytest.raises(OutIndicesError):
        TorchHubModel("tiny_vit", str(hub_repo), out_indices=4)


def test_torch_hub_github_repo_needs_trust() -> None:
    with pytest.raises(TrustError):
        TorchHubModel("dino_vits16", "facebookresearch/dino:main", trust_repo=False)


def test_torch_hub_checkpoint_path_loads_weights(
    hub_repo: Path, tiny_module: str, tmp_path: Path
) -> None:
    trained = _reference(tiny_module, seed=7)
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": trained.state_dict(), "epoch": 3}, ckpt)  # a Lightning-style file
    model = TorchHubModel("tiny_vit", str(hub_repo), checkpoint_path=str(ckpt))
    with torch.no_grad():
        torch.testing.assert_close(model(X), trained(X))


# -- functions -------------------------------------------------------------------------------------


def test_model_from_function_own_module_needs_allow_list(
    tiny_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = importlib.import_module(tiny_module).tiny_vit
    with pytest.raises(TrustError, match=f"ZOO_TRUSTED_MODULES={tiny_module}"):
        ModelFromFunction(fn)
    monkeypatch.setenv("ZOO_TRUSTED_MODULES", tiny_module)
    model = ModelFromFunction(f"{tiny_module}.tiny_vit", arguments={"dim": 8})
    assert model(X).shape == (2, 17, 8)


def test_model_from_function_checkpoint(
    tiny_module: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    monkeypatch.setenv("ZOO_TRUSTED_MODULES", tiny_module)
    trained = _reference(tiny_module, seed=3)
    save_file(trained.state_dict(), str(tmp_path / "w.safetensors"))
    model = ModelFromFunction(
        f"{tiny_module}.tiny_vit", checkpoint_path=str(tmp_path / "w.safetensors")
    )
    with torch.no_grad():
        torch.testing.assert_close(model(X), trained(X))
    save_file({"other": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointMismatchError):
        ModelFromFunction(
            f"{tiny_module}.tiny_vit", checkpoint_path=str(tmp_path / "bad.safetensors")
        )
    with pytest.raises(WeightsNotAvailableError):
        ModelFromFunction(f"{tiny_module}.tiny_vit", checkpoint_path=str(tmp_path / "none.pt"))


def test_model_from_function_timm_create_model() -> None:
    # the seed's timm.create_model config, without downloading weights
    model = ModelFromFunction(
        "timm.create_model", arguments={"model_name": "resnet18", "pretrained": False}
    )
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_model_from_function_needs_an_importable_function() -> None:
    with pytest.raises(UsageError, match="importable function"):
        ModelFromFunction(lambda: nn.Identity())


# -- timm ------------------------------------------------------------------------------------------


def test_timm_model_embedding_and_feature_maps() -> None:
    model = TimmModel("vit_tiny_patch16_224", pretrained=False, model_kwargs={"img_size": 32})
    assert model(X).shape == (2, 192)
    maps = TimmModel(
        "vit_tiny_patch16_224", pretrained=False, out_indices=2, model_kwargs={"img_size": 32}
    )(X)
    assert [tuple(m.shape) for m in maps] == [(2, 192, 2, 2)] * 2


def test_timm_model_checkpoint_path(tmp_path: Path) -> None:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(5)
    source = timm.create_model("resnet18", num_classes=0).eval()
    save_file(source.state_dict(), str(tmp_path / "r18.safetensors"))
    model = TimmModel("resnet18", checkpoint_path=str(tmp_path / "r18.safetensors"))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))


def test_timm_model_pretrained_offline_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError):
        TimmModel("resnet18.a1_in1k", pretrained=True)


def test_timm_model_is_an_embedding_not_logits() -> None:
    assert TimmModel("resnet18", pretrained=False, model_kwargs={"num_classes": 0})
    with pytest.raises(UsageError, match="num_classes"):
        TimmModel("resnet18", pretrained=False, model_kwargs={"num_classes": 10})


# -- transformers ----------------------------------------------------------------------------------


@pytest.fixture
def hf_folder(tmp_path: Path) -> tuple[Path, nn.Module]:
    import transformers

    torch.manual_seed(0)
    config = transformers.ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )
    source = transformers.ViTModel(config).eval()
    source.save_pretrained(tmp_path / "vit")
    return tmp_path / "vit", source


def test_hugging_face_model_with_output_transforms(hf_folder: tuple[Path, nn.Module]) -> None:
    folder, source = hf_folder
    with torch.no_grad():
        tokens = source(pixel_values=X).last_hidden_state
        cls = HuggingFaceModel(str(folder), tensor_transforms=ExtractCLSFeatures())(X)
        torch.testing.assert_close(cls, tokens[:, 0])
        both = HuggingFaceModel(
            str(folder), transforms=ExtractCLSFeatures(include_patch_tokens=True)
        )
        torch.testing.assert_close(both(X), torch.cat([tokens[:, 0], tokens[:, 1:].mean(1)], -1))
        maps = HuggingFaceModel(str(folder), tensor_transforms=ExtractPatchFeatures())(X)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4)]
    torch.testing.assert_close(maps[0][:, :, 0, 1], tokens[:, 2])


def test_hugging_face_model_loads_a_folder_saved_without_its_pooler(tmp_path: Path) -> None:
    # eva's HuggingFaceModel is transformers' from_pretrained: it initialises the pooler such a
    # folder lacks; so does the drop-in, with a warning naming what it initialised.
    import transformers

    torch.manual_seed(0)
    config = transformers.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=32, patch_size=8,
    )  # fmt: skip
    transformers.ViTModel(config, add_pooling_layer=False).save_pretrained(tmp_path / "vit")
    reference = transformers.ViTModel.from_pretrained(tmp_path / "vit").eval()  # eva's way
    with pytest.warns(
        UserWarning, match=r"2 weight\(s\) .* newly initialised.*pooler\.dense\.bias"
    ):
        model = HuggingFaceModel(str(tmp_path / "vit"), tensor_transforms=ExtractCLSFeatures())
    with torch.no_grad():
        torch.testing.assert_close(model(X), reference(pixel_values=X).last_hidden_state[:, 0])


def test_hugging_face_model_offline_repo_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # zoo/loaders/transformers.py re-wraps the WeightsNotAvailableError as a LoadError (reported)
    with pytest.raises(
        (WeightsNotAvailableError, LoadError), match="weights not available: owkin/phikon"
    ):
        HuggingFaceModel("owkin/phikon", tensor_transforms=ExtractCLSFeatures())


# -- onnx ------------------------------------------------------------------------------------------


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(2).transpose(1, 2)


def test_onnx_model(tmp_path: Path) -> None:
    net = _Net().eval()
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own chatter, not zoo's
        torch.onnx.export(
            net,
            (X,),
            str(path),
            input_names=["x"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            dynamo=True,
            external_data=False,
        )
    model = ONNXModel(str(path))
    with torch.no_grad():
        torch.testing.assert_close(model(X), net(X), rtol=1e-4, atol=1e-5)
    maps = ONNXModel(str(path), tensor_transforms=ExtractPatchFeatures(has_cls_token=False))(X)
    assert tuple(maps[0].shape) == (2, 8, 4, 4)


def test_onnx_model_device_checks(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cpu or cuda"):
        ONNXModel(str(tmp_path / "x.onnx"), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            ONNXModel(str(tmp_path / "x.onnx"), device="cuda")


# -- the template and the transforms ---------------------------------------------------------------


class _Custom(BaseModel):
    def __init__(self, repo: str) -> None:
        super().__init__(tensor_transforms=ExtractCLSFeatures())
        self._repo = repo
        self.model = self.load_model()

    def load_model(self) -> nn.Module:
        return TorchHubModel("tiny_vit", self._repo).model

    def model_forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.model(tensor) * 2


def test_custom_wrapper_follows_the_template(hub_repo: Path, tiny_module: str) -> None:
    with torch.no_grad():
        torch.testing.assert_close(_Custom(str(hub_repo))(X), _reference(tiny_module)(X)[:, 0] * 2)
    with pytest.raises(NotImplementedError, match="load_model"):
        BaseModel().load_model()


def test_extract_transforms() -> None:
    tokens = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(
        2, 6, 3
    )  # cls, 1 register, 4 patches
    torch.testing.assert_close(ExtractCLSFeatures()(tokens), tokens[:, 0])
    torch.testing.assert_close(ExtractCLSFeatures(cls_index=1)(tokens), tokens[:, 1])
    with_patches = ExtractCLSFeatures(num_register_tokens=1, include_patch_tokens=True)(tokens)
    torch.testing.assert_close(with_patches, torch.cat([tokens[:, 0], tokens[:, 2:].mean(1)], -1))
    (grid,) = ExtractPatchFeatures(num_register_tokens=1)(tokens)
    assert tuple(grid.shape) == (2, 3, 2, 2)
    torch.testing.assert_close(grid[:, :, 1, 0], tokens[:, 4])
    with pytest.raises(UsageError, match="square"):
        ExtractPatchFeatures()(tokens)  # 5 patch tokens
    (kept,) = ExtractPatchFeatures(ignore_remaining_dims=True)(tokens)
    torch.testing.assert_close(kept[:, :, 0, 0], tokens[:, 2])
    with pytest.raises(UsageError, match=r"\[B, N, C\]"):
        ExtractCLSFeatures()(torch.zeros(2, 3))
