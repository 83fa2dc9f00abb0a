"""``zoo verify``: the harness and the command, on real recipes and on recipes broken on purpose."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.offline_kit import manifest, write
from zoo.catalog.reader import Catalog
from zoo.verify import recipe as registry
from zoo.verify.recipe import Recipe, recipes
from zoo.verify.recipes._layout import state_dict_file, torchvision_eval
from zoo.verify.run import verify

UNI = "pathology/mahmood_uni"


def _tiny(reduced: bool) -> Any:
    import timm

    from tests.offline_kit import TINY_TIMM

    return timm.create_model("vit_tiny_patch16_224", **TINY_TIMM).eval()


_save, _load = state_dict_file("safetensors")
TINY = Recipe(
    names=("testing/tiny",),
    source="tests/verify/test_verify.py",
    how="package",
    build=_tiny,
    preprocess=torchvision_eval(32, 32, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3),
    embed=lambda net, x: net.forward_features(x)[:, 0],
    filename="model.safetensors",
    save=_save,
    load=_load,
)


@pytest.fixture
def tiny_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """A catalogue with ``testing/tiny`` (a Hub file) and its recipe registered."""
    root = tmp_path / "catalog"
    hf = {"repo": "someone/tiny", "revision": "a" * 40, "filename": "model.safetensors"}
    write(
        root,
        manifest(
            checkpoint={"hf": hf},
            input={
                "size": [32, 32],
                "mean": [0.5] * 3,
                "std": [0.5] * 3,
                "interpolation": "bicubic",
            },
        ),
    )
    monkeypatch.setitem(registry._RECIPES, "testing/tiny", TINY)
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(root))
    return Catalog([root])


def test_tiny_matches_its_recipe_through_a_mirror(tiny_catalog: Catalog) -> None:
    result = verify("testing/tiny", random_weights=True, catalog=tiny_catalog)
    assert result.ok
    assert [c.image for c in result.comparisons] == ["he_square.png", "he_wide.png", "ihc_tall.png"]


def test_a_wrong_interpolation_is_caught(
    monkeypatch: pytest.MonkeyPatch, tiny_catalog: Catalog
) -> None:
    # The recipe says bilinear where the entry resizes bicubically: the preprocessed tensors
    # differ, and so do the embeddings.
    wrong = dataclasses.replace(
        TINY,
        preprocess=torchvision_eval(
            32, 32, interpolation="bilinear", mean=(0.5,) * 3, std=(0.5,) * 3
        ),
    )
    monkeypatch.setitem(registry._RECIPES, "testing/tiny", wrong)
    result = verify("testing/tiny", random_weights=True, catalog=tiny_catalog)
    assert not result.ok
    assert all(c.input_diff is not None and c.input_diff > 1e-3 for c in result.comparisons)
    assert all(c.embedding_diff is not None and c.embedding_diff > 1e-5 for c in result.comparisons)


def test_a_squash_is_caught_on_the_non_square_images(
    monkeypatch: pytest.MonkeyPatch, tiny_catalog: Catalog
) -> None:
    squash = dataclasses.replace(
        TINY,
        preprocess=torchvision_eval(
            (32, 32), None, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3
        ),
    )
    monkeypatch.setitem(registry._RECIPES, "testing/tiny", squash)
    by_image = {
        c.image: c
        for c in verify("testing/tiny", random_weights=True, catalog=tiny_catalog).comparisons
    }
    assert by_image["he_square.png"].input_diff == 0.0
    assert by_image["he_wide.png"].input_diff > 1e-3  # type: ignore[operator]
    assert by_image["ihc_tall.png"].input_diff > 1e-3  # type: ignore[operator]


def test_a_wrong_layout_fails_the_strict_load(
    monkeypatch: pytest.MonkeyPatch, tiny_catalog: Catalog
) -> None:
    from zoo.errors import ZooError

    save, _ = state_dict_file("safetensors", prefix="module.")
    monkeypatch.setitem(registry._RECIPES, "testing/tiny", dataclasses.replace(TINY, save=save))
    with pytest.raises(ZooError, match="module"):
        verify("testing/tiny", random_weights=True, catalog=tiny_catalog)


def test_real_weights_mode_reads_the_mirror(
    tiny_catalog: Catalog, tmp_path: Path, run_cli: CliRunner
) -> None:
    import torch

    from zoo.verify.run import _random_manifest

    torch.manual_seed(0)
    net = _tiny(False)
    released = tmp_path / "released"
    released.mkdir()
    TINY.save(net, released / "model.safetensors")
    served = _random_manifest(
        tiny_catalog.get("testing/tiny"), released / "model.safetensors", tmp_path / "mirror", None
    )
    # The catalogue's manifest now declares the file's sha256, as a real entry does.
    write(
        tmp_path / "catalog",
        manifest(
            checkpoint=served.checkpoint.model_dump(exclude_defaults=True),
            input=served.input.model_dump(exclude_defaults=True),
        ),
    )  # type: ignore[union-attr]
    code, out, err = run_cli("verify", "testing/tiny", "--mirror", tmp_path / "mirror", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["ok"]
    assert row["mode"] == "weights"


def test_images_folder_of_the_user(
    tiny_catalog: Catalog, tmp_path: Path, run_cli: CliRunner
) -> None:
    from PIL import Image

    folder = tmp_path / "mine"
    folder.mkdir()
    Image.new("RGB", (50, 40), (200, 100, 150)).save(folder / "a.png")
    code, out, err = run_cli(
        "verify", "testing/tiny", "--random-weights", "--images", folder, "--json"
    )
    assert code == 0, err
    assert [c["image"] for c in json.loads(out)[0]["images"]] == ["a.png"]


def test_images_folder_without_images(tmp_path: Path, run_cli: CliRunner) -> None:
    code, _, err = run_cli("verify", UNI, "--random-weights", "--images", tmp_path)
    assert code == 2
    assert "no image in it" in err


def test_mismatch_exits_1(
    monkeypatch: pytest.MonkeyPatch, tiny_catalog: Catalog, run_cli: CliRunner
) -> None:
    wrong = dataclasses.replace(TINY, embed=lambda net, x: net.forward_features(x).mean(1))
    monkeypatch.setitem(registry._RECIPES, "testing/tiny", wrong)
    code, out, _ = run_cli("verify", "testing/tiny", "--random-weights")
    assert code == 1
    assert "MISMATCH" in out


def test_entry_without_recipe_is_a_usage_error(
    tiny_catalog: Catalog, run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(registry._RECIPES, "testing/tiny")
    code, _, err = run_cli("verify", "testing/tiny", "--random-weights")
    assert code == 2
    assert "no reference recipe" in err


def test_gap_reason_is_the_message(
    tiny_catalog: Catalog, run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(registry._RECIPES, "testing/tiny")
    monkeypatch.setitem(
        registry._GAPS,
        "testing/tiny",
        registry.Gap("testing/tiny", "the authors never published their code"),
    )
    code, _, err = run_cli("verify", "testing/tiny")
    assert code == 2
    assert "never published" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name entries"),
        (("--all", UNI), "one of them"),
        (("--base", "main"), "only makes sense with --changed"),
        (("--list", UNI), "--list shows every entry"),
    ],
)
def test_usage(args: tuple[str, ...], message: str, run_cli: CliRunner) -> None:
    code, _, err = run_cli("verify", *args)
    assert code == 2
    assert message in err


def test_list_json_covers_every_entry_with_weights(run_cli: CliRunner) -> None:
    code, out, err = run_cli("verify", "--list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    with_weights = {m.name for m in Catalog() if m.checkpoint is not None}
    assert set(rows) == with_weights
    assert rows[UNI]["status"] == "covered"
    assert rows[UNI]["how"] == "package"
    assert "have a recipe" in err
    for row in rows.values():
        assert row["status"] in {"covered", "gap", "missing"}
        if row["status"] == "gap":
            assert row["reason"]


def test_every_recipe_names_an_entry_with_weights_and_a_source() -> None:
    catalog = Catalog()
    for name, found in recipes().items():
        assert catalog.get(name).checkpoint is not None, name
        assert found.source.startswith("http"), name


def test_recipe_modules_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys; from zoo.verify.recipe import recipes; recipes(); print('torch' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


def test_changed_runs_the_entries_whose_recipe_or_manifest_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: CliRunner, tiny_catalog: Catalog
) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "base")
    monkeypatch.chdir(tmp_path)
    # The catalogue folder is untracked in this repository: testing/tiny's manifest changed.
    code, out, err = run_cli("verify", "--changed", "--base", "main", "--random-weights", "--json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)] == ["testing/tiny"]
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "tiny")
    code, out, err = run_cli("verify", "--changed", "--base", "HEAD", "--random-weights")
    assert code == 0
    assert "no entry with a recipe changed" in err


def test_trust_remote_code_reaches_the_load(
    tiny_catalog: Catalog, monkeypatch: pytest.MonkeyPatch, run_cli: CliRunner
) -> None:
    from zoo.verify import run

    seen: list[bool] = []
    real = run._load_zoo

    def spy(*args: Any) -> Any:
        seen.append(args[-1] if len(args) == 5 else False)
        return real(*args)

    monkeypatch.setattr(run, "_load_zoo", spy)
    from zoo.errors import ZooError

    # No weights anywhere: zoo's load is where it stops, after being asked with the flag.
    with pytest.raises(ZooError):
        run.verify("testing/tiny", catalog=tiny_catalog, trust_remote_code=True)
    assert seen == [True]


def test_every_slide_encoder_has_a_bag_recipe_or_says_which_test_proves_it() -> None:
    import re

    from zoo.manifest import TilesInputSpec
    from zoo.verify.recipe import gaps, recipes

    declared, covered = gaps(), recipes()
    for entry in Catalog():
        if not isinstance(entry.input, TilesInputSpec):
            continue
        if entry.name in covered:
            assert covered[entry.name].bag == (covered[entry.name].bag[0], entry.input.feature_dim)
            continue
        test = re.search(r"tests/nn/\S+\.py", declared[entry.name].reason)[0]  # type: ignore[index]
        assert (Path(__file__).parents[2] / test).is_file(), (entry.name, test)


def test_a_slide_encoder_recipe_catches_a_wrong_head_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bag comparison can fail: MADELEINE read with contiguous head slices (not the authors'
    interleaved ones) is a mismatch."""
    import torch

    from zoo.verify.recipes import _ref_madeleine

    real = _ref_madeleine.encode_he

    def contiguous(state: Any, feats: Any, heads: int) -> Any:
        shuffled = {}
        for key, value in state.items():
            # the last widening layer's outputs regrouped: head c gets channels c*dim..(c+1)*dim
            if key.startswith("wsi_embedders.pre_attn.8.") or key.startswith(
                "wsi_embedders.pre_attn.9."
            ):
                order = torch.arange(value.shape[0]).reshape(-1, heads).T.reshape(-1)
                value = value[order]
            shuffled[key] = value
        return real(shuffled, feats, heads)

    monkeypatch.setattr(_ref_madeleine, "encode_he", contiguous)
    result = verify("pathology/mahmood_madeleine", random_weights=True)
    assert not result.ok
    assert result.comparisons[0].image == "random bag 70x512"
    assert result.comparisons[0].embedding_diff > 1e-3
