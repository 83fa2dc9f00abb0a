"""Catalogue facts against short excerpts of the sources they come from.

Each excerpt under tests/data/pathology_sources/excerpts/ starts with the URL of the public file
(at a commit), the commit and the lines copied; the tests read the fact from the copy, then check
the manifest says the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import zoo

DATA = Path(__file__).resolve().parents[1] / "data"
EXCERPTS = DATA / "pathology_sources" / "excerpts"


def _excerpt(name: str) -> str:
    """The copied lines of one excerpt, after checking its header names a commit."""
    head, sep, body = (EXCERPTS / f"{name}.txt").read_text(encoding="utf-8").partition("\n---\n")
    assert sep, name
    fields = dict(line.split(": ", 1) for line in head.splitlines())
    assert re.fullmatch(r"[0-9a-f]{40}", fields["commit"]), name
    assert fields["url"].startswith("https://github.com/"), name
    assert f"/blob/{fields['commit']}/" in fields["url"], name
    return body


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def catalog() -> zoo.Catalog:
    return zoo.Catalog()


def test_every_excerpt_is_used() -> None:
    used = {
        "retccl_readme_license",
        "transpath_ctran_convstem",
        "plip_setup_license",
        "eva01_giant_pretraining_target",
        "lazyslide_lunit",
        "lazyslide_default_transform",
        "lazyslide_timm_model",
    }
    assert {p.stem for p in EXCERPTS.glob("*.txt")} == used


def test_retccl_is_non_commercial_as_its_readme_says(catalog: zoo.Catalog) -> None:
    readme = _excerpt("retccl_readme_license")
    assert "GPLv3" in readme
    assert "non-commercial academic purposes" in readme
    for name in ("pathology/retccl_resnet50", "pathology/wang_ctranspath"):  # the same sentence
        lic = catalog.get(name).license
        assert lic is not None
        assert (lic.id, lic.commercial) == ("GPL-3.0", False), name


def test_ctranspath_stem_widths_are_the_authors(catalog: zoo.Catalog) -> None:
    """ctran.py: ``output_dim = embed_dim // 8``, doubled after the first conv."""
    code = _excerpt("transpath_ctran_convstem")
    assert "input_dim, output_dim = 3, embed_dim // 8" in code
    assert "output_dim *= 2" in code
    assert "for l in range(2):" in code
    m = catalog.get("pathology/wang_ctranspath")
    embed = 96  # swin_tiny's first stage width, the stem's output (feature_dim[0])
    assert isinstance(m.output.feature_dim, list)
    assert m.output.feature_dim[0] == embed
    widths = [embed // 8, embed // 4]
    text = _words(m.description)
    assert f"{widths[0]} then {widths[1]}" in text
    assert "24 then 48" not in text
    pytest.importorskip("timm")
    import torch

    from zoo import load_manifest

    stem = load_manifest(m, meta=True).backbone.patch_embed
    convs = [c for c in stem.modules() if isinstance(c, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [*widths, embed]


def test_openmidnight_swiglu_hidden_width(catalog: zoo.Catalog) -> None:
    """DINOv2's fused SwiGLU at width 1536: hidden (1536*4*2/3 rounded to 8) = 4096; timm packs
    the two input projections into one layer of twice that."""
    archs = json.loads((DATA / "pathology_sources" / "dinov2_archs.json").read_text())["archs"]
    g = archs["vit_giant2"]
    hidden = (int(g["embed_dim"] * g["mlp_ratio"] * 2 / 3) + 7) // 8 * 8
    assert hidden == 4096
    text = _words(catalog.get("pathology/sophont_openmidnight").description)
    assert f"SwiGLU hidden {hidden}" in text
    assert "SwiGLU hidden 8192" not in text


def test_eva_giant_mim_target_is_openai_clip_vit_l14(catalog: zoo.Catalog) -> None:
    recipe = _excerpt("eva01_giant_pretraining_target")
    assert "MODEL_NAME=eva_g_patch14_224" in recipe
    assert "teacher_type=clip" in recipe
    assert "clip_model=ViT-L/14" in recipe
    assert "openaipublic.azureedge.net/clip/models/" in recipe
    for name in (
        "universal/beit-g-p14_3rdparty-eva_30m",
        "universal/beit-g-p16_3rdparty-eva_30m",
        "universal/eva_giant_patch14_336.m30m_ft_in22k_in1k",
        "universal/eva_giant_patch14_560.m30m_ft_in22k_in1k",
    ):
        text = _words(catalog.get(name).description)
        assert "OpenAI's CLIP ViT-L/14 as the target" in text, name
        assert "EVA-CLIP features as the target" not in text, name


def test_plip_description_states_the_setup_py_licence(catalog: zoo.Catalog) -> None:
    setup = _excerpt("plip_setup_license")
    assert 'license="MIT license"' in setup
    for name in ("pathology/stanford_plip", "pathology/stanford_plip_unprojected"):
        text = _words(catalog.get(name).description)
        assert 'declares MIT in its setup.py (license="MIT license")' in text, name
        assert "the authors' repository states none" not in text, name


def test_lazyslide_lunit_names_are_not_aliases_of_lunits_release(catalog: zoo.Catalog) -> None:
    """LazySlide's lunit-* load 1aurent's conversions through TimmModel, whose transform uses
    ImageNet statistics; the catalogue's Lunit entries use Lunit's, so no alias claims them."""
    registry = _excerpt("lazyslide_lunit")
    transform = _excerpt("lazyslide_default_transform")
    timm_model = _excerpt("lazyslide_timm_model")
    assert "Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))" in transform
    assert "InterpolationMode.BICUBIC" in transform
    assert "return get_default_transform(self.img_size)" in timm_model
    table = json.loads((DATA / "aliases" / "lazyslide.json").read_text(encoding="utf-8"))
    keys = re.findall(r'key="(lunit-[a-z0-9-]+)"', registry)
    hubs = re.findall(r'_hf_hub_id = "(1aurent/[^"]+)"', registry)
    assert len(keys) == len(hubs) == 5
    for key, hub in zip(keys, hubs, strict=True):
        row = table["names"][key]
        assert row["entry"] is None, key
        assert hub in row["why"], key
        assert f"lazyslide/{key}" not in catalog
    for name in (
        "pathology/lunit_resnet50_bt",
        "pathology/lunit_resnet50_mocov2",
        "pathology/lunit_resnet50_swav",
        "pathology/lunit_vits8",
        "pathology/lunit_vits16",
    ):
        m = catalog.get(name)
        assert list(m.input.mean) != [0.485, 0.456, 0.406], name  # Lunit's own statistics
        assert not any(a.startswith("lazyslide/") for a in m.aliases), name
