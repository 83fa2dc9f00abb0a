"""Drafts from timm's registry (derived by :func:`zoo.catalog.timm.registry.manifest_for`)."""

from __future__ import annotations

from zoo.scaffold._draft import Draft, common_todos


def timm_draft(spec: str, name: str) -> Draft:
    """A draft for ``<architecture>[.<tag>]``, derived by :func:`zoo.catalog.timm.registry.manifest_for`."""
    from zoo.catalog.timm import registry as timm_registry

    derived = timm_registry.manifest_for(timm_registry.PREFIX + spec)
    data = derived.model_dump(mode="json", exclude_defaults=True)
    data["input"] = derived.input.model_dump(mode="json", exclude_none=True)
    data["name"] = name
    data["description"] = ""
    out = data["output"]
    dims = out.get("feature_dim")
    if isinstance(dims, list) and dims and len(set(dims)) == 1 and out.get("patch_size"):
        out["feature_dim"] = dims[0]  # a ViT: every block has the token dim
    draft = Draft(data)
    common_todos(draft)
    draft.before["tags"] = ["TODO tags: add lowercase labels (vit, dinov2, pathology, ...)"]
    lic = data.get("license")
    if lic is None:
        draft.before["license"] = [
            "TODO license: timm's registry names none. Add {id: <SPDX id or other>, "
            "commercial: true|false, url: <terms>} from the model card"
        ]
    elif lic["id"] == "other":
        draft.before["license"] = [
            "TODO license: timm names a license zoo does not map; set id (SPDX) and commercial "
            "from the model card"
        ]
    else:
        draft.before["license"] = ["license: from timm's pretrained config"]
    if "checkpoint" in data:
        draft.before["checkpoint"] = [
            f"weights: timm's pretrained tag {spec.split('.')[0]}.{data['checkpoint']['timm']}, "
            "fetched by timm (Hugging Face Hub)"
        ]
    else:
        draft.before["checkpoint"] = [
            "TODO checkpoint: none in timm's registry (random init); add {timm: <tag>}, "
            "{hf: {repo: owner/name, revision: <commit sha>, filename: ...}} or "
            "{url: ..., sha256: ...}"
        ]
    draft.before["input"] = ["input: timm's pretrained config (resize, crop and normalization)"]
    draft.trailing["output.pooling"] = (
        "timm's own num_classes=0 embedding; or cls, mean, cls+mean (ViTs)"
    )
    return draft
