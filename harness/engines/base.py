"""What every engine shares: registration as a backend, a conv as a one-layer model,
the ONNX export, and the availability check of an optional package.

An engine is one function ``compile(model, example, threads) -> Compiled``: the model
(eval mode, weights already masked) compiled for ``example``'s shape with the engine's
intra-op threads pinned to ``threads``.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.backends import BACKENDS, Backend


@dataclass
class Compiled:
    """A model an engine compiled: ``compiled(x)`` returns a CPU float32 tensor."""

    run: Callable[[torch.Tensor], torch.Tensor]
    kernel: str
    isa: str
    precision: str = "fp32"
    note: str = ""
    kernel_function: str | None = None  # the engine's entry point that runs it
    layout: str | None = None  # the input layout it is fed (None: the engine's own)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)


Compile = Callable[[nn.Module, torch.Tensor, int], Compiled]


class EngineConv:
    """One conv as a one-layer model, compiled on first call per (input shape, threads)."""

    def __init__(self, name: str, compile_fn: Compile, module: nn.Module) -> None:
        self.compile_fn, self.module = compile_fn, module
        self.kernel, self.isa, self.precision = name, "", "fp32"
        self.kernel_function: str | None = None
        self.layout: str | None = None
        self._compiled: dict[tuple, Compiled] = {}

    def __call__(self, x: torch.Tensor, threads: int = 1) -> torch.Tensor:
        key = (tuple(x.shape), threads)
        if key not in self._compiled:
            self._compiled[key] = self.compile_fn(self.module, x, threads)
        compiled = self._compiled[key]
        self.kernel, self.isa, self.precision = compiled.kernel, compiled.isa, compiled.precision
        self.kernel_function, self.layout = compiled.kernel_function, compiled.layout
        return compiled(x)


def conv_module(weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                padding: int) -> nn.Conv2d:
    """An eval-mode ``nn.Conv2d`` holding ``weight`` (Cout, Cin, Kh, Kw) and ``bias``."""
    cout, cin, kh, kw = weight.shape
    conv = nn.Conv2d(cin, cout, (kh, kw), stride, padding, bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv.eval()


def package_available(*modules: str) -> tuple[bool, str]:
    """(True, '') when every module imports here, else the reason naming the extra."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return False, (f"{', '.join(missing)} not installed: "
                       "pip install 'sparsebench[engines]'")
    return True, ""


def onnx_bytes(model: nn.Module, example: torch.Tensor) -> bytes:
    """``model`` exported to ONNX (TorchScript exporter, ``dynamo=False``) at ``example``'s
    shape, input ``x``, output ``y``."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
        torch.onnx.export(model, (example,), buf, dynamo=False, input_names=["x"],
                          output_names=["y"], opset_version=17)
    return buf.getvalue()


def engine(name: str, *, availability: Callable[[], tuple[bool, str]],
           build_info: Callable[[], dict[str, Any]], tolerance: float | None = None,
           ) -> Callable[[Compile], Compile]:
    """Register the decorated ``compile`` as CPU backend ``name`` (layer and model)."""

    def register(compile_fn: Compile) -> Compile:
        def prepare(weight: torch.Tensor, *, pattern: Any, stride: int, padding: int,
                    bias: torch.Tensor | None = None, device: str = "cpu") -> EngineConv:
            return EngineConv(name, compile_fn, conv_module(weight, bias, stride, padding))

        def prepare_model(model: nn.Module, example: torch.Tensor, *, threads: int,
                          **_patterns: Any) -> Compiled:
            return compile_fn(copy.deepcopy(model).eval().cpu(), example, threads)

        BACKENDS.add(name, Backend(name, ("cpu",), False, availability, prepare, build_info,
                                   prepare_model=prepare_model, times_masked=True,
                                   layer_jobs=False, tolerance=tolerance))
        return compile_fn

    return register
