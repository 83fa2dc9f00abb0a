"""The pathology entries against their public sources: pins, the authors' recipes and configs.

Every fact used here is a copy under tests/data/pathology_sources, each naming the public file it
was transcribed from; no test reads anything outside the repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import zoo
from zoo.manifest import FunctionWrapper, Manifest, TimmWrapper

DATA = Path(__file__).resolve().parents[1] / "data" / "pathology_sources"
README = Path(__file__).resolve().parents[2] / "README.md"

PINS: dict[str, Any] = json.loads((DATA / "pins.json").read_text())
RECIPES: dict[str, Any] = json.loads((DATA / "recipes.json").read_text())
DINOV2: dict[str, Any] = json.loads((DATA / "dinov2_archs.json").read_text())
GENBIO: dict[str, Any] = json.loads((DATA / "genbio_pathfm.json").read_text())
KEEP: dict[str, Any] = json.loads((DATA / "keep.json").read_text())

#: The DINOv2 training configs the authors published, and the entries built from them.
AUTHOR_CONFIGS = {
    name: DATA / "author_configs" / path
    for name, path in {
        "pathology/sophont_openmidnight": "MedARC-AI/OpenMidnight/vitg14_reg4.yaml",
        "pathology/openpath": "taejoon89/openpath/openpath_vitg14.yaml",
    }.items()
}


@pytest.fixture(scope="module")
def catalog() -> zoo.Catalog:
    return zoo.Catalog()


def _kwarg(m: Manifest, name: str) -> Any:
    """A timm kwarg of the entry, an ``$object`` written as its dotted path."""
    assert isinstance(m.wrapper, TimmWrapper), m.name
    value = m.wrapper.kwargs.get(name)
    return value["$object"] if isinstance(value, dict) and "$object" in value else value


def _swiglu_fused_hidden(embed_dim: int, mlp_ratio: float) -> int:
    """DINOv2's SwiGLUFFNFused hidden width (dinov2/layers/swiglu_ffn.py, see dinov2_archs.json)."""
    return (int(embed_dim * mlp_ratio * 2 / 3) + 7) // 8 * 8


@pytest.mark.parametrize("name", sorted(PINS["pins"]))
def test_weights_are_pinned_as_the_public_source_states(catalog: zoo.Catalog, name: str) -> None:
    pin, m = PINS["pins"][name], catalog.get(name)
    assert all(part in PINS["sources"] for part in pin["source"].split("+"))
    twins = [catalog.get(n) for n in catalog.names() if catalog.get(n).same_weights_as == name]
    for entry in [m, *twins]:
        ckpt = entry.checkpoint
        assert ckpt is not None, entry.name
        if "hf" in pin:
            assert ckpt.hf is not None
            assert ckpt.hf.repo.lower() == pin["hf"].lower(), entry.name  # the Hub ignores case
            assert (ckpt.hf.revision, ckpt.hf.filename) == (pin["revision"], pin["filename"])
        else:
            assert ckpt.url == pin["url"]
        assert ckpt.sha256 == pin["sha256"], entry.name
    if "stated" in pin:  # a hash the entry cannot declare is named in its description
        assert pin["stated"]["sha256"] in " ".join(m.description.split())


