"""Helpers of the loading tests: tiny models, manifests written as YAML files, a local HTTP file
server and a Hugging Face cache laid out by hand. Fixtures wrapping them are in conftest.py."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import uuid
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

ARCH = "vit_tiny_patch16_224"
TINY_KWARGS: dict[str, Any] = {
    "depth": 2,
    "embed_dim": 32,
    "num_heads": 2,
    "img_size": 32,
    "patch_size": 8,
}
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]

#: A small token model in plain torch, written out as a torch.hub ``hubconf.py`` or an importable
#: module for the ``function`` wrapper. ``get_intermediate_layers`` follows DINOv2's signature.
TOKEN_MODEL_SOURCE = '''
import torch
from torch import nn

dependencies = ["torch"]


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        return x + self.mlp(self.norm(x))


class TokenModel(nn.Module):
    def __init__(self, dim=32, depth=2, patch=8):
        super().__init__()
        self.patch = patch
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.cls_token)  # initialized once registered, as timm does

    def _run(self, x):
        t = self.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)
        outs = []
        for block in self.blocks:
            t = block(t)
            outs.append(t)
        return t, outs

    def forward_features(self, x):
        return self.norm(self._run(x)[0])

    def forward(self, x):
        return self.forward_features(x)[:, 0]

    def get_intermediate_layers(self, x, n=1, reshape=False):
        _, outs = self._run(x)
        picked = [outs[i] for i in n]
        if reshape:
            b, h, w = x.shape[0], x.shape[-2] // self.patch, x.shape[-1] // self.patch
            picked = [o[:, 1:].transpose(1, 2).reshape(b, o.shape[-1], h, w) for o in picked]
        return tuple(picked)


def token_model(dim=32, depth=2):
    """The tiny token model (a torch.hub entry point)."""
    return TokenModel(dim=dim, depth=depth)
'''


def token_maps(tokens: torch.Tensor, prefix: int, grid: tuple[int, int]) -> torch.Tensor:
    """``[B, prefix + h*w, C]`` to ``[B, C, h, w]``, written out independently of zoo."""
    b, _, c = tokens.shape
    return tokens[:, prefix:].permute(0, 2, 1).reshape(b, c, *grid)


def block_outputs(model: nn.Module, x: torch.Tensor, blocks: list[int]) -> list[torch.Tensor]:
    """Outputs of ``model.blocks[i]`` during ``forward_features``, caught with forward hooks."""
    seen: dict[int, torch.Tensor] = {}
    handles = [
        model.blocks[i].register_forward_hook(lambda _m, _a, out, i=i: seen.__setitem__(i, out))
        for i in set(blocks)
    ]
    try:
        with torch.no_grad():
            model.forward_features(x)
    finally:
        for handle in handles:
            handle.remove()
    return [seen[i] for i in blocks]


class Kit:
    """Builds the artefacts of one test under ``tmp_path``: a catalogue root, tiny models, manifests."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.root = tmp_path / "catalog"
        self.folder = self.root / "testing"
        self.folder.mkdir(parents=True)

    # -- inputs and models ---------------------------------------------------------------------

    @staticmethod
    def image(batch: int = 2, size: tuple[int, int] = (32, 32), seed: int = 0) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(batch, 3, *size, generator=gen)

    @staticmethod
    def timm_source(seed: int = 0, **kwargs: Any) -> nn.Module:
        """A randomly initialized tiny timm model in eval mode (the "source" of a checkpoint)."""
        import timm

        torch.manual_seed(seed)
        args = {**TINY_KWARGS, "num_classes": 0, **kwargs}
        return timm.create_model(ARCH, pretrained=False, **args).eval()

    @staticmethod
    def save(state: Any, path: Path) -> Path:
        """A state dict as safetensors (``.safetensors``) or a zip pickle (anything else)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file({k: v.detach().contiguous() for k, v in state.items()}, str(path))
        else:
            torch.save(state, path)
        return path

    def write_module(
        self, name: str, source: str = TOKEN_MODEL_SOURCE, folder: Path | None = None
    ) -> Path:
        """A Python file ``<folder>/<name>.py``."""
        folder = folder or self.tmp / "site"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        return path

    @staticmethod
    def import_file(path: Path) -> Any:
        """Import a Python file under a unique module name (not registered in sys.modules)."""
        spec = importlib.util.spec_from_file_location(f"_source_{uuid.uuid4().hex}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    # -- manifests -----------------------------------------------------------------------------

    @staticmethod
    def manifest(
        wrapper: dict[str, Any],
        output: dict[str, Any],
        *,
        name: str = "testing/tiny",
        checkpoint: dict[str, Any] | None = None,
        size: tuple[int, int] = (32, 32),
        dynamic_size: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema_version": 1,
            "name": name,
            "description": "A tiny model made by the loading tests.",
            "license": {"id": "Apache-2.0", "commercial": True},
            "wrapper": copy.deepcopy(wrapper),
            "input": {"size": list(size), "mean": MEAN, "std": STD, "dynamic_size": dynamic_size},
            "output": dict(output),
        }
        if checkpoint is not None:
            data["checkpoint"] = copy.deepcopy(checkpoint)
        data.update(copy.deepcopy(extra))
        return data

    @staticmethod
    def vit_output(
        pooling: str = "cls", dim: int = 32, prefix: int = 1, levels: int = 2, patch: int = 8
    ) -> dict[str, Any]:
        """The output block of a ViT with ``dim``-d tokens."""
        embedding = 2 * dim if pooling == "cls+mean" else dim
        return {
            "embedding_dim": embedding,
            "pooling": pooling,
            "prefix_tokens": prefix,
            "patch_size": patch,
            "feature_levels": levels,
            "feature_dim": dim,
        }

    def timm_manifest(
        self,
        *,
        kwargs: dict[str, Any] | None = None,
        pooling: str = "cls",
        prefix: int = 1,
        checkpoint: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A manifest of the tiny timm ViT (``TINY_KWARGS`` updated with ``kwargs``)."""
        args = {**TINY_KWARGS, **(kwargs or {})}
        output = self.vit_output(
            pooling, dim=args["embed_dim"], prefix=prefix, levels=args["depth"]
        )
        wrapper = {"type": "timm", "architecture": ARCH, "kwargs": args}
        return self.manifest(wrapper, output, checkpoint=checkpoint, **extra)

    def write(self, data: dict[str, Any], root: Path | None = None) -> Path:
        """Write a manifest dict as ``<root>/<group>/<name>.yaml``."""
        group, _, stem = data["name"].partition("/")
        path = (root or self.root) / group / f"{stem}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(data, sort_keys=False)
        path.write_text(
            "# yaml-language-server: $schema=../../schemas/manifest.schema.json\n" + text,
            encoding="utf-8",
        )
        return path

    def load(self, data: dict[str, Any], **kwargs: Any) -> Any:
        """Write the manifest and build it with the real pipeline."""
        from zoo import load_manifest

        return load_manifest(self.write(data), **kwargs)


