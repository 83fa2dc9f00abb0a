"""Slide encoders (``input.kind: tiles``): each compared with the authors' computation on a random
bag of tile features (with level-0 coordinates), random weights written in the authors'
checkpoint layout and loaded through ``zoo.load``.

Every slide encoder of the catalogue has a recipe. The attention-MIL encoders (CHIEF, FEATHER,
MADELEINE, TANGLE) and COBRA have theirs here: the authors' computation re-expressed from reading
their code (none is on a package index) in ``_ref_mil``, ``_ref_madeleine``, ``_ref_tangle`` and
``_ref_cobra``, which the tests in ``tests/nn/test_slide_*.py`` use too. TITAN, Prov-GigaPath's
slide encoder, PRISM and MOOZY have theirs in :mod:`zoo.verify.recipes.slide_transformers`, on the
same random bag (:data:`TILES` tiles).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.verify.recipe import Recipe, no_image, register
from zoo.verify.recipes._layout import state_dict_file

#: Tiles in the random bag (COBRA's scan runs in chunks of 64: more than one chunk).
TILES = 70


def _released(layout: Callable[[], dict[str, tuple[int, ...]]]) -> Callable[[bool], Any]:
    """``build``: random weights in the released ``layout()`` (read when the recipe runs)."""

    def build(reduced: bool) -> Any:
        from zoo.verify.recipes._released import Released, random_state

        del reduced  # slide encoders are small: always the released size
        return Released(random_state(layout()))

    return build


# --- CHIEF ----------------------------------------------------------------------------------


def _chief_layout() -> Any:
    from zoo.verify.recipes._ref_mil import CHIEF_LAYOUT

    return CHIEF_LAYOUT


def _chief_embed(net: Any, bag: Any) -> Any:
    import torch

    from zoo.verify.recipes._ref_mil import chief_wsi_feature

    features, _ = bag
    return torch.cat([chief_wsi_feature(net.state_dict(), h) for h in features])


_pickle = state_dict_file("pickle")
register(
    Recipe(
        names=("pathology/chief_slide",),
        source="https://github.com/hms-dbmi/CHIEF/blob/1abed334e674ad2b6ee0430d1ce7d0b566420bb4/"
        "models/CHIEF.py (CHIEF(size_arg='small'), WSI_feature; Get_CHIEF_WSI_level_feature.py)",
        how="re-expression",
        build=_released(_chief_layout),
        preprocess=no_image,
        embed=_chief_embed,
        filename="CHIEF_pretraining.pth",  # a flat pickled state dict, organ_embedding included
        save=_pickle[0],
        load=_pickle[1],
        bag=(TILES, 768),
    )
)


# --- FEATHER --------------------------------------------------------------------------------


def _feather_layout(in_dim: int) -> Any:
    def layout() -> Any:
        from zoo.verify.recipes._ref_mil import feather_layout

        return feather_layout(in_dim)

    return layout


def _feather_embed(net: Any, bag: Any) -> Any:
    from zoo.verify.recipes._ref_mil import feather_forward_features

    return feather_forward_features(net.state_dict(), bag[0])


_safetensors = state_dict_file("safetensors")
for name, in_dim in (
    ("pathology/mahmood_feather_conch_v15", 768),
    ("pathology/mahmood_feather_uni", 1024),
    ("pathology/mahmood_feather_uni2_h", 1536),
):
    register(
        Recipe(
            names=(name,),
            source="https://github.com/mahmoodlab/MIL-Lab/blob/"
            "dfc3c17ca6876a8f9bd33a9162c40f2c22631d9d/src/models/abmil.py (ABMIL.forward_features; "
            "src/models/layers.py, src/model_configs/abmil/base.yaml)",
            how="re-expression",
            build=_released(_feather_layout(in_dim)),
            preprocess=no_image,
            embed=_feather_embed,
            filename="model.safetensors",  # ABMILModel.save_pretrained: the network under model.
            save=_safetensors[0],
            load=_safetensors[1],
            bag=(TILES, in_dim),
        )
    )


# --- MADELEINE ------------------------------------------------------------------------------


def _madeleine_layout() -> Any:
    from zoo.verify.recipes._ref_madeleine import released_layout

    return released_layout(512, 512, 4)


def _madeleine_embed(net: Any, bag: Any) -> Any:
    from zoo.verify.recipes._ref_madeleine import authors_state_dict, encode_he

    return encode_he(authors_state_dict(net.state_dict()), bag[0], 4)


register(
    Recipe(
        names=("pathology/mahmood_madeleine",),
        source="https://github.com/mahmoodlab/MADELEINE/blob/"
        "419287dc60a57296d959840b893481019c4f0d21/madeleine/models/Model.py (create_model, "
        "MADELEINE.encode_he; madeleine/models/abmil.py)",
        how="re-expression",
        build=_released(_madeleine_layout),
        preprocess=no_image,
        embed=_madeleine_embed,
        filename="model.pt",  # torch.save of an nn.DataParallel state dict: module. keys
        save=_pickle[0],
        load=_pickle[1],
        bag=(TILES, 512),
    )
)


# --- TANGLE ---------------------------------------------------------------------------------


def _tangle(reduced: bool) -> Any:
    import torch

    from zoo.verify.recipes._ref_tangle import TangleReference

    del reduced
    return TangleReference().randomize(int(torch.randint(0, 2**31, ()).item()))


def _tangle_save(net: Any, path: Path) -> None:
    import torch

    from zoo.verify.recipes._ref_tangle import save_released

    # The released file holds bfloat16 tensors: the reference computes from the same values.
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    save_released(net, path)


def _tangle_load(net: Any, path: Path) -> None:
    from zoo.verify.recipes._ref_tangle import restore

    net.load_state_dict(restore(path).state_dict())


register(
    Recipe(
        names=("pathology/mahmood_tangle",),
        source="https://github.com/mahmoodlab/TANGLE/blob/266a756a2574e18baab0b56a6809b5b274d48f14/"
        "core/models/mmssl.py (MMSSL.get_features; extract_slide_embeddings_from_checkpoint.py "
        "restore_model; train_tangle_pancancer.py)",
        how="re-expression",
        build=_tangle,
        preprocess=no_image,
        embed=lambda net, bag: net.get_features(bag[0]),
        filename="tangle_pancancer_model.pt",
        save=_tangle_save,
        load=_tangle_load,
        bag=(TILES, 1024),
        note="The released file is taken to hold bfloat16 tensors (the training script casts "
        "the model to --dtype, bfloat16 by default): the random weights are rounded to bfloat16 "
        "before both sides use them.",
    )
)


# --- COBRA ----------------------------------------------------------------------------------


def _cobra(version: str) -> Any:
    def build(reduced: bool) -> Any:
        import torch

        from zoo.verify.recipes import _ref_cobra as ref
        from zoo.verify.recipes._released import Released

        del reduced
        config = ref.COBRA_I if version == "I" else ref.COBRA_II
        return Released(ref.random_cobra(config, int(torch.randint(0, 2**31, ()).item())))

    return build


def _cobra_embed(version: str) -> Any:
    def embed(net: Any, bag: Any) -> Any:
        from zoo.verify.recipes import _ref_cobra as ref

        config = ref.COBRA_I if version == "I" else ref.COBRA_II
        return ref.slide_embedding(net.state_dict(), bag[0], config)

    return embed


def _cobra_ii_save(net: Any, path: Path) -> None:
    import torch

    from zoo.verify.recipes import _ref_cobra as ref

    torch.save(ref.cobra_ii_file(ref.COBRA_II, 0, momentum=net.state_dict()), path)


def _cobra_ii_load(net: Any, path: Path) -> None:
    import torch

    from zoo.verify.recipes import _ref_cobra as ref

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(ref.load_like_get_cobra_ii(checkpoint), strict=True)


_COBRA = "https://github.com/KatherLab/COBRA/blob/49d231191db5a9c2ea37a2398dd922c8c9ee9cdb/"
for names, version, width in (
    (("pathology/katherlab_cobra_ctranspath",), "I", 768),
    (("pathology/katherlab_cobra_uni",), "I", 1024),
    (("pathology/katherlab_cobra_virchow2",), "I", 1280),
    (("pathology/katherlab_cobra2_conch",), "II", 512),
    (("pathology/katherlab_cobra2_uni",), "II", 1024),
    (("pathology/katherlab_cobra2_virchow2",), "II", 1280),
):
    register(
        Recipe(
            names=names,
            source=_COBRA + "cobra/model/cobra.py (Cobra.forward; cobra/utils/load_cobra.py "
            f"get_cobra{'' if version == 'I' else 'II'}, cobra/utils/mamba2.py); Mamba-2 from "
            "https://github.com/state-spaces/mamba/blob/e9594ce1c732d97440f0332fdc43170a2294dbfa/"
            "mamba_ssm/modules/mamba2.py (Mamba2.step)",
            how="re-expression",
            build=_cobra(version),
            preprocess=no_image,
            embed=_cobra_embed(version),
            filename="pytorch_model.bin" if version == "I" else "cobraII.pth.tar",
            save=_pickle[0] if version == "I" else _cobra_ii_save,
            load=_pickle[1] if version == "I" else _cobra_ii_load,
            bag=(TILES, width),
        )
    )
