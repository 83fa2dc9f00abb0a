"""One naming rule (CONTRIBUTING.md, "Which embedding a name returns"): the unsuffixed name is the
authors' embedding, a suffix names any other embedding of the same weights, and renamed entries
keep their old names."""

from __future__ import annotations

import pytest

import zoo
from zoo.catalog.toolkits import EVA_NAMES, EVA_RENAMED, eva_entry

#: What each suffix returns (``output.pooling``).
SUFFIXES = {
    "_cls_mean": "cls+mean",
    "_cls": "cls",
    "_mean": "mean",
    "_projected": "projection",
    "_unprojected": "pooler",
}

#: Names that returned something before the rule, the entry now answering to them and what it
#: returns (it must be what the old name returned).
RENAMED = [
    ("pathology/paige_virchow2_cls_mean", "pathology/paige_virchow2", "cls+mean", 2560),
    ("pathology/kaiko_midnight_12k_cls_mean", "pathology/kaiko_midnight_12k", "cls+mean", 3072),
]


@pytest.fixture(scope="module")
def catalog() -> zoo.Catalog:
    return zoo.Catalog()


def _suffix(name: str) -> str | None:
    return next((s for s in SUFFIXES if name.endswith(s)), None)


def test_a_suffix_says_what_the_entry_returns(catalog: zoo.Catalog) -> None:
    checked = 0
    for m in catalog:
        suffix = _suffix(m.name)
        if suffix is None or m.same_weights_as is None:
            continue
        assert m.output.pooling == SUFFIXES[suffix], m.name
        base = catalog.get(m.same_weights_as)
        assert _suffix(base.name) is None, f"{m.name}: its base {base.name} has a suffix too"
        assert base.output.pooling != m.output.pooling, m.name
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize(
    ("base", "pooling", "dim"),
    [
        ("pathology/paige_virchow", "cls+mean", 2560),  # the embedding PRISM takes
        ("pathology/paige_virchow2", "cls+mean", 2560),
        ("pathology/kaiko_midnight_12k", "cls+mean", 3072),
    ],
)
def test_the_unsuffixed_name_is_the_model_cards_embedding(
    catalog: zoo.Catalog, base: str, pooling: str, dim: int
) -> None:
    m, cls = catalog.get(base), catalog.get(f"{base}_cls")
    assert (m.output.pooling, m.output.embedding_dim) == (pooling, dim)
    assert "recommend" in " ".join(m.description.split())
    assert (cls.output.pooling, cls.output.embedding_dim) == ("cls", dim // 2)
    assert cls.same_weights_as == base


@pytest.mark.parametrize(("old", "new", "pooling", "dim"), RENAMED)
def test_an_old_name_still_loads_what_it_loaded(
    catalog: zoo.Catalog, old: str, new: str, pooling: str, dim: int
) -> None:
    assert old not in catalog.names()  # no file of that name: an alias
    m = catalog.get(old)
    assert m.name == new
    assert (m.output.pooling, m.output.embedding_dim) == (pooling, dim)
    assert old in " ".join(m.description.split())  # the description tells the story


@pytest.mark.slow  # builds two ViTs of over 600M parameters on the meta device
@pytest.mark.parametrize(("old", "new", "pooling", "dim"), RENAMED)
def test_an_old_name_builds_the_same_network(old: str, new: str, pooling: str, dim: int) -> None:
    pytest.importorskip("timm")
    pytest.importorskip("transformers")
    import torch

    model = zoo.load(old, pretrained=False, device="meta")
    assert model.manifest.name == new
    x = torch.zeros(1, 3, 224, 224, device="meta")
    assert tuple(model(x).shape) == (1, dim)


def test_eva_names_give_what_eva_gives(catalog: zoo.Catalog) -> None:
    """eva returns the CLS token of the two renamed names; the catalogue's unsuffixed names now
    return CLS + mean, so eva's names are served by the ``_cls`` entries."""
    assert set(EVA_RENAMED) <= EVA_NAMES
    for name, entry in EVA_RENAMED.items():
        assert eva_entry(name) == entry
        assert catalog.get(entry).output.pooling == "cls"
        assert catalog.get(name).output.pooling == "cls+mean"
    assert eva_entry("pathology/mahmood_uni") == "pathology/mahmood_uni"


def test_the_eva_registry_serves_the_renamed_names_with_the_cls_entries() -> None:
    pytest.importorskip("torch")
    from zoo.compat.eva import backbone_registry

    build = backbone_registry.get("pathology/paige_virchow2")
    assert build.__name__ == "pathology__paige_virchow2_cls"
    build = backbone_registry.get("pathology/kaiko_midnight_12k")
    assert build.__name__ == "pathology__kaiko_midnight_12k_cls"
    assert backbone_registry.get("pathology/mahmood_uni").__name__ == "pathology__mahmood_uni"
