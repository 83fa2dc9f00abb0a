"""Key layouts and tiny reference outputs of mmpretrain's EVA models, made with mmpretrain's own code.

Run with mmpretrain 1.2.0 (mmcv-lite 2.1.0, mmengine) installed; writes tests/data/mmpretrain/.
"""
import json, sys, torch
import mmpretrain
from mmpretrain import get_model
from mmpretrain.registry import MODELS
from safetensors.torch import save_file
OUT = sys.argv[1]
meta = {"mmpretrain": mmpretrain.__version__, "torch": torch.__version__}

def keys_of(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}

tables = {}
for name in ["beit-l-p14_3rdparty-eva_in21k", "beit-l-p14_eva-pre_3rdparty_in21k",
             "beit-g-p16_3rdparty-eva_30m", "beit-g-p14_3rdparty-eva_30m",
             "beit-g-p14_eva-30m-pre_3rdparty_in21k",
             "vit-base-p16_eva-mae-style-pre_8xb128-coslr-100e_in1k",
             "vit-base-p16_eva-mae-style-pre_8xb2048-linear-coslr-100e_in1k"]:
    with torch.device("meta"):
        model = get_model(name, pretrained=False)
    tables[name] = keys_of(model)
    print(name, len(tables[name]))
# The MAE-style pretraining: the EVA algorithm's backbone (MAEViT) and decoder (neck); its target
# generator (a CLIP teacher downloaded at build time) is left out: zoo drops target_generator.*.
from mmengine.config import Config
import os
cfg_dir = os.path.join(os.path.dirname(mmpretrain.__file__), ".mim", "configs", "eva")
cfg = Config.fromfile(os.path.join(cfg_dir, "eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k.py"))
cfg.model.target_generator = None
cfg.model.pop("init_cfg", None)
with torch.device("meta"):
    model = MODELS.build(cfg.model)
tables["eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k"] = keys_of(model)
print("mae", len(tables["eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k"]))
for name, keys in tables.items():
    with open(f"{OUT}/{name}.keys.json", "w") as f:
        json.dump({"made_by": f"mmpretrain {meta['mmpretrain']}: get_model({name!r}, pretrained=False).state_dict()"
                   if not name.startswith("eva-mae") else
                   f"mmpretrain {meta['mmpretrain']}: the EVA algorithm of configs/eva/{name}.py (target_generator left out), .state_dict()",
                   "keys": keys}, f, indent=0)
        f.write("\n")

# Tiny models with the same structure, to prove the rules numerically.
torch.manual_seed(0)
tiny = {
  # EVA-L style: qkv bias, no layer scale, mean of patch tokens then ln2 (avg_featmap)
  "beit_l_style": dict(type="BEiTViT", arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=128),
      img_size=28, patch_size=14, layer_scale_init_value=0.0, out_type="avg_featmap", use_abs_pos_emb=True,
      use_rel_pos_bias=False, use_shared_rel_pos_bias=False, layer_cfgs=dict(bias=True)),
  # EVA-g style: q and v biases only
  "beit_g_style": dict(type="BEiTViT", arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=128),
      img_size=28, patch_size=14, layer_scale_init_value=0.0, out_type="avg_featmap", use_abs_pos_emb=True,
      use_rel_pos_bias=False, use_shared_rel_pos_bias=False),
  # MAE-style ViT read as the linear probe does: class token after the final norm
  "vit_cls_style": dict(type="VisionTransformer", arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=128),
      img_size=32, patch_size=16, out_type="cls_token", final_norm=True),
}
for name, bcfg in tiny.items():
    from mmpretrain.models import backbones
    args = dict(bcfg); cls = getattr(backbones, args.pop("type"))
    backbone = cls(**args)
    backbone.eval()
    for p in backbone.parameters():
        torch.nn.init.normal_(p, std=0.2)
    size = bcfg["img_size"]
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = backbone(x)[-1]
    state = {f"backbone.{k}": v.contiguous() for k, v in backbone.state_dict().items()}
    save_file({**state}, f"{OUT}/tiny_{name}.safetensors", metadata={"made_by": f"mmpretrain {meta['mmpretrain']} {json.dumps(bcfg)}"})
    save_file({"input": x.contiguous(), "output": y.contiguous()}, f"{OUT}/tiny_{name}.io.safetensors")
    print(name, y.shape, sorted(state)[:4])
