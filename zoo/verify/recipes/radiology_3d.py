"""Radiology encoders in 3-D (MONAI): CT-FM, SuPreM, the CLIP-Driven Universal Model, VoCo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.verify.recipe import Recipe, no_image, register

# --- 3-D encoders (MONAI) -------------------------------------------------------------------
# Each is compared on a deterministic random volume (Recipe.volume): the volume preprocessing
# (spacing, orientation, intensity window) is not compared. The embeddings are eva's (kaiko-ai/eva
# 0.4.5, src/eva/vision/models/networks/backbones/radiology/: "multiscale", the global average of
# encoder maps concatenated) and CT-FM's (the global average of the last map).
VOCO = "https://github.com/Luffy03/VoCo/blob/ba7b7bd22e98a8807b4798abbc37846928750c1d/Finetune/BTCV/main.py"
SUPREM = (
    "https://github.com/MrGiovanni/SuPreM/blob/76e1a64a5943dff9338415fdb48efe3ef3557bb4/"
    "supervised_pretraining/train.py"
)
UNIVERSAL = (
    "https://github.com/ljwztc/CLIP-Driven-Universal-Model/blob/"
    "43c12399cc98a40f447342a8dc2cecae5edae84c/model/Universal_model.py"
)
CT_FM = (
    "https://github.com/project-lighter/CT-FM/blob/f58c89a75ff0270ba6e339027e40bf04a221735d/"
    "evaluation/baselines/segresencoder_ctfm.yaml"
)
_VOLUME_NOTE = "Compared on a random volume: the volume preprocessing is not compared."
_SWIN_REDUCED = " Reduced: feature size 12 (the same code, narrower)."
_SWIN_ENCODER = ("swinViT.", "encoder1.", "encoder2.", "encoder3.", "encoder4.", "encoder10.")


#: The reduced SwinUNETRs' feature size (MONAI's smallest, a multiple of 12): the same code at a
#: fraction of the width, so that a 64^3 volume runs in seconds on a CPU.
REDUCED_FEATURES = 12


def _swin_unetr(feature_size: int, use_v2: bool) -> Any:
    def build(reduced: bool) -> Any:
        from monai.networks.nets import SwinUNETR

        # The authors' call (VoCo Finetune/BTCV/main.py; SuPreM and the Universal Model alike):
        # SwinUNETR(in_channels=1, out_channels, feature_size, drop rates 0, use_v2); img_size is
        # no longer an argument of MONAI's SwinUNETR (it never changed the weights).
        size = REDUCED_FEATURES if reduced else feature_size
        return SwinUNETR(
            in_channels=1,
            out_channels=14,
            feature_size=size,
            drop_rate=0.0,
            attn_drop_rate=0.0,
            dropout_path_rate=0.0,
            use_v2=use_v2,
        ).eval()

    return build


def _swin_multiscale(net: Any, x: Any) -> Any:
    import torch

    # SwinUNETR.forward's encoder: encoder1 of the input, encoder2-4 of Swin stages 0-2,
    # encoder10 of stage 4; eva pools maps 0, 1, 2, 3 and 5 (stage 3 is left out).
    hidden = net.swinViT(x, net.normalize)
    maps = [net.encoder1(x), net.encoder2(hidden[0]), net.encoder3(hidden[1])]
    maps += [net.encoder4(hidden[2]), net.encoder10(hidden[4])]
    return torch.cat([m.mean(dim=(2, 3, 4)) for m in maps], dim=1)


def _pickled(prefix: str, wrap: str | None, keep: tuple[str, ...] = ()) -> Any:
    """``save``: the state dict (only the keys starting with ``keep`` when given), keys with
    ``prefix``, nested under ``wrap``, as torch.save writes it."""

    def save(net: Any, path: Path) -> None:
        import torch

        state = {
            prefix + k: v.detach().clone().contiguous()
            for k, v in net.state_dict().items()
            if not keep or k.startswith(keep)
        }
        torch.save({wrap: state} if wrap else state, path)

    return save


def _unpickled(prefix: str, wrap: str | None, keep: tuple[str, ...] = ()) -> Any:
    """``load``: the inverse of :func:`_pickled`, as the authors load an encoder into the whole
    network (the decoder keeps its values): every encoder key of ``net`` must be in the file."""

    def load(net: Any, path: Path) -> None:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state[wrap] if wrap else state
        found = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        wanted = [k for k in net.state_dict() if not keep or k.startswith(keep)]
        missing = [k for k in wanted if k not in found]
        if missing:
            raise KeyError(f"{path.name} lacks {len(missing)} keys, e.g. {missing[0]}")
        net.load_state_dict({k: found[k] for k in wanted}, strict=False)

    return load


for _size, _letter in ((48, "b"), (96, "l"), (192, "h")):
    register(
        Recipe(
            names=(f"radiology/voco_{_letter}",),
            source=VOCO + " (SwinUNETR(..., use_v2=True)); weights "
            f"https://huggingface.co/Luffy503/VoCo VoCo_{_letter.upper()}_SSL_head.pt",
            how="package",
            build=_swin_unetr(_size, True),
            preprocess=no_image,
            embed=_swin_multiscale,
            # The SSL head file holds the encoder alone, MONAI's key names (eva loads it strictly).
            filename=f"VoCo_{_letter.upper()}_SSL_head.pt",
            save=_pickled("", None, _SWIN_ENCODER),
            load=_unpickled("", None, _SWIN_ENCODER),
            reduce={"feature_size": REDUCED_FEATURES},
            reduced_levels=6,
            volume=(1, 64, 64, 64),
            note=_VOLUME_NOTE
            + (
                f" Reduced: feature size 48 instead of {_size} (the same code)."
                if _size > 48
                else ""
            ),
        )
    )

register(
    Recipe(
        names=("radiology/suprem_swin_unetr",),
        source=SUPREM + " (Universal_model(backbone='swinunetr'): a SwinUNETR, feature size 48, "
        "use_v2 False, saved from DistributedDataParallel under 'net')",
        how="package",
        build=_swin_unetr(48, False),
        preprocess=no_image,
        embed=_swin_multiscale,
        filename="supervised_suprem_swinunetr_2100.pth",
        # {"net": {"module.backbone.<SwinUNETR key>": ...}} (eva: key.split("backbone.")[1]).
        save=_pickled("module.backbone.", "net"),
        load=_unpickled("module.backbone.", "net", _SWIN_ENCODER),
        reduce={"feature_size": REDUCED_FEATURES},
        reduced_levels=6,
        volume=(1, 64, 64, 64),
        note=_VOLUME_NOTE + _SWIN_REDUCED,
    )
)

register(
    Recipe(
        names=("radiology/universal_swinunetr",),
        source=UNIVERSAL + " (SwinUNETR, feature size 48, use_v2 False); weights "
        "https://huggingface.co/ljwztc/CLIP-Driven-Universal-Model",
        how="package",
        build=_swin_unetr(48, False),
        preprocess=no_image,
        embed=_swin_multiscale,
        filename="clip_driven_universal_swin_unetr.pth",
        # {"net": {"module.<SwinUNETR key>": ...}}, the layout eva's conversion reads
        # (key.split("module.")[1]); not checked against the file itself.
        save=_pickled("module.", "net"),
        load=_unpickled("module.", "net", _SWIN_ENCODER),
        reduce={"feature_size": REDUCED_FEATURES},
        reduced_levels=6,
        volume=(1, 64, 64, 64),
        note=_VOLUME_NOTE + _SWIN_REDUCED,
    )
)


def _suprem_segresnet(reduced: bool) -> Any:
    from monai.networks.nets import SegResNet

    del reduced  # small enough at full size
    return SegResNet(
        blocks_down=(1, 2, 2, 4),
        blocks_up=(1, 1, 1),
        init_filters=16,
        in_channels=1,
        out_channels=32,
        dropout_prob=0.0,
    ).eval()


def _segresnet_multiscale(net: Any, x: Any) -> Any:
    import torch

    _, maps = net.encode(x)  # MONAI's SegResNet.encode: convInit, then each down layer's map
    return torch.cat([m.mean(dim=(2, 3, 4)) for m in maps], dim=1)


register(
    Recipe(
        names=("radiology/suprem_segresnet",),
        source=SUPREM + " (SegResNet(blocks_down=(1, 2, 2, 4), blocks_up=(1, 1, 1), "
        "init_filters=16, in_channels=1, dropout_prob=0.0), saved from DistributedDataParallel)",
        how="package",
        build=_suprem_segresnet,
        preprocess=no_image,
        embed=_segresnet_multiscale,
        filename="supervised_suprem_segresnet_2100.pth",
        save=_pickled("module.", "net"),
        load=_unpickled("module.", "net", ("convInit.", "down_layers.")),
        reduced_levels=4,
        volume=(1, 32, 64, 64),
        note=_VOLUME_NOTE,
    )
)


def _ct_fm(reduced: bool) -> Any:
    from monai.networks.nets.segresnet_ds import SegResEncoder

    # segresencoder_ctfm.yaml: SegResEncoder(spatial_dims=3, in_channels=1, init_filters=32,
    # blocks_down=[1, 2, 2, 4, 4]); reduced: init_filters 16 (the same code, a quarter the size).
    return SegResEncoder(
        spatial_dims=3,
        in_channels=1,
        init_filters=16 if reduced else 32,
        blocks_down=(1, 2, 2, 4, 4),
    ).eval()


def _ct_fm_load(net: Any, path: Path) -> None:
    from safetensors.torch import load_file

    net.load_state_dict(load_file(str(path)), strict=True)


def _ct_fm_save(net: Any, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}, str(path))


register(
    Recipe(
        names=("radiology/ct_fm",),
        source=CT_FM + "; the feature extractor https://huggingface.co/project-lighter/"
        "ct_fm_feature_extractor (model.safetensors; AdaptiveAvgPool3d(1) of the last map)",
        how="package",
        build=_ct_fm,
        preprocess=no_image,
        embed=lambda net, x: net(x)[-1].mean(dim=(2, 3, 4)),
        filename="model.safetensors",
        save=_ct_fm_save,
        load=_ct_fm_load,
        reduce={"init_filters": 16},
        reduced_levels=5,
        volume=(1, 32, 64, 64),
        note=_VOLUME_NOTE + " Reduced: init_filters 16 instead of 32 (the same code).",
    )
)
