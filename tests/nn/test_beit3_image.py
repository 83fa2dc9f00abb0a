"""zoo.nn.beit3_image: BEiT-3's image path, against torchscale, and MUSK's checkpoint
loaded through the three MUSK entries.

The reference is torchscale's own ``BEiT3`` (the library MUSK vendors; tests/data/pathology_sources/
musk.json records how the vendored copy relates to PyPI's 0.3.0), configured as the authors'
``_get_large_config`` configures it but tiny, inside a module laid out as their ``MUSK`` class
(``beit3``, ``vision_head``, ``language_head``, ``logit_scale``). Its state dict is MUSK's
checkpoint layout; the entries load it strictly with their own ``checkpoint.remap`` and must
return what the authors' ``MUSK.forward`` computes here on the reference, step by step as
musk/modeling.py and musk/utils.py do.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from tests.loading.loading_kit import Kit
from zoo.nn import Beit3Image, beit3_image

FACTS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data/pathology_sources/musk.json").read_text()
)
#: The authors' large config, shrunk: width 32, 2 layers, 2 heads, 8x8 patches at 32x32.
TINY = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2}
ENTRIES = (
    "pathology/stanford_musk",
    "pathology/stanford_musk_cls",
    "pathology/stanford_musk_projected",
)


class MuskReference(nn.Module):
    """torchscale's BEiT3 with MUSK's configuration and MUSK's heads, named as in its checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        from torchscale.architecture.config import EncoderConfig
        from torchscale.model.BEiT3 import BEiT3

        config = dict(FACTS["config"])
        width = TINY["embed_dim"]
        config.update(
            img_size=TINY["img_size"],
            patch_size=TINY["patch_size"],
            encoder_embed_dim=width,
            encoder_layers=TINY["depth"],
            encoder_attention_heads=TINY["num_heads"],
            encoder_ffn_embed_dim=4 * width,
            vocab_size=50,
        )
        self.beit3 = BEiT3(EncoderConfig(**config))
        self.language_head = nn.Linear(width, width, bias=False)
        self.vision_head = nn.Linear(width, width, bias=False)
        self.logit_scale = nn.Parameter(torch.ones([]))

    def image_cls(self, x: torch.Tensor) -> torch.Tensor:
        """``MUSK.forward(image=x, with_head=False, out_norm=False, ms_aug=False)``."""
        return self.beit3(visual_tokens=x)["encoder_out"][:, 0, :]

    def multiscale(self, x: torch.Tensor) -> torch.Tensor:
        """``MultiScaleForward`` with scales (1, 2) and the input size as the split size."""
        size = x.shape[-1]
        outs = []
        for scale in (1, 2):
            big = F.interpolate(x.float(), size=size * scale, mode="bicubic").to(x.dtype)
            tiles = [
                big[..., i * size : (i + 1) * size, j * size : (j + 1) * size]
                for i in range(scale)
                for j in range(scale)
            ]
            outs.append(torch.stack([self.image_cls(t) for t in tiles], dim=1).mean(dim=1))
        return torch.cat(outs, dim=-1)

    def block_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each encoder layer's output (before the final LayerNorm)."""
        seen: list[torch.Tensor] = []
        hooks = [
            layer.register_forward_hook(lambda _m, _a, out: seen.append(out[0]))
            for layer in self.beit3.encoder.layers
        ]
        try:
            self.image_cls(x)
        finally:
            for hook in hooks:
                hook.remove()
        return seen


