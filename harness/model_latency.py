"""Whole-model forward passes with every groups=1 conv run by one backend.

The C (or CUDA) backend model is a copy of the trained model whose dense-groups convs are
replaced by prepared backend kernels: pruned layers with the checkpoint's pattern, the
layers the policy kept dense with our dense kernel. Depthwise convs, batch norm, pooling
and the classifier stay in torch, exactly as in the torch baseline, so the comparison
differs only in the convolutions.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from harness.backends import BACKENDS, joined


class BackendConv(nn.Module):
    """A Conv2d whose forward is a prepared backend kernel (weights packed once)."""

    def __init__(self, prepared: Any, threads: int) -> None:
        super().__init__()
        self.prepared = prepared
        self.threads = threads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prepared(x.contiguous(), threads=self.threads)


def backend_model(model: nn.Module, backend: str, layer_patterns: dict[str, Any],
                  dense_pattern: Any, *, device: str, threads: int) -> nn.Module:
    """A copy of ``model`` (eval mode, on ``device``) with its groups=1 convs on ``backend``.

    ``layer_patterns`` maps the pruned layers to their pattern; every other groups=1 conv
    runs with ``dense_pattern``. A dense backend (torch) returns the plain copy.
    """
    copied = copy.deepcopy(model).eval().to(device)
    spec = BACKENDS[backend]
    if not spec.exploits_sparsity:
        return copied
    for name, module in list(copied.named_modules()):
        if not isinstance(module, nn.Conv2d) or module.groups != 1:
            continue
        if module.stride[0] != module.stride[1] or module.padding[0] != module.padding[1]:
            continue  # the kernels take square stride and padding; torch keeps this conv
        prepared = spec.prepare(
            module.weight.detach(), pattern=layer_patterns.get(name, dense_pattern),
            stride=module.stride[0], padding=module.padding[0],
            bias=None if module.bias is None else module.bias.detach(), device=device)
        copied.set_submodule(name, BackendConv(prepared, threads))
    return copied


class SwappedModel:
    """``backend_model``'s copy as a PreparedModel: convs on the backend, the rest torch."""

    precision = "fp32"
    note = ""
    TORCH_FORWARD = "torch.nn.Module.__call__"
    """What a dense backend's model runs: the plain torch module, no kernel of ours."""

    def __init__(self, module: nn.Module, backend: str) -> None:
        self.module = module
        self.kernel = f"{backend}-model"
        self.isa = ",".join(sorted({m.prepared.isa for m in module.modules()
                                    if isinstance(m, BackendConv)}))

    def _convs(self) -> list[Any]:
        return [m.prepared for m in self.module.modules() if isinstance(m, BackendConv)]

    @property
    def kernel_function(self) -> str | None:
        """The backend functions the swapped convs ran (a sorted comma list)."""
        convs = self._convs()
        return joined(c.kernel_function for c in convs) if convs else self.TORCH_FORWARD

    @property
    def layout(self) -> str | None:
        convs = self._convs()
        return joined(c.layout for c in convs) if convs else "nchw"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def prepare_model(model: nn.Module, backend: str, layer_patterns: dict[str, Any],
                  dense_pattern: Any, example: torch.Tensor, *, device: str,
                  threads: int) -> Any:
    """``model`` ready to time on ``backend`` at ``example``'s shape: compiled by an engine
    (a backend with ``prepare_model``), else with its convs swapped (``backend_model``)."""
    spec = BACKENDS[backend]
    if spec.prepare_model is not None:
        return spec.prepare_model(model, example, threads=threads,
                                  layer_patterns=layer_patterns, dense_pattern=dense_pattern)
    return SwappedModel(backend_model(model, backend, layer_patterns, dense_pattern,
                                      device=device, threads=threads), backend)

