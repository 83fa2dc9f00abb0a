"""What the site says about each manifest beyond its fields: page paths, the index row, its
names in other tools, and which entries declare the same weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zoo.manifest import Manifest, TilesInputSpec
from zoo.weights.sources import identity as weights_key

HF_URL = "https://huggingface.co"


def page_path(name: str) -> str:
    """A model's page, relative to the site root: ``models/<group>/<name>.html``."""
    group, _, stem = name.partition("/")
    return f"models/{group}/{stem}.html"


def yaml_path(name: str) -> str:
    """The copy of a model's manifest file, relative to the site root."""
    return page_path(name).removesuffix(".html") + ".yaml"


def revision(m: Manifest) -> str | None:
    """The pinned Hugging Face revision, if the weights have one."""
    ckpt = m.checkpoint
    return ckpt.hf.revision if ckpt is not None and ckpt.hf is not None else None


def sha256(m: Manifest) -> str | None:
    """The declared sha256 of the weights file, if any."""
    return m.checkpoint.sha256 if m.checkpoint is not None else None


def params_m(m: Manifest) -> float | None:
    """Parameters in millions, where the manifest reports ``metrics.params_m``."""
    value = m.metrics.get("params_m")
    return float(value) if value is not None else None


def size_text(size: Sequence[int]) -> str:
    """The sizes joined by a multiplication sign (any number of dimensions)."""
    return "\N{MULTIPLICATION SIGN}".join(str(s) for s in size)


def hf_tree_url(repo: str, rev: str | None = None) -> str:
    """The Hugging Face page of a repository (at a revision)."""
    return f"{HF_URL}/{repo}/tree/{rev}" if rev else f"{HF_URL}/{repo}"


def index_row(m: Manifest) -> dict[str, Any]:
    """One row of the index's data: what the filters, sorting and search read.

    Built on :meth:`Manifest.summary` (the row ``zoo list --json`` prints) plus the facts
    the site filters on. ``s`` is the lowercase text the search box matches.
    """
    summary = m.summary()
    wrapper = m.wrapper.model_dump(mode="json")
    ckpt = m.checkpoint
    searched = [
        m.name,
        *m.aliases,
        *m.tags,
        m.description,
        summary["wrapper"],
        summary["license"] or "",
        m.output.pooling,
        *(str(v) for k, v in wrapper.items() if k != "type" and isinstance(v, str)),
        ckpt.hf.repo if ckpt is not None and ckpt.hf is not None else "",
        *(n for _, n, _ in other_names(m)),
        *m.pairs_with,
    ]
    size = list(summary["input_size"] or [])
    area = 1 if size else 0
    for s in size:
        area *= s
    spec = m.input
    shown = f"{spec.feature_dim}-d tiles" if isinstance(spec, TilesInputSpec) else size_text(size)
    return {
        "n": m.name,
        "k": summary["kind"],
        "g": summary["group"],
        "w": summary["wrapper"],
        "l": summary["license"] or "",
        "c": summary["commercial"],
        "gt": summary["gated"],
        "p": m.output.pooling,
        "d": summary["embedding_dim"],
        "pm": params_m(m),
        "i": shown,
        "ia": area,
        "src": summary["source"],
        "rv": revision(m) is not None,
        "sh": sha256(m) is not None,
        "s": " ".join(" ".join(searched).lower().split()),
    }


def other_names(m: Manifest) -> list[tuple[str, str, str | None]]:
    """The names this entry has in other tools: ``(tool, name, url)``.

    Aliases are the names the entry's authors or other libraries use (``zoo load``
    accepts them too); weights from timm's registry have timm's ``create_model`` name
    (``<architecture>.<tag>``); a Hugging Face repository is its Hub id.
    """
    names: list[tuple[str, str, str | None]] = [("alias", a, None) for a in m.aliases]
    wrapper = m.wrapper.model_dump(mode="json")
    ckpt = m.checkpoint
    arch = wrapper.get("architecture")
    if ckpt is not None and ckpt.timm is not None and isinstance(arch, str):
        # Only timm's own weights make the timm name the same model (an architecture alone
        # names timm's default weights, which are others).
        names.append(("timm", f"{arch}.{ckpt.timm}", None))
    if ckpt is not None and ckpt.hf is not None:
        names.append(("Hugging Face Hub", ckpt.hf.repo, hf_tree_url(ckpt.hf.repo)))
    return names


@dataclass(frozen=True)
class WeightsGroups:
    """Entries that declare the same weights: linked by ``same_weights_as`` either way, or
    whose checkpoints are the same file (same sha256, Hub file at the same revision, URL)."""

    groups: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, manifests: Sequence[Manifest]) -> WeightsGroups:
        parent: dict[str, str] = {m.name: m.name for m in manifests}

        def find(name: str) -> str:
            while parent[name] != name:
                parent[name] = parent[parent[name]]
                name = parent[name]
            return name

        def union(a: str, b: str) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        first_with: dict[str, str] = {}
        for m in manifests:
            if m.same_weights_as is not None and m.same_weights_as in parent:
                union(m.name, m.same_weights_as)
            key = weights_key(m)
            if key is not None:
                union(m.name, first_with.setdefault(key, m.name))
        members: dict[str, list[str]] = {}
        for name in sorted(parent):
            members.setdefault(find(name), []).append(name)
        groups = {
            name: tuple(members[find(name)]) for name in parent if len(members[find(name)]) > 1
        }
        return cls(groups)

    def others(self, name: str) -> tuple[str, ...]:
        """The other entries with the same weights as ``name``, sorted."""
        return tuple(n for n in self.groups.get(name, ()) if n != name)
