"""``wrapper.type: onnx`` — an ONNX file run by onnxruntime, behind the same output contract."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.errors import ContractError, LoadError, require
from zoo.loading.wrappers._base import Adapter, BuildContext, WrapperType, weights_path
from zoo.manifest import Manifest, OnnxWrapper

_ONNX_TYPES = {
    "tensor(float)": torch.float32,
    "tensor(float16)": torch.float16,
    "tensor(double)": torch.float64,
    "tensor(bfloat16)": torch.bfloat16,
}


def _ort() -> Any:
    return require(
        "onnxruntime", package="onnxruntime-gpu", extra="onnx", purpose="an onnx backbone"
    )


def choose_providers(wanted: list[str] | None, available: list[str], cuda: bool) -> list[str]:
    """Execution providers to use: the manifest's that are available, else CUDA (with a GPU) then CPU.

    CUDA is only asked for when a GPU is present, so CPU machines get no provider errors.
    """
    if wanted:
        chosen = [p for p in wanted if p in available and (p != "CUDAExecutionProvider" or cuda)]
    else:
        chosen = ["CUDAExecutionProvider"] if cuda and "CUDAExecutionProvider" in available else []
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


class OnnxModule(nn.Module):
    """An onnxruntime session as a module: torch tensors in, torch tensors out (on the input's device)."""

    def __init__(self, session: Any, outputs: list[str]) -> None:
        super().__init__()
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.input_dtype = _ONNX_TYPES.get(session.get_inputs()[0].type, torch.float32)
        self.output_names = outputs

    def run(self, x: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
        """Run the graph and return the named outputs."""
        array = x.detach().to(device="cpu", dtype=self.input_dtype).contiguous().numpy()
        results = self.session.run(names, {self.input_name: array})
        return [torch.from_numpy(r).to(x.device) for r in results]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.output_names[:1])[0]


class OnnxAdapter(Adapter):
    """Final output and per-block hidden states of an ONNX graph."""

    module: OnnxModule

    def __init__(self, module: OnnxModule, manifest: Manifest, hidden: list[str]) -> None:
        super().__init__(module, manifest)
        self.hidden = hidden

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        if out.ndim != 3:
            raise self._unsupported(f"tokens [B, N, C] (output has shape {tuple(out.shape)})")
        return out

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        if out.ndim != 2:
            raise self._unsupported(f"a [B, D] output (output has shape {tuple(out.shape)})")
        return out

    def blocks(self, x: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        return self.module.run(x, [self.hidden[i] for i in indices])


def build(manifest: Manifest, ctx: BuildContext) -> tuple[nn.Module, Adapter]:
    """Open an inference session on the manifest's ONNX file."""
    ort = _ort()
    wrapper = manifest.wrapper
    assert isinstance(wrapper, OnnxWrapper)
    path = weights_path(manifest)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no provider chatter on CPU machines
    cuda = torch.cuda.is_available() and (ctx.device is None or ctx.device.type == "cuda")
    providers = choose_providers(wrapper.providers, ort.get_available_providers(), cuda)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own non-exported exception types
        raise LoadError(f"{manifest.name}: onnxruntime cannot open {path}: {exc}") from None
    names = [o.name for o in session.get_outputs()]
    wanted = [wrapper.output or names[0], *wrapper.hidden_states]
    missing = [n for n in wanted if n not in names]
    if missing:
        raise ContractError(
            f"{manifest.name}: the ONNX graph has no output(s) {', '.join(missing)}; it has {', '.join(names)}"
        )
    module = OnnxModule(session, wanted[:1])
    return module, OnnxAdapter(module, manifest, list(wrapper.hidden_states))


#: An ONNX graph: the file is the model, so it takes no overrides and never builds on meta
#: (its ``traits``).
WRAPPER = WrapperType(build)