# -- fixtures --------------------------------------------------------------------------------------


class HfCache:
    """A Hugging Face hub cache laid out by hand, as ``hf download`` leaves it.

    ``models--owner--name/{blobs/<hash>, refs/<ref>, snapshots/<commit>/<file> -> ../../blobs/<hash>}``
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(
        self,
        repo: str,
        files: dict[str, bytes],
        *,
        commit: str | None = None,
        ref: str | None = "main",
    ) -> str:
        """Put ``files`` (name -> bytes) in the cache as one commit; returns the commit sha."""
        commit = commit or hashlib.sha1((repo + "".join(sorted(files))).encode()).hexdigest()
        repo_dir = self.root / f"models--{repo.replace('/', '--')}"
        (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            link = repo_dir / "snapshots" / commit / name
            link.parent.mkdir(parents=True, exist_ok=True)
            depth = len(Path(name).parts) + 1
            link.symlink_to(Path(*[".."] * depth) / "blobs" / blob.name)
        if ref is not None:
            (repo_dir / "refs").mkdir(exist_ok=True)
            (repo_dir / "refs" / ref).write_text(commit)
        return commit

    def add_folder(self, repo: str, folder: Path, **kwargs: Any) -> str:
        """Every file of ``folder`` (a ``save_pretrained`` output) as one commit."""
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        return self.add(repo, files, **kwargs)


# -- transformers ------------------------------------------------------------------------------------

HF_CONFIG: dict[str, Any] = {
    "model_type": "vit",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
    "patch_size": 8,
}


def hf_source(folder: Path | None = None, seed: int = 0) -> nn.Module:
    """A tiny transformers ViTModel (with its pooler), saved with save_pretrained when given a folder."""
    import transformers

    torch.manual_seed(seed)
    config = transformers.ViTConfig(**{k: v for k, v in HF_CONFIG.items() if k != "model_type"})
    model = transformers.ViTModel(config).eval()
    if folder is not None:
        model.save_pretrained(folder)
    return model


def hf_manifest(
    kit: Kit, pooling: str = "cls", checkpoint: dict[str, Any] | None = None, **wrapper: Any
) -> dict[str, Any]:
    spec = {"type": "transformers", "model_class": "ViTModel", "config": dict(HF_CONFIG), **wrapper}
    return kit.manifest(spec, kit.vit_output(pooling), checkpoint=checkpoint)
