"""A small catalogue for the site's tests: entries that differ in every fact the site filters
on, two that share weights, and one whose every free-text field is hostile markup."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ManifestFactory, ManifestWriter

#: A revision and a sha256 in the format's shapes (made up: no file is ever fetched).
REVISION = "0123456789abcdef0123456789abcdef01234567"
SHA = "ab" * 32
#: The pathology entry's scale: the page and the index show it.
SITE_MPP = {
    "value": 0.5,
    "basis": "stated",
    "source": "The authors' card: tiles at 0.5 microns per pixel (site fixture).",
}
#: Text that would run or break out of its element if a page did not escape it.
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _hf(repo: str, filename: str = "model.safetensors") -> dict[str, object]:
    return {"hf": {"repo": repo, "revision": REVISION, "filename": filename}, "sha256": SHA}


@pytest.fixture
def site_root(
    tmp_path: Path, write_manifest: ManifestWriter, tiny_manifest_data: ManifestFactory
) -> Path:
    """A catalogue root (``ZOO_CATALOG_PATH``) of six entries in three groups."""
    root = tmp_path / "extra"
    small = tiny_manifest_data(
        "vision/vit_small",
        aliases=["mmpre/vit-small-p16"],
        metrics={"params_m": 22.05, "imagenet_top1": 81.4},
        description="A small ViT.\n\nSecond paragraph with `code`.",
    )
    write_manifest(root, small)
    wide = tiny_manifest_data("vision/vit_small_cls_mean", same_weights_as="vision/vit_small")
    wide["output"] = {**wide["output"], "embedding_dim": 768, "pooling": "cls+mean"}
    write_manifest(root, wide)

    closed = tiny_manifest_data("pathology/histo_vit", tags=["pathology", "vit"], gated=True)
    closed["license"] = {"id": "CC-BY-NC-4.0", "commercial": False, "url": "https://example.org/l"}
    closed["checkpoint"] = _hf("example-org/histo")
    closed["metrics"] = {"params_m": 304.0}
    closed["input"] = {**closed["input"], "mpp": SITE_MPP}
    closed["output"] = {**closed["output"], "embedding_dim": 1024, "feature_dim": 1024}
    closed["wrapper"]["kwargs"] = {"img_size": 224, "embed_dim": 1024}
    write_manifest(root, closed)
    # The same file at the same revision, under another name and pooling: same weights,
    # declared (as validation requires) with same_weights_as.
    twin = tiny_manifest_data(
        "pathology/histo_vit_mean",
        tags=["pathology"],
        gated=True,
        same_weights_as="pathology/histo_vit",
    )
    twin["license"] = closed["license"]
    twin["checkpoint"] = _hf("example-org/histo")
    twin["output"] = {**closed["output"], "pooling": "mean"}
    twin["wrapper"]["kwargs"] = closed["wrapper"]["kwargs"]
    write_manifest(root, twin)

    unlicensed = tiny_manifest_data(
        "other/resnet_fn",
        tags=["cnn"],
        wrapper={"type": "function", "path": "torchvision.models.resnet18"},
        input={"size": [256, 256], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    )
    del unlicensed["license"]
    unlicensed["output"] = {"embedding_dim": 512, "pooling": "pooler"}
    write_manifest(root, unlicensed)

    hostile = tiny_manifest_data(
        "other/hostile",
        description=HOSTILE + " </script><!-- `" + HOSTILE + "`",
    )
    hostile["license"] = {"id": "other", "commercial": True, "url": "javascript:alert(1)"}
    hostile["paper"] = {"title": HOSTILE, "url": 'https://example.org/"><script>x()</script>'}
    hostile["wrapper"]["kwargs"] = {"img_size": 224, "note": HOSTILE}
    write_manifest(root, hostile)
    return root


@pytest.fixture
def site_env(monkeypatch: pytest.MonkeyPatch, site_root: Path) -> Path:
    """``ZOO_CATALOG_PATH`` set to :func:`site_root` (the bundled catalogue stays in)."""
    monkeypatch.setenv("ZOO_CATALOG_PATH", str(site_root))
    return site_root
