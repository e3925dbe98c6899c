"""The one verify-and-time path: a case (weights, input, float64 reference) on a backend at
a thread count becomes one measurement row — timed only when its output is right.

``measure_case`` is what the sweep (``harness.measure``), ``sparsebench kernels`` and
``sparsebench models`` (``harness.kernel_bench``, ``harness.model_bench``) and asv
(``benchmarks/bench_kernels.py``) call. It prepares the case on the backend, runs it once,
compares the output with the case's reference (``max_rel_error``), checks that every
kernel ran on exactly the asked-for threads, and only then times it with
``harness.timing.measure`` on the device's clock (host wall clock on a CPU, CUDA events on
a GPU). A backend that is unavailable or raises gives ``status='error'``, an output off by
more than the tolerance ``status='wrong'``; neither carries a time.

References are float64 (``reference_conv``, ``reference_model``): the backends compute in
fp32 (or lower), so a float64 reference measures their error against the exact result
instead of charging the reference's own fp32 rounding (oneDNN and cuDNN order their sums
differently from our kernels) to the kernel; it is computed once per case, on the CPU, and
shared by every backend and thread count that case is run with.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from harness.backends import BACKENDS, what_ran
from harness.layers import ConvLayer
from harness.timing import HOST, Clock, Timing, TimingSettings, measure_with, pinned_threads

LAYER_TOLERANCE = 1e-4  # an fp32 conv against the float64 reference, max relative error
MODEL_TOLERANCE = 1e-3  # a whole forward pass accumulates rounding over many layers
DEFAULT_TIMING = TimingSettings()
# Every column a measurement row has, unset: a row that fails early still has them all.
RESULT_COLUMNS = ("kernel", "isa", "compile_flags", "kernel_source_hash", "warmup",
                  "repeats", "median_s", "min_s", "p90_s", "p99_s", "stdev_s", "median_lo_s",
                  "median_hi_s", "max_rel_error", "precision", "message")


def max_rel_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    """max |output − reference| / max |reference|, in float64 on the CPU.

    Norm-wise (relative to the output's scale), so outputs near zero do not turn rounding
    noise into huge element-wise ratios. A shape mismatch is ``inf``; against an all-zero
    reference the error is absolute (0 for an all-zero output); NaN stays NaN (wrong).
    """
    out = output.detach().to("cpu", torch.float64)
    ref = reference.detach().to("cpu", torch.float64)
    if out.shape != ref.shape:
        return math.inf
    if ref.numel() == 0:
        return 0.0
    scale = float(ref.abs().max()) or 1.0
    return float((out - ref).abs().max()) / scale


def reference_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   layer: ConvLayer) -> torch.Tensor:
    """``torch.nn.functional.conv2d`` of ``layer`` in float64 on the CPU."""
    import torch.nn.functional as F

    with torch.inference_mode():
        return F.conv2d(x.cpu().double(), weight.cpu().double(),
                        None if bias is None else bias.cpu().double(), layer.stride,
                        layer.padding, layer.dilation, layer.groups)


def reference_model(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A float64 CPU copy of ``model``'s forward pass on ``x``."""
    with torch.inference_mode():
        return copy.deepcopy(model).cpu().double().eval()(x.cpu().double())


@dataclass(frozen=True)
class Prepared:
    """A case ready to run on a backend: ``run(x)``, the object that names the kernel, and
    the kernels that report the thread count they ran on."""

    kernel: Any  # has .kernel and .isa (PreparedConv or PreparedModel)
    run: Callable[[torch.Tensor], torch.Tensor]
    reporting: list[Any]


def layer_columns(layer: ConvLayer, pattern: Any, batch: int, density: float | None = None,
                  mask_hash: str | None = None) -> dict[str, Any]:
    """A layer row's configuration columns (``density``: of the masked weight, if known)."""
    return {
        "scope": "layer", "layer": layer.name, "layer_kind": layer.kind,
        "pattern": pattern.name, "pattern_params": json.dumps(pattern.params, sort_keys=True),
        "nominal_density": pattern.nominal_density, "actual_density": density,
        "batch": batch, "in_channels": layer.in_channels, "out_channels": layer.out_channels,
        "height": layer.height, "width": layer.width, "kernel_h": layer.kernel_h,
        "kernel_w": layer.kernel_w, "stride": layer.stride, "padding": layer.padding,
        "flops_dense": layer.flops(batch),
        "flops_nonzero": None if density is None else layer.flops(batch, density),
        "mask_hash": mask_hash,
    }


@dataclass(frozen=True)
class LayerCase:
    """One conv: masked weight (and bias), input, float64 reference output."""

    layer: ConvLayer
    pattern: Any  # patterns.Pattern
    weight: torch.Tensor
    x: torch.Tensor
    reference: torch.Tensor
    actual_density: float
    mask_hash: str
    bias: torch.Tensor | None = None
    tolerance = LAYER_TOLERANCE

    def columns(self) -> dict[str, Any]:
        return layer_columns(self.layer, self.pattern, self.x.shape[0], self.actual_density,
                             self.mask_hash)

    def prepare(self, backend: str, device: str, threads: int) -> Prepared:
        layer = self.layer
        if layer.groups != 1 or layer.dilation != 1:  # what a backend's prepare can take
            raise ValueError(f"groups={layer.groups}, dilation={layer.dilation}: the conv "
                             "backends take groups=1, dilation=1 only")
        conv = BACKENDS[backend].prepare(self.weight, pattern=self.pattern,
                                         stride=layer.stride, padding=layer.padding,
                                         bias=self.bias, device=device)
        return Prepared(conv, partial(conv, threads=threads), [conv])


def layer_case(layer: ConvLayer, pattern: Any, weight: torch.Tensor, x: torch.Tensor,
               bias: torch.Tensor | None = None) -> LayerCase:
    """The case of ``layer`` with its already masked ``weight`` on input ``x``."""
    weight = weight.detach().float().cpu().contiguous()
    nonzero = weight != 0
    mask_hash = hashlib.sha256(nonzero.to(torch.uint8).flatten().numpy().tobytes())
    return LayerCase(layer, pattern, weight, x.cpu(), reference_conv(x, weight, bias, layer),
                     float(nonzero.float().mean()), mask_hash.hexdigest()[:16],
                     None if bias is None else bias.detach().cpu())


def reporting_kernels(model: Any) -> list[Any]:
    """The kernels inside a prepared model that report the thread count they ran on (our C
    convs, swapped in or compiled); an engine reports for itself, or runs at torch's."""
    module = getattr(model, "module", None)
    if not isinstance(module, nn.Module):
        return []
    return [kernel for m in module.modules()
            for kernel in (getattr(m, "prepared", None), getattr(m, "kernel", None))
            if hasattr(kernel, "threads_used")]


@dataclass(frozen=True)
class ModelCase:
    """A whole model with masked weights, the pattern of each pruned layer, its input and
    float64 reference output, and the figures its row reports."""

    name: str
    pattern: Any  # the pattern the model was pruned with (dense: none)
    requested_sparsity: float
    model: nn.Module
    layer_patterns: dict[str, Any]
    x: torch.Tensor
    reference: torch.Tensor
    actual_density: float
    flops_dense: float
    flops_nonzero: float
    tolerance = MODEL_TOLERANCE

    def columns(self) -> dict[str, Any]:
        batch, channels, height, width = self.x.shape
        return {
            "scope": "model", "model": self.name, "layer": None, "layer_kind": None,
            "pattern": self.pattern.name,
            "pattern_params": json.dumps(self.pattern.params, sort_keys=True),
            "requested_sparsity": self.requested_sparsity,
            "nominal_density": self.pattern.nominal_density,
            "actual_density": self.actual_density, "batch": batch, "in_channels": channels,
            "height": height, "width": width, "flops_dense": self.flops_dense,
            "flops_nonzero": self.flops_nonzero, "mask_hash": None,
        }

    def prepare(self, backend: str, device: str, threads: int) -> Prepared:
        import patterns
        from harness.model_latency import prepare_model

        model = prepare_model(self.model, backend, self.layer_patterns, patterns.make("dense"),
                              self.x.to(device), device=device, threads=threads)
        return Prepared(model, model, [*reporting_kernels(model), model])


def model_case(name: str, model: nn.Module, layer_patterns: dict[str, Any], pattern: Any,
               requested_sparsity: float, x: torch.Tensor) -> ModelCase:
    """The case of ``model`` (eval mode, weights masked) on input ``x``."""
    import patterns
    from harness.layers import conv_layers

    model = model.eval()
    batch = x.shape[0]
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    layers = conv_layers(model, x.shape[-1], x.shape[1])
    density = {name: patterns.density(model.get_submodule(name).weight != 0)
               for name in layer_patterns}
    return ModelCase(
        name, pattern, requested_sparsity, model, layer_patterns, x.cpu(),
        reference_model(model, x),
        sum(int(w.count_nonzero()) for w in weights) / sum(w.numel() for w in weights),
        sum(layer.flops(batch) for layer in layers),
        sum(layer.flops(batch, density.get(layer.name, 1.0)) for layer in layers))


Case = LayerCase | ModelCase


def threads_used(kernels: list[Any]) -> set[int]:
    """Thread counts the last calls of ``kernels`` ran on, as each kernel reports it.

    A kernel without a report (a torch op, a CUDA kernel) ran at torch's pinned count.
    """
    pinned = torch.get_num_threads()
    return {getattr(kernel, "threads_used", None) or pinned for kernel in kernels}


def build_columns(info: Mapping[str, Any]) -> dict[str, Any]:
    """compile_flags and kernel_source_hash of a backend's build info, for the row."""
    flags = info.get("flags")
    return {"compile_flags": " ".join(flags) if isinstance(flags, list | tuple) else
            None if flags is None else str(flags),
            "kernel_source_hash": info.get("source_hash")}


@functools.cache
def _cuda_clock() -> Clock:
    from harness.cuda_clock import CudaEventClock  # needs PyCUDA

    return CudaEventClock()


# device -> the clock its calls are timed with
CLOCKS: dict[str, Callable[[], Clock]] = {"cpu": lambda: HOST, "cuda": _cuda_clock}


def _fp32_cudnn() -> AbstractContextManager[Any]:
    cudnn = torch.backends.cudnn
    return cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                       deterministic=cudnn.deterministic, allow_tf32=False)


