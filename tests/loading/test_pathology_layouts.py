"""The checkpoint layouts of the pathology entries, loaded for real through zoo's pipeline.

Each test writes a small checkpoint in the layout the authors publish (a DINOv2 teacher
checkpoint, DINOv2's flat backbone layout, a PyTorchModelHubMixin ``encoder.`` prefix, a
torchvision ResNet-50 trunk), takes the ``checkpoint:`` block of the catalogue entry unchanged
except for the file location, and checks that zoo rebuilds exactly the source network.
Architectures are shrunk (the layout rules do not depend on width or depth); the ResNet-50 is
full size because its stage names are what is being proven.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import zoo
from tests.loading.loading_kit import MEAN, STD, Kit

timm = pytest.importorskip("timm")

DIM, DEPTH, HEADS, PATCH, SIZE = 32, 4, 2, 14, 28
SWIGLU = {"$object": "timm.layers.SwiGLUPacked"}
SILU = {"$object": "torch.nn.SiLU"}


def _entry_checkpoint(name: str, path: Path) -> dict[str, Any]:
    """The entry's checkpoint block, pointing at ``path`` (hash and Hub location dropped)."""
    ckpt = zoo.Catalog().get(name).checkpoint
    assert ckpt is not None
    data = ckpt.model_dump(mode="json", exclude={"hf", "url", "sha256", "timm", "path"})
    return {"path": str(path), **data}


def _vit_kwargs(registers: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "img_size": SIZE,
        "patch_size": PATCH,
        "embed_dim": DIM,
        "depth": DEPTH,
        "num_heads": HEADS,
        "init_values": 1.0e-5,
        "mlp_ratio": 4,
    }
    if registers:
        kwargs.update(reg_tokens=registers, no_embed_class=True, mlp_layer=SWIGLU, act_layer=SILU)
    return kwargs


def _source(arch: str, kwargs: dict[str, Any]) -> nn.Module:
    """The network the checkpoint describes, randomly initialised (LayerScale made non-trivial)."""
    from zoo.loading.objects import resolve_objects

    torch.manual_seed(0)
    model = timm.create_model(
        arch, pretrained=False, num_classes=0, **resolve_objects(kwargs, purpose="test source")
    )
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("gamma", "reg_token", "cls_token", "pos_embed")):
                param.normal_()
    return model.eval()


def _dinov2_layout(model: nn.Module, *, chunks: int = 0) -> dict[str, torch.Tensor]:
    """``model``'s weights named as DINOv2's own backbone names them.

    DINOv2 gives the class token a position (the first row of ``pos_embed``) and the registers
    none, calls the registers ``register_tokens`` and the packed SwiGLU ``w12``/``w3``, keeps a
    ``mask_token`` and, with ``block_chunks``, nests block ``i`` as ``blocks.<chunk>.<i>``.
    """
    out: dict[str, torch.Tensor] = {}
    per_chunk = DEPTH // chunks if chunks else DEPTH
    swiglu = type(model.blocks[0].mlp).__name__ == "GluMlp"  # timm.layers.SwiGLUPacked
    for key, value in model.state_dict().items():
        if key.startswith("blocks."):
            index, rest = key.split(".", 2)[1:]
            if swiglu:  # DINOv2's fused SwiGLU is timm's packed one under other names
                rest = rest.replace("mlp.fc1.", "mlp.w12.").replace("mlp.fc2.", "mlp.w3.")
            chunk = f"{int(index) // per_chunk}." if chunks else ""
            out[f"blocks.{chunk}{index}.{rest}"] = value.clone()
        else:
            out[key] = value.clone()
    out["mask_token"] = torch.zeros(1, DIM)
    if "reg_token" in out:
        class_position = torch.randn(1, 1, DIM)
        out["register_tokens"] = out.pop("reg_token")
        out["cls_token"] = out["cls_token"] - class_position
        out["pos_embed"] = torch.cat([class_position, out["pos_embed"]], dim=1)
    return out


