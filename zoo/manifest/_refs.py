"""Which Python objects a manifest may name (``function`` paths, ``$object`` kwargs) and which
hub-code keys it may not set, decided from the text alone: nothing is imported here.

A reference is ``module.Name``: exactly one attribute after an importable module, never a
chain through another module's attributes (``torch.os.system`` is ``os.system``). The loader
(zoo/loading/objects.py) checks the same rules again after import, and also that the object is a
class or function *defined* under an allowed module, not a module or a foreign re-export.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

#: The modules (and their submodules) in which an object a manifest names may be defined.
#: zoo's own blocks are one entry (``zoo.nn``).
OBJECT_MODULES: tuple[str, ...] = (
    "torch.nn",
    "torchvision.models",
    "torchvision.ops",
    "timm.models",
    "timm.layers",
    "monai.networks",
    "zoo.nn",
)

#: Old spellings of allowed modules: still read, with a ``FutureWarning``, as the new one.
RENAMED_MODULES: dict[str, str] = {"zoo.build.blocks": "zoo.nn"}

#: Packages zoo itself depends on: inside them only :data:`OBJECT_MODULES` may be named (no
#: ``torch.load``, ``torch.hub.load``, ``timm.create_model`` through a re-export, ...).
KNOWN_PACKAGES: frozenset[str] = frozenset(
    {"torch", "torchvision", "timm", "monai", "transformers", "zoo", "huggingface_hub"}
)

#: Modules never named, not even from a package the user trusts.
DENIED_MODULES: tuple[str, ...] = (
    "builtins",
    "importlib",
    "subprocess",
    "os",
    "posix",
    "nt",
    "sys",
    "pickle",
    "marshal",
    "shelve",
    "shutil",
    "runpy",
    "ctypes",
    "code",
    "codeop",
    "pty",
    "socket",
    "multiprocessing",
    "io",
    "pathlib",
    "tempfile",
    "urllib",
    "http",
    "dill",
    "cloudpickle",
    "joblib",
    "torch.hub",
    "torch.package",
    "torch.serialization",
    "torch.utils.model_zoo",
    "torch.utils.cpp_extension",
    "transformers.dynamic_module_utils",
    "huggingface_hub",
)

#: Names never named, in any module (evaluators, importers, file and process access, loaders).
DENIED_NAMES: frozenset[str] = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "input",
        "system",
        "popen",
        "import_module",
        "load",
        "loads",
        "load_state_dict_from_url",
        "load_url",
        "download_url_to_file",
    }
)

#: Keys that make transformers fetch or run a repository's own code (or read another
#: repository); refused in a transformers wrapper's ``kwargs`` and inline ``config``: remote code
#: is asked for with ``wrapper.trust_remote_code`` only.
HUB_CODE_KEYS: frozenset[str] = frozenset(
    {
        "trust_remote_code",
        "auto_map",
        "code_revision",
        "revision",
        "custom_pipelines",
        "name_or_path",
        "pretrained_model_name_or_path",
        "subfolder",
        "cache_dir",
        "token",
        "use_auth_token",
        "local_files_only",
        "force_download",
        "proxies",
        "from_tf",
        "from_flax",
        "gguf_file",
        "use_safetensors",
        "weights_only",
        "adapter_kwargs",
        "adapter_name",
        "attn_implementation",
        "use_kernels",
        "kernel_config",
        "device_map",
        "state_dict",
        "config",
    }
)


def current(dotted: str) -> str:
    """The path under its module's current name (``zoo.build.blocks.X`` is ``zoo.nn.X``),
    with a ``FutureWarning`` when it used an old one."""
    for old, new in RENAMED_MODULES.items():
        if dotted == old or dotted.startswith(old + "."):
            updated = new + dotted[len(old) :]
            warnings.warn(
                f"{dotted} is an old path of zoo's blocks: write {updated} (it still loads)",
                FutureWarning,
                stacklevel=2,
            )
            return updated
    return dotted


def under(dotted: str, prefixes: Iterable[str]) -> bool:
    """Whether ``dotted`` is one of ``prefixes`` or inside one (``torch.nn.x`` is in ``torch.nn``)."""
    return any(dotted == p or dotted.startswith(p + ".") for p in prefixes)


def reference_problem(dotted: str) -> str | None:
    """Why a manifest may not name ``dotted`` (None when the text alone allows it).

    Refused: a name starting with ``_`` (private or dunder), a denied name or module, and
    inside a package zoo depends on anything outside :data:`OBJECT_MODULES`. A path in another
    package passes here; the loader imports it only on the user's opt-in.
    """
    parts = dotted.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return f"{dotted!r} is not a dotted path such as torch.nn.SiLU"
    private = next((p for p in parts if p.startswith("_")), None)
    if private is not None:
        return f"{dotted!r} names {private!r}: private and dunder names are never allowed"
    denied = next((p for p in parts if p in DENIED_NAMES), None)
    if denied is not None:
        return f"{dotted!r} names {denied!r}, which is never allowed"
    module = ".".join(parts[:-1])
    if under(module, DENIED_MODULES):
        return f"{dotted!r} is in {module}, a module that is never allowed"
    if parts[0] in KNOWN_PACKAGES and not under(module, OBJECT_MODULES):
        return (
            f"{dotted!r} is outside the modules a manifest may name ({', '.join(OBJECT_MODULES)}): "
            "write module.Name with the module where the object is defined"
        )
    return None


def hub_code_keys(value: Any, where: str) -> list[str]:
    """The field paths inside ``value`` (a config or kwargs mapping) that set a hub-code key."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}"
            if isinstance(key, str) and (key in HUB_CODE_KEYS or key.startswith("_")):
                found.append(path)
            else:
                found.extend(hub_code_keys(item, path))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(hub_code_keys(item, f"{where}[{i}]"))
    return found
