"""The bundled catalogue itself: eva's backbones, the EVA family and timm, each contract checked offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import zoo
from tests.conftest import catalog_names
from zoo.catalog.toolkits import eva_entry
from zoo.cli import main

#: Facts copied from eva and from timm's EVA model card; tests/data/README.md cites the sources.
DATA = Path(__file__).resolve().parents[1] / "data"

#: Where eva's registry is wrong and the catalogue deliberately differs (the description says so).
CORRECTIONS: dict[str, dict[str, Any]] = {
    # Prov-GigaPath's tile encoder is a ViT-g with 16x16 patches at 224 (eva's notes say 14).
    "pathology/prov_gigapath": {"patch_size": 16},
}


def _eva_card_rows() -> dict[str, tuple[float, float, float, int]]:
    """The timm EVA card's comparison table: tag -> (top1, top5, params in M, image size)."""
    rows = json.loads((DATA / "timm_eva_card.json").read_text())["rows"]
    return {r["model"]: (r["top1"], r["top5"], r["param_count"], r["img_size"]) for r in rows}


def _eva_entries() -> list[dict[str, Any]]:
    """eva's pathology/ and universal/ backbones (tests/data/eva_registry.json)."""
    return json.loads((DATA / "eva_registry.json").read_text())["entries"]


@pytest.fixture(scope="module")
def catalog() -> zoo.Catalog:
    return zoo.Catalog()


def test_every_eva_backbone_has_an_entry_of_the_same_name(catalog: zoo.Catalog) -> None:
    names = {e["name"] for e in _eva_entries()}
    assert len(names) == 24
    assert names <= set(catalog.names())
    assert {eva_entry(n) for n in names} <= set(catalog.names())


def test_entries_agree_with_evas_facts_or_say_why_not(catalog: zoo.Catalog) -> None:
    for entry in _eva_entries():
        m = catalog.get(eva_entry(entry["name"]))
        fixed = CORRECTIONS.get(entry["name"], {})
        assert m.output.embedding_dim == entry["embed_dim"], entry["name"]
        if entry.get("patch_size") is not None:
            assert m.output.patch_size == fixed.get("patch_size", entry["patch_size"]), m.name
        if entry.get("normalization"):
            assert list(m.input.mean) == pytest.approx(entry["normalization"]["mean"]), m.name
            assert list(m.input.std) == pytest.approx(entry["normalization"]["std"]), m.name
        if entry.get("input_channels") == 1:
            assert m.input.in_chans == 1, m.name
        if fixed:
            assert "eva" in m.description.lower(), f"{m.name} differs from eva without saying so"


@pytest.mark.parametrize(
    ("base", "width"),
    [
        ("pathology/paige_virchow2", 1280),
        ("pathology/bioptimus_h0_mini", 768),
        ("pathology/kaiko_midnight_12k", 1536),
        ("pathology/paige_virchow", 1280),
    ],
)
def test_second_embedding_is_a_variant_of_the_same_weights(
    catalog: zoo.Catalog, base: str, width: int
) -> None:
    """The naming rule: the unsuffixed name is the authors' embedding, ``_cls`` / ``_cls_mean``
    the other one (H0-mini's card shows both without preferring one: the first, CLS)."""
    m = catalog.get(base)
    if m.output.pooling == "cls":
        cls, both = m, catalog.get(f"{base}_cls_mean")
    else:
        cls, both = catalog.get(f"{base}_cls"), m
    assert (cls.output.pooling, cls.output.embedding_dim) == ("cls", width)
    assert (both.output.pooling, both.output.embedding_dim) == ("cls+mean", 2 * width)
    assert {cls.same_weights_as, both.same_weights_as} == {None, base}
    assert both.checkpoint == cls.checkpoint
    assert both.input == cls.input


def test_register_tokens_are_prefix_tokens_and_never_averaged(catalog: zoo.Catalog) -> None:
    for name in ("pathology/paige_virchow2", "pathology/bioptimus_h0_mini_cls_mean"):
        m = catalog.get(name)
        assert m.output.prefix_tokens == 5  # cls + 4 registers, all excluded from the mean
        assert "register" in m.description.lower()