# device -> what keeps its convs in fp32 (cuDNN would silently use TF32 otherwise)
FP32: dict[str, Callable[[], AbstractContextManager[Any]]] = {"cpu": nullcontext,
                                                              "cuda": _fp32_cudnn}


@contextmanager
def _pinned(threads: int, device: str) -> Iterator[None]:
    """Torch's thread count pinned, fp32 kept, autograd off: how every case runs."""
    with pinned_threads(threads), FP32[device](), torch.inference_mode():
        yield


@dataclass(frozen=True)
class Checked:
    """A prepared case, the input on its device, and its output's max relative error."""

    prepared: Prepared
    x: torch.Tensor
    error: float


def check(case: Case, backend: str, threads: int, device: str = "cpu") -> Checked:
    """Prepare ``case`` on ``backend`` and run it once against its float64 reference (the
    caller decides what error is wrong: ``tolerance``)."""
    x = case.x.to(device)
    with _pinned(threads, device):
        prepared = case.prepare(backend, device, threads)
        error = max_rel_error(prepared.run(x), case.reference)
    return Checked(prepared, x, error)


def tolerance(case: Case, backend: str) -> float:
    """The max relative error ``backend``'s output may have on ``case``."""
    return BACKENDS[backend].tolerance or case.tolerance


@dataclass(frozen=True)
class Measured:
    """One row, and the timing behind it (None when nothing was timed)."""

    row: dict[str, Any]
    timing: Timing | None = None

    @property
    def status(self) -> str:
        return self.row["status"]