@pytest.fixture(scope="module")
def reference() -> MuskReference:
    pytest.importorskip("torchscale", reason="the reference is torchscale (the dev group has it)")
    with warnings.catch_warnings():  # torchscale imports timm's old timm.models.layers path
        warnings.simplefilter("ignore", FutureWarning)
        import torchscale.model.BEiT3  # noqa: F401
    torch.manual_seed(0)
    ref = MuskReference().eval()
    with torch.no_grad():  # every weight far from its init, so a lost or swapped one shows
        for name, p in ref.named_parameters():
            if p.ndim == 1 and name.endswith(".weight"):  # LayerNorm scales
                p.copy_(1 + 0.3 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    return ref


def _entry(name: str, path: Path) -> dict[str, Any]:
    """A MUSK entry shrunk to TINY and pointed at ``path``; its remap kept as it is."""
    m = zoo.Catalog().get(name)
    data = m.model_dump(
        mode="json", exclude_none=True, exclude={"file", "aliases", "same_weights_as"}
    )
    data["name"] = f"testing/{name.split('/')[1]}"
    data["wrapper"]["arguments"].update(TINY)
    ckpt = data["checkpoint"]
    for key in ("hf", "sha256"):
        del ckpt[key]
    ckpt["path"] = str(path)
    data["input"]["size"] = [32, 32]
    width = TINY["embed_dim"]
    dim = 2 * width if data["wrapper"]["arguments"].get("multiscale") else width
    data["output"].update(embedding_dim=dim, feature_dim=width, feature_levels=2, patch_size=8)
    return data


def test_the_reference_has_the_authors_checkpoint_layout(reference: MuskReference) -> None:
    keys = set(reference.state_dict())
    assert {"vision_head.weight", "language_head.weight", "logit_scale"} <= keys
    assert "beit3.encoder.embed_positions.A.weight" in keys  # the key the authors interpolate
    assert "beit3.encoder.layers.1.ffn.B.ffn_layernorm.weight" in keys
    assert "beit3.encoder.layers.0.self_attn.inner_attn_ln.A.bias" in keys
    # The block holds exactly the image branch of the same layout.
    block = set(beit3_image(**TINY, projection=True).state_dict())
    assert block == {
        k
        for k in keys
        if ".B." not in k and not k.startswith(("beit3.text_embed", "language_head", "logit"))
    }


def test_the_musk_entries_load_the_checkpoint_and_return_the_authors_embeddings(
    kit: Kit, reference: MuskReference
) -> None:
    path = kit.save(reference.state_dict(), kit.tmp / "model.safetensors")
    x = kit.image()
    with torch.no_grad():
        want = {
            "pathology/stanford_musk": reference.multiscale(x),
            "pathology/stanford_musk_cls": reference.image_cls(x),
            "pathology/stanford_musk_projected": reference.vision_head(reference.image_cls(x)),
        }
        got = {name: kit.load(_entry(name, path))(x) for name in ENTRIES}
        maps = kit.load(_entry("pathology/stanford_musk", path), out_indices=(0, 1))(x)
        blocks = reference.block_outputs(x)
        tokens = kit.load(_entry("pathology/stanford_musk_cls", path)).forward_features(x)
    for name in ENTRIES:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-4)
    assert got["pathology/stanford_musk"].shape == (2, 64)
    for level, block in zip(maps, blocks, strict=True):
        grid = block[:, 1:].transpose(1, 2).reshape(2, 32, 4, 4)
        torch.testing.assert_close(level, grid, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(
        tokens, reference.beit3(visual_tokens=x)["encoder_out"], rtol=1e-4, atol=1e-4
    )


def test_a_text_tower_key_left_in_is_a_strict_loading_error(
    kit: Kit, reference: MuskReference
) -> None:
    path = kit.save(reference.state_dict(), kit.tmp / "model.safetensors")
    data = _entry("pathology/stanford_musk_cls", path)
    data["checkpoint"]["remap"]["drop"].remove("language_head.*")
    with pytest.raises(zoo.errors.CheckpointMismatchError, match=r"language_head\.weight"):
        kit.load(data)


def test_the_multiscale_feature_is_the_image_and_its_upsampled_tiles() -> None:
    torch.manual_seed(0)
    block = beit3_image(**TINY, multiscale=True).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        feature = block(x)
        big = F.interpolate(x, size=64, mode="bicubic")
        tiles = [
            block.forward_cls(big[..., i : i + 32, j : j + 32]) for i in (0, 32) for j in (0, 32)
        ]
    assert (block.num_features, feature.shape) == (64, (1, 64))
    torch.testing.assert_close(feature[:, :32], block.forward_cls(x))
    torch.testing.assert_close(feature[:, 32:], torch.stack(tiles).mean(dim=0))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        ({"img_size": 30}, "not a multiple of patch_size"),
        ({"num_heads": 3}, "not a multiple of num_heads"),
        ({"img_size": [32, 40]}, "square images"),
    ],
)
def test_beit3_image_refuses_a_shape_it_cannot_build(build: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        beit3_image(**{**TINY, **build})


@pytest.mark.parametrize(
    ("build", "call", "message"),
    [
        ({}, lambda m: m(torch.zeros(1, 3, 48, 48)), "takes 32x32 images"),
        ({"multiscale": True}, lambda m: m(torch.zeros(1, 3, 32, 48)), "square images"),
        ({}, lambda m: m.forward_projection(torch.zeros(1, 3, 32, 32)), "without its projection"),
    ],
)
def test_beit3_image_refuses_an_input_it_cannot_compute(
    build: dict[str, Any], call: Any, message: str
) -> None:
    model: Beit3Image = beit3_image(**{**TINY, **build})
    with pytest.raises(ValueError, match=message):
        call(model)


@pytest.mark.parametrize("name", ENTRIES)
def test_the_musk_entries_follow_the_authors_config_and_transform(name: str) -> None:
    m, config, transform = zoo.Catalog().get(name), FACTS["config"], FACTS["transform"]
    args = m.wrapper.arguments  # type: ignore[union-attr]
    assert (args["img_size"], args["patch_size"]) == (config["img_size"], config["patch_size"])
    assert (args["embed_dim"], args["depth"], args["num_heads"]) == (
        config["encoder_embed_dim"],
        config["encoder_layers"],
        config["encoder_attention_heads"],
    )
    assert args["embed_dim"] * args["mlp_ratio"] == config["encoder_ffn_embed_dim"]
    assert (m.output.patch_size, m.output.feature_levels) == (16, config["encoder_layers"])
    assert m.input.size == (transform["center_crop"], transform["center_crop"])
    assert (list(m.input.mean), list(m.input.std)) == (transform["mean"], transform["std"])
    assert m.input.interpolation == transform["interpolation"]
    assert (m.license.id, m.license.commercial, m.gated) == ("CC-BY-NC-ND-4.0", False, True)
    multiscale = args.get("multiscale", False)
    assert m.output.embedding_dim == config["encoder_embed_dim"] * (2 if multiscale else 1)