def test_the_eva_card_table_is_in_the_catalogue_with_its_metrics(catalog: zoo.Catalog) -> None:
    rows = _eva_card_rows()
    assert len(rows) == 16
    for tag, (top1, top5, params, size) in rows.items():
        m = catalog.get(f"universal/{tag}")
        assert set(m.metrics) == {"params", "imagenet_top1", "imagenet_top5"}
        assert (m.metrics["imagenet_top1"], m.metrics["imagenet_top5"]) == (top1, top5)
        # The card counts timm's classifier (ImageNet-1k's 1,000 classes, a weight and a bias
        # per class); the entry counts the network it builds, without a head.
        head = (m.output.embedding_dim + 1) * 1000
        assert round((m.metrics["params"] + head) / 1e6, 2) == params, m.name
        assert m.input.size == (size, size), m.name
        assert m.wrapper.type == "timm"
        assert m.checkpoint is not None
        assert f"{m.wrapper.architecture}.{m.checkpoint.timm}" == tag


#: The model names of mmpretrain's EVA page (the seed's two tables), as mmpretrain users type them.
MMPRETRAIN_EVA = {
    "eva-mae-style_vit-base-p16_16xb256-coslr-400e_in1k",
    "beit-l-p14_3rdparty-eva_in21k",
    "beit-l-p14_eva-pre_3rdparty_in21k",
    "beit-g-p16_3rdparty-eva_30m",
    "beit-g-p14_3rdparty-eva_30m",
    "beit-g-p14_eva-30m-pre_3rdparty_in21k",
    "vit-base-p16_eva-mae-style-pre_8xb128-coslr-100e_in1k",
    "vit-base-p16_eva-mae-style-pre_8xb2048-linear-coslr-100e_in1k",
    "beit-l-p14_eva-pre_3rdparty_in1k-196px",
    "beit-l-p14_eva-in21k-pre_3rdparty_in1k-196px",
    "beit-l-p14_eva-pre_3rdparty_in1k-336px",
    "beit-l-p14_eva-in21k-pre_3rdparty_in1k-336px",
    "beit-g-p14_eva-30m-in21k-pre_3rdparty_in1k-336px",
    "beit-g-p14_eva-30m-in21k-pre_3rdparty_in1k-560px",
}


def test_mmpretrain_names_resolve_bare(catalog: zoo.Catalog) -> None:
    bare = {a: m.name for m in catalog if m.group == "universal" for a in m.aliases if "/" not in a}
    assert set(bare) == MMPRETRAIN_EVA
    for alias, name in bare.items():
        assert catalog.get(alias).name == name
        assert "mmpretrain" in catalog.get(name).description
    # the earlier namespaced spelling of the six ImageNet-1k rows still resolves
    grouped = {a for m in catalog for a in m.aliases if a.startswith("universal/")}
    assert {a.removeprefix("universal/") for a in grouped} <= MMPRETRAIN_EVA
    assert len(grouped) == 6


def test_readme_table_is_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["readme", "--check"]) == 0, capsys.readouterr().err


@pytest.mark.slow  # about a minute in all: every entry is built (on the meta device)
@pytest.mark.parametrize("name", catalog_names())
def test_every_entry_builds_and_keeps_its_contract(name: str) -> None:
    pytest.importorskip("timm")
    pytest.importorskip("transformers")
    from zoo.loading.check import check_build

    m = zoo.Catalog().get(name)
    result = check_build(m, trust_remote_code=True)
    assert result.ok, result.problems
    # Built, not skipped: a skipped check is "ok" too, but records no shapes.
    assert not result.skipped, result.skipped
    assert result.embedding_shape is not None
    assert len(result.feature_shapes) == m.output.feature_levels


@pytest.mark.slow
@pytest.mark.usefixtures("with_timm_index")
def test_timm_names_resolve_on_demand_as_embedding_models(catalog: zoo.Catalog) -> None:
    torch = pytest.importorskip("torch")
    m = catalog.get("timm/vit_small_patch16_224.dino")
    assert (m.output.embedding_dim, m.output.patch_size) == (384, 16)
    assert m.checkpoint is not None
    assert m.checkpoint.timm == "dino"
    model = catalog.load("timm/vit_small_patch16_224.dino", pretrained=False)
    dynamic = catalog.load(
        "timm/vit_small_patch16_224.dino", pretrained=False, dynamic_img_size=True
    )
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 384)  # an embedding, not 1000 logits
        with pytest.raises(zoo.ZooError, match="dynamic_img_size=True"):
            model(torch.zeros(1, 3, 160, 192))
        assert dynamic(torch.zeros(1, 3, 160, 192)).shape == (1, 384)  # the override is honoured
        maps = catalog.load(
            "timm/vit_small_patch16_224.dino", pretrained=False, out_indices=(-2, -4)
        )(torch.zeros(1, 3, 224, 224))
    assert [tuple(f.shape) for f in maps] == [(1, 384, 14, 14)] * 2