def _row(case_columns: Mapping[str, Any], backend: str, device: str, threads: int,
         columns: Mapping[str, Any] | None) -> dict[str, Any]:
    """A row with its configuration filled in and no result yet (status 'error')."""
    return {**dict.fromkeys(RESULT_COLUMNS), **case_columns, "backend": backend,
            "device": device, "threads": threads, "status": "error", **(columns or {})}


def unsupported_row(layer: ConvLayer, pattern: Any, batch: int, backend: str, threads: int,
                    reason: str, columns: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The 'error' row of a layer whose case could not be built (the pattern cannot take
    its shape): the same columns as ``measure_case``'s, nothing run."""
    return {**_row(layer_columns(layer, pattern, batch), backend, "cpu", threads, columns),
            "message": f"unsupported shape: {reason}"}


def measure_case(case: Case, backend: str, *, threads: int, timing: Any = DEFAULT_TIMING,
                 device: str = "cpu", build_info: Mapping[str, Any] | None = None,
                 columns: Mapping[str, Any] | None = None) -> Measured:
    """Verify then time ``case`` on ``backend`` with ``threads``: one measurement row.

    ``timing``: a ``TimingSettings`` (or the spec's ``TimingSpec``). ``build_info``: the
    backend's (default: asked now). ``columns`` add to or override the case's own (the
    sweep's key and run, a benchmark's model name and requested sparsity). ValueError
    for an unknown backend or a thread count below 1.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if threads < 1:
        raise ValueError(f"threads={threads}: pass a thread count of 1 or more")
    spec = BACKENDS[backend]
    row = _row(case.columns(), backend, device, threads, columns)
    ok, reason = spec.availability()
    if not ok:
        return Measured({**row, "message": reason})
    try:
        return _verified_timing(case, backend, threads, timing, device, row,
                                spec.build_info() if build_info is None else build_info)
    except Exception as exc:  # a kernel that fails is a recorded result, not a crash
        return Measured({**row, "message": f"{type(exc).__name__}: {exc}".splitlines()[0]})


def _verified_timing(case: Case, backend: str, threads: int, timing: Any, device: str,
                     row: dict[str, Any], info: Mapping[str, Any]) -> Measured:
    checked = check(case, backend, threads, device)
    prepared = checked.prepared
    row.update(kernel=prepared.kernel.kernel, isa=prepared.kernel.isa or info.get("isa", ""),
               precision=getattr(prepared.kernel, "precision", "fp32"),
               max_rel_error=checked.error, **build_columns(info), **what_ran(prepared.kernel))
    limit = tolerance(case, backend)
    if not checked.error <= limit:  # NaN counts as wrong
        return Measured({**row, "status": "wrong", "message": f"max relative error "
                         f"{checked.error:.3g} > {limit:g} against float64 torch; not timed"})
    with _pinned(threads, device):
        used = threads_used(prepared.reporting)
        if used == {threads}:
            result = measure_with(partial(prepared.run, checked.x), timing, CLOCKS[device]())
            used = threads_used(prepared.reporting)  # the timed calls' own report
    if used != {threads}:
        return Measured({**row, "threads": min(used), "message":
                         f"ran on {sorted(used)} threads, asked for {threads}; not timed"})
    row["precision"] = getattr(prepared.kernel, "precision", "fp32")  # known once it ran
    return Measured({**row, **result.as_row(), "status": "ok",
                     "message": getattr(prepared.kernel, "note", "")}, result)