@pytest.mark.parametrize("name", sorted(RECIPES["recipes"]))
def test_entries_follow_the_authors_recipe(catalog: zoo.Catalog, name: str) -> None:
    recipe, m = RECIPES["recipes"][name], catalog.get(name)
    if "timm" in recipe:
        assert isinstance(m.wrapper, TimmWrapper)
        assert m.wrapper.architecture == recipe["timm"]["architecture"]
        for key, value in recipe["timm"]["kwargs"].items():
            if key not in RECIPES["ignored_kwargs"]:
                assert _kwarg(m, key) == value, f"{name}: {key}"
    assert list(m.input.mean) == pytest.approx(recipe["mean"])
    assert list(m.input.std) == pytest.approx(recipe["std"])
    assert m.input.size == (recipe["size"], recipe["size"])
    pooling = {"cls": "cls", "cls+mean": "cls+mean", "avgpool": "pooler"}[recipe["embedding"]]
    assert (m.output.pooling, m.output.embedding_dim) == (pooling, recipe["dim"])
    if recipe["embedding"] != "avgpool":
        assert m.output.prefix_tokens == recipe["prefix"], name
    if "checkpoint" in recipe:
        ckpt = m.checkpoint
        assert ckpt is not None
        assert ckpt.key == recipe["checkpoint"]["key"]
        assert ckpt.remap.strip_prefix == recipe["checkpoint"]["strip_prefix"]
        assert ckpt.remap.drop == recipe["checkpoint"]["drop"]
        assert ckpt.strict
    if "dinov2" in recipe:
        arch = DINOV2["archs"][recipe["dinov2"]]
        for key in ("embed_dim", "depth", "num_heads"):
            assert _kwarg(m, key) == arch[key], f"{name}: {key}"
        assert _kwarg(m, "patch_size") == recipe["patch_size"] == m.output.patch_size
        assert m.output.prefix_tokens == 1 + recipe["registers"]
        assert _kwarg(m, "init_values") == DINOV2["layerscale"]
        if recipe.get("ffn_layer") == "swiglufused":
            hidden = _swiglu_fused_hidden(arch["embed_dim"], arch["mlp_ratio"])
            assert _kwarg(m, "mlp_layer") == "timm.layers.SwiGLUPacked"
            assert int(arch["embed_dim"] * _kwarg(m, "mlp_ratio")) == 2 * hidden


@pytest.mark.parametrize("name", sorted(AUTHOR_CONFIGS))
def test_dinov2_entries_match_the_authors_training_config(catalog: zoo.Catalog, name: str) -> None:
    """The published DINOv2 config, field by field: arch, patch, registers, FFN, LayerScale."""
    student = yaml.safe_load(AUTHOR_CONFIGS[name].read_text())["student"]
    m, arch = catalog.get(name), DINOV2["archs"][student["arch"]]
    for key in ("embed_dim", "depth", "num_heads"):
        assert _kwarg(m, key) == arch[key], key
    assert (m.output.feature_levels, m.output.feature_dim) == (arch["depth"], arch["embed_dim"])
    assert _kwarg(m, "patch_size") == student["patch_size"] == m.output.patch_size
    assert _kwarg(m, "reg_tokens") == student["num_register_tokens"]
    assert m.output.prefix_tokens == 1 + student["num_register_tokens"]
    assert _kwarg(m, "no_embed_class") is True  # DINOv2 gives registers no position embedding
    assert _kwarg(m, "init_values") == DINOV2["layerscale"]
    assert student["ffn_layer"] == "swiglufused"
    hidden = _swiglu_fused_hidden(arch["embed_dim"], arch["mlp_ratio"])
    assert _kwarg(m, "mlp_layer") == "timm.layers.SwiGLUPacked"
    assert _kwarg(m, "act_layer") == "torch.nn.SiLU"
    assert int(arch["embed_dim"] * _kwarg(m, "mlp_ratio")) == 2 * hidden  # fc1 = [w1; w2]


def test_openpath_remap_flattens_the_block_chunks_of_its_training_config(
    catalog: zoo.Catalog,
) -> None:
    """block_chunks: 4 names a block ``blocks.<chunk>.<index>``; the entry must undo that."""
    pytest.importorskip("torch")
    from zoo.loading.checkpoint import remap

    chunks = yaml.safe_load(AUTHOR_CONFIGS["pathology/openpath"].read_text())["student"][
        "block_chunks"
    ]
    ckpt = catalog.get("pathology/openpath").checkpoint
    assert ckpt is not None
    assert chunks == 4
    last = 39  # 40 blocks in 4 chunks of 10: block 39 lives in chunk 3
    state = {
        f"backbone.blocks.3.{last}.mlp.w12.weight": 1,
        "backbone.cls_token": 2,
        "dino_head.last_layer.weight_g": 3,
        "ibot_head.mlp.0.bias": 4,
    }
    out = remap(state, ckpt.remap)  # type: ignore[arg-type]
    assert out == {f"blocks.{last}.mlp.w12.weight": 1, "cls_token": 2}


