"""The transformer-style slide encoders (TITAN, Prov-GigaPath's slide encoder, PRISM, MOOZY): each
compared with a re-expression of the authors' computation on the random bag of
:mod:`zoo.verify.recipes.slide_encoders`, random weights written in the authors' released layout
and loaded through ``zoo.load``.

None of the four is on a package index that this project can depend on (TITAN and PRISM are Hugging
Face remote code, Prov-GigaPath's ``gigapath`` is not on PyPI and its attention needs flash-attn on
CUDA, the ``moozy`` package pins huggingface-hub below 2), so their references are re-expressions
written from reading the authors' code at the commits cited, in ``_ref_titan``, ``_ref_gigapath``,
``_ref_prism`` and ``_ref_moozy``, which tests/nn/test_slide_*.py use too. They live in their own
module so that each recipe module stays short; importing it imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.verify.recipe import Recipe, no_image, register
from zoo.verify.recipes.slide_encoders import TILES

#: The level-0 side of a tile in the harness's random bag (zoo.verify.run.BAG_TILE, which both
#: sides are given: zoo as ``patch_size_level0``, the recipes below the authors' way).
_BAG_TILE = 512


def _load_strict(net: Any, state: Any) -> None:
    net.load_state_dict(state, strict=True)


# --- TITAN ----------------------------------------------------------------------------------


def _titan(reduced: bool) -> Any:
    from zoo.verify.recipes._ref_titan import TitanReference

    del reduced  # six blocks of width 768 on 70 tiles: the released size is quick
    # in_dim, embed_dim, depth, heads, pooler heads, pooler queries: config.json's vision_config
    return TitanReference(768, 768, 6, 12, 8, 128).eval()


def _titan_embed(net: Any, bag: Any) -> Any:
    features, coords = bag
    # encode_slide_from_patch_features(features, coords, patch_size_lv0) on the integer level-0
    # coordinates of the tiles (the authors read them from the h5 file as int64)
    return net(features, coords.long(), _BAG_TILE)


def _titan_save(net: Any, path: Path) -> None:
    from safetensors.torch import save_file

    # model.safetensors: the whole model, the slide encoder under vision_encoder. next to the
    # text tower (the reference's stand-in text_encoder)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))


def _titan_load(net: Any, path: Path) -> None:
    from safetensors.torch import load_file

    _load_strict(net, load_file(str(path)))


register(
    Recipe(
        names=("pathology/mahmood_titan",),
        source="https://huggingface.co/MahmoodLab/TITAN remote code (modeling_titan.py, "
        "vision_transformer.py, config.json) read in the copy vendored at https://github.com/"
        "DIAGNijmegen/unicorn_baseline/tree/dec380918e3bc344c403d85a69960befa76ad473/src/"
        "unicorn_baseline/vision/pathology/titan (encode_slide_from_patch_features)",
        how="re-expression",
        build=_titan,
        preprocess=no_image,
        embed=_titan_embed,
        filename="model.safetensors",
        save=_titan_save,
        load=_titan_load,
        bag=(TILES, 768),
    )
)


# --- Prov-GigaPath slide encoder ------------------------------------------------------------

#: LongNetViT's tile_size: the authors divide coordinates by it (in pixels at 0.5 um/px).
_GIGAPATH_TILE = 256
#: The reduced grid: wide enough for the bag (9 x 8 tiles); the released 1000 x 1000 table of the
#: authors' (a 3 GB float32 buffer, computed in float64) is too big for a test.
_GIGAPATH_REDUCED_GRID = 40


def _gigapath(reduced: bool) -> Any:
    from zoo.verify.recipes._ref_gigapath import GigaPathReference

    # gigapath_slide_enc12l768d: 12 layers, width 768, 16 heads; segment lengths LongNetViT derives
    # from max_wsi_size 262144 and tile_size 256, dilations 1..16
    return GigaPathReference(
        1536,
        768,
        12,
        16,
        _GIGAPATH_REDUCED_GRID if reduced else 1000,
        _GIGAPATH_TILE,
        (1024, 5792, 32768, 185363, 1048576),
        (1, 2, 4, 8, 16),
    ).eval()


def _gigapath_embed(net: Any, bag: Any) -> Any:
    features, coords = bag
    # The authors' coordinates are pixels of the slide tiled at 0.5 um/px, where a tile is 256 px
    # (gigapath/pipeline.py: tiles named '256x_256y.png', '256x_512y.png', ...; LongNetViT divides
    # by tile_size 256): a level-0 tile of _BAG_TILE px is one 256-px tile. global_pool=True, the
    # last layer's entry (run_inference_with_slide_encoder's last_layer_embed).
    return net(features, coords * (_GIGAPATH_TILE / _BAG_TILE), global_pool=True)[-1]


def _gigapath_save(net: Any, path: Path) -> None:
    import torch

    torch.save({"model": net.state_dict()}, path)  # slide_encoder.pth: the state dict at model


def _gigapath_load(net: Any, path: Path) -> None:
    import torch

    # create_model: torch.load(...)["model"], then load_state_dict (the demo shows no missing or
    # unexpected key)
    _load_strict(net, torch.load(path, map_location="cpu", weights_only=True)["model"])


register(
    Recipe(
        names=("pathology/prov_gigapath_slide",),
        source="https://github.com/prov-gigapath/prov-gigapath/blob/"
        "09d8e876afb98a1dda01cc531b1087c58fffc9f7/gigapath/slide_encoder.py (LongNetViT, "
        "create_model; gigapath/pipeline.py run_inference_with_slide_encoder, gigapath/torchscale/"
        "component/dilated_attention.py, gigapath/pos_embed.py)",
        how="re-expression",
        build=_gigapath,
        preprocess=no_image,
        embed=_gigapath_embed,
        filename="slide_encoder.pth",
        save=_gigapath_save,
        load=_gigapath_load,
        reduce={"slide_ngrids": _GIGAPATH_REDUCED_GRID},
        reduced_levels=0,  # a slide encoder has no feature levels
        bag=(TILES, 1536),
        note="The recipe needs torchscale (PyPI 0.3.0, the reference dependency group): the "
        "encoder is torchscale's, the authors' dilated attention re-expressed on it and "
        "flash-attn's kernel written as plain math. With random weights both sides use a 40 x 40 "
        "position grid instead of 1000 x 1000 (the same sine-cosine rows for the bag's cells; the "
        "authors' full table is a 3 GB buffer).",
    )
)


# --- PRISM ----------------------------------------------------------------------------------


def _prism(reduced: bool) -> Any:
    from zoo.verify.recipes._ref_prism import PrismReference

    del reduced
    # context 2560, latent 1280, 512 latents (+1), 8 Perceiver layers, 6 blocks each, 8 heads
    return PrismReference(2560, 1280, 512, 8, 6, 8).eval()


def _prism_save(net: Any, path: Path) -> None:
    from safetensors.torch import save_file

    from zoo.verify.recipes._ref_prism import without_shared_duplicates

    # save_pretrained's model.safetensors: each shared tensor once, the decoder's keys too
    save_file(without_shared_duplicates(net.state_dict()), str(path))


def _prism_load(net: Any, path: Path) -> None:
    from safetensors.torch import load_file

    from zoo.verify.recipes._ref_prism import without_shared_duplicates

    state = load_file(str(path))
    expected = set(without_shared_duplicates(net.state_dict()))
    if set(state) != expected:  # from_pretrained ties the shared names again
        raise ValueError(f"{path.name}: keys differ: {sorted(set(state) ^ expected)[:5]}")
    net.load_state_dict(state, strict=False)


register(
    Recipe(
        names=("pathology/paige_prism",),
        source="https://huggingface.co/paige-ai/Prism remote code (modeling_prism.py, perceiver.py, "
        "config.json) read in the copy vendored at https://github.com/DIAGNijmegen/"
        "unicorn_baseline/tree/dec380918e3bc344c403d85a69960befa76ad473/src/unicorn_baseline/"
        "vision_language/prism (slide_representations: image_embedding)",
        how="re-expression",
        build=_prism,
        preprocess=no_image,
        embed=lambda net, bag: net(bag[0]),  # PRISM reads no coordinates
        filename="model.safetensors",
        save=_prism_save,
        load=_prism_load,
        bag=(TILES, 2560),
    )
)


# --- MOOZY ----------------------------------------------------------------------------------


def _moozy(reduced: bool) -> Any:
    from zoo.verify.recipes._ref_moozy import MoozyReference

    del reduced
    # the package default variant base_half_depth: feat 384, width 768, 12 heads, 6 layers,
    # MLP 3072, 4 registers, no q/k norm, no layer scale, fixed ALiBi slopes
    return MoozyReference(384, 768, 12, 6, 3072, 4).eval()


def _moozy_save(net: Any, path: Path) -> None:
    import torch

    # moozy.pt: the teacher slide encoder, its configuration and the case transformer
    torch.save(
        {
            "teacher_slide_encoder": net.state_dict(),
            "slide_encoder_config": {"feat_dim": 384, "d_model": 768, "n_layers": 6},
            "case_transformer": {"layers.0.weight": torch.zeros(2)},
        },
        path,
    )


def _moozy_load(net: Any, path: Path) -> None:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)["teacher_slide_encoder"]
    _load_strict(net, state)


register(
    Recipe(
        names=("pathology/moozy_slide",),
        source="https://pypi.org/project/moozy/0.1.1/ (moozy/models/moozy_slide_encoder.py "
        "MOOZYSlideEncoder, variants.py, config/model.py), the code of https://github.com/"
        "AtlasAnalyticsLab/MOOZY",
        how="re-expression",
        build=_moozy,
        preprocess=no_image,
        # the class token after the final LayerNorm; distances in tiles of patch_size_level0
        embed=lambda net, bag: net(bag[0], bag[1], _BAG_TILE),
        filename="moozy.pt",
        save=_moozy_save,
        load=_moozy_load,
        bag=(TILES, 384),
    )
)