def _teacher(backbone: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A DINOv2 training-side teacher checkpoint: ``{"teacher": backbone + heads}``."""
    heads = {
        "dino_head.mlp.0.weight": torch.randn(8, DIM),
        "dino_head.last_layer.weight_g": torch.randn(16, 1),
        "ibot_head.mlp.0.bias": torch.randn(8),
    }
    return {"teacher": {**{f"backbone.{k}": v for k, v in backbone.items()}, **heads}}


def _manifest(
    kit: Kit, entry: str, arch: str, kwargs: dict[str, Any], ckpt: dict[str, Any], prefix: int
) -> dict[str, Any]:
    output = {
        "embedding_dim": DIM,
        "pooling": "cls",
        "prefix_tokens": prefix,
        "patch_size": PATCH,
        "feature_levels": DEPTH,
        "feature_dim": DIM,
    }
    wrapper = {"type": "timm", "architecture": arch, "kwargs": kwargs}
    return kit.manifest(
        wrapper, output, checkpoint=ckpt, size=(SIZE, SIZE), name=f"testing/{entry}"
    )


def _check(kit: Kit, data: dict[str, Any], source: nn.Module) -> None:
    model = kit.load(data)
    x = kit.image(size=(SIZE, SIZE))
    with torch.no_grad():
        want = source.forward_head(source.forward_features(x), pre_logits=True)
        assert torch.allclose(model(x), want, atol=1e-5)
        got = model.features(x, [DEPTH - 1])[0]
    assert got.shape == (2, DIM, SIZE // PATCH, SIZE // PATCH)


@pytest.mark.parametrize(
    ("entry", "chunks", "teacher"),
    [("openpath", 2, True), ("sophont_openmidnight", 0, False)],
)
def test_dinov2_register_checkpoints_load_into_timm(
    kit: Kit, entry: str, chunks: int, teacher: bool
) -> None:
    arch, kwargs = "vit_small_patch14_reg4_dinov2", _vit_kwargs(registers=4)
    source = _source(arch, kwargs)
    state: Any = _dinov2_layout(source, chunks=chunks)
    path = kit.save(_teacher(state) if teacher else state, kit.tmp / f"{entry}.pth")
    ckpt = _entry_checkpoint(f"pathology/{entry}", path)
    _check(kit, _manifest(kit, entry, arch, kwargs, ckpt, prefix=5), source)


def test_dinobloom_teacher_checkpoint_loads_into_timm(kit: Kit) -> None:
    arch, kwargs = "vit_small_patch14_dinov2", _vit_kwargs(registers=0)
    source = _source(arch, kwargs)
    path = kit.save(_teacher(_dinov2_layout(source)), kit.tmp / "DinoBloom-S.pth")
    ckpt = _entry_checkpoint("pathology/marrlab_dinobloom_s", path)
    _check(kit, _manifest(kit, "dinobloom", arch, kwargs, ckpt, prefix=1), source)


def test_sp22m_encoder_prefix_is_stripped(kit: Kit) -> None:
    arch = "vit_small_patch16_224"
    kwargs = {"img_size": 32, "patch_size": 16, "embed_dim": DIM, "depth": DEPTH, "num_heads": 2}
    source = _source(arch, kwargs)
    state = {f"encoder.{k}": v for k, v in source.state_dict().items()}
    path = kit.save(state, kit.tmp / "pytorch_model.bin")
    ckpt = _entry_checkpoint("pathology/mountsinai_sp22m", path)
    data = _manifest(kit, "sp22m", arch, kwargs, ckpt, prefix=1)
    data["output"]["patch_size"] = 16
    data["input"]["size"] = [32, 32]
    model = kit.load(data)
    x = kit.image(size=(32, 32))
    with torch.no_grad():
        want = source.forward_head(source.forward_features(x), pre_logits=True)
        assert torch.allclose(model(x), want, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["lunit_resnet50_bt", "retccl_resnet50"])
def test_torchvision_resnet50_trunks_load_into_timm(kit: Kit, entry: str) -> None:
    """Lunit's ResNetTrunk and RetCCL's ResNet-50: torchvision names, fc removed, strict."""
    import torchvision

    torch.manual_seed(0)
    trunk = torchvision.models.resnet50(weights=None).eval()
    with torch.no_grad():  # non-default BatchNorm statistics, so a wrong mapping would show
        for module in trunk.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    state = {k: v for k, v in trunk.state_dict().items() if not k.startswith("fc.")}
    path = kit.save(state, kit.tmp / f"{entry}.torch")
    m = zoo.Catalog().get(f"pathology/{entry}")
    data = kit.manifest(
        {"type": "timm", "architecture": "resnet50"},
        m.output.model_dump(mode="json"),
        checkpoint=_entry_checkpoint(f"pathology/{entry}", path),
        size=(64, 64),
    )
    data["input"].update(mean=MEAN, std=STD)
    model = kit.load(data)
    x = kit.image(size=(64, 64))
    with torch.no_grad():
        trunk.fc = nn.Identity()
        assert torch.allclose(model(x), trunk(x), atol=1e-4)
        maps = model.features(x, [0, 1, 2, 3, 4])
    assert [tuple(f.shape[1:]) for f in maps] == [
        (64, 32, 32),
        (256, 16, 16),
        (512, 8, 8),
        (1024, 4, 4),
        (2048, 2, 2),
    ]