def test_second_embeddings_share_weights_and_transform(catalog: zoo.Catalog) -> None:
    both, cls = catalog.get("pathology/paige_virchow"), catalog.get("pathology/paige_virchow_cls")
    assert cls.same_weights_as == both.name
    assert both.checkpoint == cls.checkpoint
    assert both.input == cls.input
    assert (both.output.pooling, both.output.embedding_dim) == ("cls+mean", 2560)
    assert (cls.output.pooling, cls.output.embedding_dim) == ("cls", 1280)
    assert both.output.prefix_tokens == 1  # Virchow v1 has no registers: the mean is tokens[1:]


def _timm_swiglu_hidden(embed_dim: int, mlp_ratio: float, align: int) -> int:
    """timm's SwiGLU hidden width (timm.layers.SwiGLU with align_to, as Eva builds it)."""
    hidden = int(embed_dim * mlp_ratio)
    return hidden + (-hidden % align)


def _authors_swiglu_hidden(embed_dim: int, ffn_ratio: float, align: int) -> int:
    """GenBio-PathFM's SwiGLUFFN hidden width (the ``swiglu`` rule in genbio_pathfm.json)."""
    d = int(int(embed_dim * ffn_ratio) * 2 / 3)
    return d + (-d % align)


def test_genbio_pathfm_is_the_authors_constructor(catalog: zoo.Catalog) -> None:
    c, m = GENBIO["constructor"], catalog.get("pathology/genbio_pathfm")
    assert isinstance(m.wrapper, FunctionWrapper)
    args = m.wrapper.arguments
    trunk = args["trunk"]
    for mine, theirs in [
        ("img_size", "img_size"),
        ("patch_size", "patch_size"),
        ("embed_dim", "embed_dim"),
        ("depth", "depth"),
        ("num_heads", "num_heads"),
        ("num_reg_tokens", "n_storage_tokens"),
        ("init_values", "layerscale_init"),
        ("qkv_bias", "qkv_bias"),
        ("rope_temperature", "pos_embed_rope_base"),
    ]:
        assert trunk[mine] == c[theirs], mine
    align = int(c["ffn_layer"].removeprefix("swiglu"))
    assert trunk["swiglu_align_to"] == align
    want = _authors_swiglu_hidden(c["embed_dim"], c["ffn_ratio"], align)
    assert _timm_swiglu_hidden(c["embed_dim"], trunk["mlp_ratio"], align) == want == 4096
    assert (trunk["use_abs_pos_emb"], trunk["use_rot_pos_emb"], trunk["rope_rotate_half"]) == (
        False,
        True,
        True,
    )
    assert args["channels"] * c["embed_dim"] == GENBIO["dim"] == m.output.embedding_dim
    assert (m.output.feature_dim, m.output.feature_levels) == (GENBIO["dim"], c["depth"])
    assert (m.output.pooling, m.output.prefix_tokens) == ("cls", 1 + c["n_storage_tokens"])
    assert m.output.patch_size == c["patch_size"]
    transform = GENBIO["transform"]
    assert list(m.input.size) == transform["resize"]
    assert (m.input.interpolation, m.input.crop_mode) == (transform["interpolation"], "squash")
    assert list(m.input.mean) == transform["mean"]
    assert list(m.input.std) == transform["std"]


def test_genbio_pathfm_builds_the_authors_norms_and_rotary_grid(catalog: zoo.Catalog) -> None:
    """What only the built trunk shows: LayerNorm eps, the rotary type and coordinate scheme."""
    pytest.importorskip("timm")
    from zoo import load_manifest

    c = GENBIO["constructor"]
    trunk = load_manifest(catalog.get("pathology/genbio_pathfm"), meta=True).backbone.trunk
    assert trunk.in_chans == c["in_chans"]
    for norm in (trunk.norm, trunk.blocks[0].norm1, trunk.blocks[-1].norm2):
        assert norm.eps == c["layernorm_eps"]
    assert type(trunk.rope).__name__ == "RotaryEmbeddingDinoV3"
    assert trunk.rope.normalize_coords == c["pos_embed_rope_normalize_coords"]
    assert trunk.rope.temperature == c["pos_embed_rope_base"]
    assert trunk.rope.rotate_half is True
    assert trunk.pos_embed is None
    assert trunk.blocks[0].attn.qkv.bias is None  # qkv_bias false; the output projection has one
    assert trunk.blocks[0].attn.proj.bias is not None


