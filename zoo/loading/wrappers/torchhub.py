"""``wrapper.type: torchhub`` — ``torch.hub.load`` on a GitHub repository or a local folder."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from zoo.catalog.roots import manifest_relative
from zoo.errors import LoadError, TrustError, UsageError, WeightsNotAvailableError
from zoo.loading.wrappers._base import Adapter, BuildContext, WrapperType
from zoo.loading.wrappers._generic import adapter_for, as_module, attach_weights, build_scope
from zoo.manifest import Manifest, TorchHubWrapper
from zoo.weights.locations import offline


def _local_repo(manifest: Manifest, repo: str, ctx: BuildContext) -> str:
    """A local hubconf folder: inside the catalogue root (or absolute), and run only on opt-in."""
    path = Path(repo).expanduser()
    if not path.is_absolute():
        if manifest.file is None:
            raise LoadError(f"{manifest.name}: a relative torchhub repo needs the manifest's file")
        path, inside = manifest_relative(manifest.file, path)
        if not inside:
            raise TrustError(
                f"{manifest.name}: wrapper.repo {repo!r} leaves the catalogue root (through `..` or a "
                "symlink); a relative hubconf folder must stay inside it. Use an absolute path to "
                "point elsewhere.",
                flag="wrapper.repo",
            )
    if not (path / "hubconf.py").is_file():
        raise LoadError(f"{manifest.name}: {path} has no hubconf.py (wrapper.repo, source: local)")
    if not ctx.trust_remote_code:
        raise TrustError(
            f"{manifest.name} runs the Python code of {path / 'hubconf.py'} (torchhub, source: local). "
            "If you trust it, pass trust_remote_code=True (CLI: --trust-remote-code).",
            flag="--trust-remote-code",
        )
    return str(path)


def build(manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
    """Load the entry point; a remote repository needs ``trust_repo`` in the manifest and the caller's opt-in."""
    wrapper = manifest.wrapper
    assert isinstance(wrapper, TorchHubWrapper)
    kwargs = ctx.resolve(manifest, wrapper.kwargs, "wrapper.kwargs")
    if wrapper.source == "local":
        repo = _local_repo(manifest, wrapper.repo, ctx)
        extra: dict[str, object] = {}
    else:
        if not wrapper.trust_repo:
            raise TrustError(
                f"{manifest.name} loads code from the GitHub repository {wrapper.repo}, but the manifest "
                "does not declare wrapper.trust_repo: true",
                flag="wrapper.trust_repo",
            )
        if not ctx.trust_remote_code:
            raise TrustError(
                f"{manifest.name} runs code from the GitHub repository {wrapper.repo}. If you trust it, "
                "pass trust_remote_code=True (CLI: --trust-remote-code).",
                flag="--trust-remote-code",
            )
        repo = wrapper.repo
        # Offline means ZOO_OFFLINE / HF_HUB_OFFLINE or a mirror in use: no GitHub either.
        no_network = offline()
        extra = {"trust_repo": True, "skip_validation": no_network}
        cached = Path(torch.hub.get_dir()) / repo.replace("/", "_").replace(":", "_")
        if no_network and not any(Path(torch.hub.get_dir()).glob(cached.name + "*")):
            raise WeightsNotAvailableError(
                repo,
                [torch.hub.get_dir()],
                "Run the load once with network access to cache the repository.",
                reason="offline and the torch.hub repository is not cached",
            )
    try:
        with build_scope(manifest, ctx):
            obj = torch.hub.load(repo, wrapper.entry, source=wrapper.source, **extra, **kwargs)
    except TypeError as exc:
        raise UsageError(f"{manifest.name}: {wrapper.entry} rejects its arguments: {exc}") from None
    except (RuntimeError, AttributeError) as exc:
        raise LoadError(
            f"{manifest.name}: torch.hub.load({wrapper.repo}, {wrapper.entry}) failed: {exc}"
        ) from None
    module = as_module(obj, manifest, f"torch.hub entry {wrapper.entry}")
    attach_weights(module, manifest, ctx)
    return module, adapter_for(module, manifest)


#: ``kwargs`` takes the caller's keyword arguments.
WRAPPER = WrapperType(build, merge_into="kwargs")
