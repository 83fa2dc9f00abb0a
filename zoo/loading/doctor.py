"""``zoo doctor``: can these models load here, now? A preflight that never touches the network.

For each model: the wrapper type and whether its extra is installed, whether the packages
its manifest ``requires`` are installed in a fitting version (from their metadata), where the
weights are (mirrored, cached, local, missing), whether they are gated and a
token is present. Nothing is imported to find out (``importlib.util.find_spec``
only), so the doctor never imports torch, and nothing is hashed or downloaded.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from zoo import settings
from zoo.catalog import requirements
from zoo.errors import ZooError
from zoo.manifest import Manifest
from zoo.weights import locations
from zoo.weights.sources import source_of
from zoo.weights.transport import mirror

#: Weights states that a load can use without network (``missing`` needs it).
AVAILABLE = ("mirrored", "cached", "local", "none")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def hf_token_present() -> bool:
    """Whether a Hugging Face token is set (``HF_TOKEN`` or the login's token file); never shown."""
    return settings.hf_token() is not None


def weights_state(manifest: Manifest) -> tuple[str, str | None]:
    """Where a manifest's weights are: ``(state, path)``; state is one of ``mirrored``,
    ``cached``, ``local``, ``none`` (random init), ``missing``, ``damaged`` (the mirror lists
    them but lacks a file or has one of another size), ``refused`` (a path leaving its folder:
    ``path`` is then the reason) or ``unknown`` (a timm tag whose host only timm's registry
    knows). Disk only: the weights source answers (:meth:`zoo.weights.sources.Source.locate`)."""
    source = source_of(manifest)
    if source is None:
        return "none", None
    try:
        found = source.locate()
    except ZooError as exc:
        return "refused", str(exc)
    if found is None:
        return "missing", None
    return found.state, str(found.path) if found.path is not None else None


def diagnose(manifests: Sequence[Manifest]) -> dict[str, Any]:
    """The preflight report: global settings and one row per model."""
    active = mirror.active()
    token = hf_token_present()
    online = not locations.offline()
    rows = []
    for m in manifests:
        extra, modules = m.wrapper.traits.extra, m.wrapper.traits.modules
        missing_modules = [mod for mod in modules if not _installed(mod)]
        unmet = requirements.unmet(m)
        state, where = weights_state(m)
        here = state in AVAILABLE
        broken = state in ("damaged", "refused")
        blocked = m.gated and not here and not token
        problems = []
        if missing_modules:
            problems.append(
                f"pip install 'zoo-backbones[{extra}]' ({', '.join(missing_modules)} missing)"
            )
        if unmet:
            problems.append(f"{requirements.install_command(unmet)} ({', '.join(map(str, unmet))})")
        if blocked:
            problems.append("gated: request access on the Hub, then set HF_TOKEN")
        if state == "damaged":
            problems.append(
                f"the mirror lacks a file of it or holds one of another size ({where}): rebuild "
                "it with `zoo pull --from-lock LOCK --to MIRROR` where there is network"
            )
        elif state == "refused":
            problems.append(str(where))
        elif not here and not online:
            problems.append(f"`zoo pull {m.name}` where there is network, or set ZOO_MIRROR")
        rows.append(
            {
                "name": m.name,
                "wrapper": m.wrapper.type,
                "extra": extra,
                "extra_installed": not missing_modules,
                "missing_modules": missing_modules,
                "requires": list(m.requires),
                "requires_missing": [u.requirement for u in unmet],
                "weights": state,
                "weights_path": None if state == "refused" else where,
                "gated": m.gated,
                "token": token if m.gated else None,
                "ready": not missing_modules
                and not unmet
                and not broken
                and (here or (online and not blocked)),
                "fix": "; ".join(problems) or None,
            }
        )
    return {
        "offline": locations.offline(),
        "mirror": str(active.root) if active is not None else None,
        "hf_token": token,
        "hf_cache": str(settings.hf_hub_cache()),
        "zoo_cache": str(settings.cache_dir()),
        "models": rows,
    }