def test_keep_is_the_authors_constructor(catalog: zoo.Catalog) -> None:
    c = KEEP["constructor"]
    for name, pooling, dim in [
        ("pathology/magic_keep", "projection", KEEP["projection_dim"]),
        ("pathology/magic_keep_unprojected", "pooler", KEEP["vision_width"]),
    ]:
        m = catalog.get(name)
        assert isinstance(m.wrapper, FunctionWrapper)
        args = m.wrapper.arguments
        assert args["architecture"] == c["architecture"]
        assert {k: args["trunk"][k] for k in ("img_size", "patch_size", "init_values")} == {
            k: c[k] for k in ("img_size", "patch_size", "init_values")
        }
        assert args["trunk"]["dynamic_img_size"] is c["dynamic_img_size"]
        assert (args["dim"], args["normalize"]) == (KEEP["projection_dim"], True)
        assert (m.output.pooling, m.output.embedding_dim) == (pooling, dim)
        assert m.output.feature_dim == KEEP["vision_width"]
        transform = KEEP["transform"]
        assert m.input.size == (transform["center_crop"], transform["center_crop"])
        assert (m.input.interpolation, m.input.crop_pct) == (transform["interpolation"], 1.0)
        assert list(m.input.mean) == transform["mean"]
        assert list(m.input.std) == transform["std"]


def test_unpinned_or_unhashed_entries_say_why(catalog: zoo.Catalog) -> None:
    """A checkpoint without a revision or a SHA-256 must explain it in its description."""
    named = {"pathology/digepath", "pathology/genbio_pathfm", "pathology/magic_keep"}
    for name in sorted(set(PINS["pins"]) | set(RECIPES["recipes"]) | named):
        m = catalog.get(name)
        ckpt = m.checkpoint
        assert ckpt is not None
        if ckpt.hf is not None and ckpt.hf.revision is None:
            assert "unpinned" in m.description, name
        if ckpt.sha256 is None:
            assert "sha256" in m.description.lower() or "sha-256" in m.description.lower(), name


def test_the_catalogue_passes_strict_validation_with_every_gap_explained(
    catalog: zoo.Catalog,
) -> None:
    """``zoo validate --strict`` passes on the bundled catalogue: what an entry cannot fix (no
    public sha256, no public commit) is a declared known gap, each with its reason."""
    import zoo.weights.sources
    from zoo.catalog.validation import KNOWN, validate_files

    files = [m.file for m in catalog if m.file is not None]
    report = validate_files(files, weights=zoo.weights.sources)
    assert report.ok(strict=True), [str(p) for p in report.errors(strict=True)]
    known = [p for p in report.problems if p.severity == KNOWN]
    assert len(known) >= 20  # the check has something to check
    for problem in known:
        assert "(known gap: " in problem.message, problem


def _unreleased() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Known but unreleased pathology encoders", 1)[1].split("\n## ", 1)[0]
    listing = section.split("Public but not expressible", 1)[0]
    return ["- **" + " ".join(item.split()) for item in listing.split("\n- **")[1:]]


def test_unreleased_models_are_listed_with_a_source_and_are_not_entries(
    catalog: zoo.Catalog,
) -> None:
    items = _unreleased()
    assert len(items) >= 7
    names = " ".join(catalog.names()).lower()
    for item in items:
        model = re.match(r"- \*\*([^*]+)\*\*", item)
        assert model is not None
        assert "](http" in item, f"{model.group(1)} has no source link"
        assert model.group(1).split()[0].lower().replace("-", "_") not in names


def test_the_pathology_group_has_at_least_46_distinct_weights(catalog: zoo.Catalog) -> None:
    """Issue 13 asked for 35; this is the count reached (a floor: removing an entry fails)."""
    entries = [catalog.get(n) for n in catalog.names() if n.startswith("pathology/")]
    assert sum(1 for m in entries if m.same_weights_as is None) >= 46
