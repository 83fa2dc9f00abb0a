"""Make this folder's data with mmpretrain's own model code (not run by the tests).

Run with mmpretrain 1.2.0, mmcv-lite 2.1.0 and mmengine installed (mmcv's compiled ops are not
needed): ``python make_mmpretrain_data.py <this folder>``. It writes

- ``<name>.keys.json``: the state-dict keys and shapes of each model of the EVA tables in
  mmpretrain's configs/eva/README.md (built on the meta device, so nothing is downloaded);
- ``tiny_<style>.safetensors``: a tiny model of each structure, in mmpretrain's key layout;
- ``tiny_<style>.io.safetensors``: a fixed input and mmpretrain's output for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mmpretrain
import torch
from mmengine.config import Config
from mmpretrain import get_model
from mmpretrain.models import backbones
from mmpretrain.registry import MODELS
from safetensors.torch import save_file

NAMED = [
    "beit-l-p14_3rdparty-eva_in21k",
    "beit-l-p14_eva-pre_3rdparty_in21k",
    "beit-g-p16_3rdparty-eva_30m",
    "beit-g-p14_3rdparty-eva_30m",
    "beit-g-p14_eva-30m-pre_3rdparty_in21k",
    "vit-base-p16_eva-mae-style-pre_8xb128-coslr-100e_in1k",
    "vit-base-p16_eva-mae-style-pre_8xb2048-linear-coslr-100e_in1k",
]
MAE = "eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k"
SMALL = {"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 128}
#: EVA-g: q and v biases only, no LayerScale, mean of the patch tokens then ln2 (avg_featmap).
BEIT_G = {
    "type": "BEiTViT",
    "arch": SMALL,
    "img_size": 28,
    "patch_size": 14,
    "layer_scale_init_value": 0.0,
    "out_type": "avg_featmap",
    "use_abs_pos_emb": True,
    "use_rel_pos_bias": False,
    "use_shared_rel_pos_bias": False,
}
TINY = {
    "beit_l_style": {**BEIT_G, "layer_cfgs": {"bias": True}},  # EVA-L: a full qkv bias
    "beit_g_style": BEIT_G,
    # the MAE-style ViT as its linear probe reads it: class token after the final norm
    "vit_cls_style": {
        "type": "VisionTransformer",
        "arch": SMALL,
        "img_size": 32,
        "patch_size": 16,
        "out_type": "cls_token",
        "final_norm": True,
    },
}


def _write_keys(out: Path, name: str, model: torch.nn.Module, made_by: str) -> None:
    keys = {k: list(v.shape) for k, v in model.state_dict().items()}
    text = json.dumps({"made_by": made_by, "keys": keys}, indent=0)
    (out / f"{name}.keys.json").write_text(text + "\n", encoding="utf-8")


def main(out: Path) -> None:
    version = mmpretrain.__version__
    for name in NAMED:
        with torch.device("meta"):
            model = get_model(name, pretrained=False)
        _write_keys(out, name, model, f"mmpretrain {version}: get_model({name!r}).state_dict()")
    # The EVA algorithm without its target generator (a CLIP teacher downloaded when built).
    folder = Path(mmpretrain.__file__).parent / ".mim" / "configs" / "eva"
    cfg = Config.fromfile(str(folder / f"{MAE}.py"))
    cfg.model.target_generator = None
    cfg.model.pop("init_cfg", None)
    with torch.device("meta"):
        model = MODELS.build(cfg.model)
    made_by = (
        f"mmpretrain {version}: the EVA algorithm of configs/eva/{MAE}.py without target_generator"
    )
    _write_keys(out, MAE, model, made_by)

    torch.manual_seed(0)
    for style, spec in TINY.items():
        args = dict(spec)
        backbone = getattr(backbones, args.pop("type"))(**args)
        backbone.eval()  # mmpretrain's train() returns None: no chaining
        for p in backbone.parameters():
            torch.nn.init.normal_(p, std=0.2)
        size = spec["img_size"]
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            y = backbone(x)[-1]
        state = {f"backbone.{k}": v.contiguous() for k, v in backbone.state_dict().items()}
        meta = {"made_by": f"mmpretrain {version}: {json.dumps(spec)}"}
        save_file(state, str(out / f"tiny_{style}.safetensors"), metadata=meta)
        io = {"input": x.contiguous(), "output": y.contiguous()}
        save_file(io, str(out / f"tiny_{style}.io.safetensors"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
