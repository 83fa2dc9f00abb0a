"""Copy-paste usage of one entry: Python, the command line, and a LightningCLI / eva config."""

from __future__ import annotations

from zoo.manifest import Manifest, TilesInputSpec
from zoo.site._html import esc


def python_snippet(m: Manifest) -> str:
    """``zoo.load`` with an input of the manifest's size, the embedding and feature maps."""
    trust = ", trust_remote_code=True" if _remote_code(m) else ""
    spec = m.input
    if isinstance(spec, TilesInputSpec):
        pairs = " or ".join(m.pairs_with)
        return "\n".join(
            [
                "import torch",
                "import zoo",
                "",
                f'model = zoo.load("{m.name}"{trust})',
                f"# a bag of N tile features from {pairs}, and the tiles' level-0 (x, y)",
                f"features = torch.randn(1, 100, {spec.feature_dim})",
                "coords = torch.randint(0, 50_000, (1, 100, 2))",
                f"embedding = model(features, coords=coords, patch_size_level0={spec.tile_size})"
                f"  # [1, {m.output.embedding_dim}]",
            ]
        )
    shape = ", ".join(str(s) for s in (1, spec.in_chans, *spec.size))
    lines = [
        "import torch",
        "import zoo",
        "",
        f'model = zoo.load("{m.name}"{trust})',
        f"x = torch.randn({shape})",
        f"embedding = model(x)  # [1, {m.output.embedding_dim}]: {m.output.pooling} pooling",
        "transform = model.preprocess  # the matching evaluation transform",
    ]
    if m.output.feature_levels:
        lines += [
            "",
            "# feature maps of the last 2 blocks, prefix tokens removed",
            f'model = zoo.load("{m.name}", out_indices=2{trust})',
            "features = model(x)",
        ]
    return "\n".join(lines)


def cli_snippet(m: Manifest) -> str:
    """Show, fetch and try the model from the shell."""
    trust = " --trust-remote-code" if _remote_code(m) else ""
    lines = [f"zoo show {m.name}"]
    if m.checkpoint is not None:
        lines.append(f"zoo pull {m.name}    # fetch and verify the weights")
    lines.append(f"zoo load {m.name}{trust}    # build it and run one forward pass")
    if m.output.feature_levels:
        lines.append(f"zoo load {m.name} --out-indices 2{trust}")
    return "\n".join(lines)


def config_snippet(m: Manifest) -> str:
    """A jsonargparse / LightningCLI block, where eva's ModelFromRegistry goes."""
    lines = [
        "backbone:",
        "  class_path: zoo.Backbone",
        "  init_args:",
        f"    name: {m.name}",
        "    out_indices: null    # or 2, or [-2, -4] for feature maps",
    ]
    if _remote_code(m):
        lines.append("    trust_remote_code: true")
    lines += ["", f"# eva configs run unchanged with MODEL_NAME={m.name}"]
    return "\n".join(lines)


def _remote_code(m: Manifest) -> bool:
    wrapper = m.wrapper.model_dump()
    return bool(wrapper.get("trust_remote_code") or wrapper.get("trust_repo"))


def _block(key: str, title: str, language: str, text: str) -> str:
    return (
        f'<div class="snippet"><div class="snippet-head"><h3 id="use-{key}">{title}</h3>'
        f'<button type="button" class="copy" data-copy="code-{key}" '
        f'aria-label="Copy the {title} snippet">Copy</button></div>'
        f'<pre tabindex="0" aria-labelledby="use-{key}"><code id="code-{key}" '
        f'class="language-{language}">{esc(text)}</code></pre></div>'
    )


def snippets(m: Manifest) -> str:
    """The three usage blocks with copy buttons, and notes on access and trust."""
    notes = []
    if m.gated:
        notes.append(
            "The weights are gated: accept the terms on the Hub page, then set "
            "<code>HF_TOKEN</code> (or log in with huggingface_hub) before the first load."
        )
    if _remote_code(m):
        notes.append(
            "This model runs code from its repository: zoo builds it only with "
            "<code>trust_remote_code=True</code> (<code>--trust-remote-code</code>)."
        )
    note = "".join(f'<p class="note">{n}</p>' for n in notes)
    return (
        note
        + '<div class="snippets">'
        + _block("python", "Python", "python", python_snippet(m))
        + _block("cli", "Command line", "console", cli_snippet(m))
        + _block("config", "LightningCLI / eva config", "yaml", config_snippet(m))
        + '</div><p id="copy-status" class="visually-hidden" role="status" aria-live="polite"></p>'
    )
