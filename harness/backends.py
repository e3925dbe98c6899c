"""Convolution backends the harness can time: one registry entry each, no branches on names.

A backend prepares a conv (weight already masked, pattern known) into a callable
``conv(x, threads)`` and says which devices it runs on, whether it exploits sparsity (a
dense backend is only timed on dense weights) and whether it can run on this machine.
Whole-model engines (harness/engines: torch_best, onnxruntime, openvino) also compile a
whole model (``prepare_model``), are timed on masked weights too (``times_masked``: does
the engine gain from zeros?) and may run in a precision other than fp32 (``tolerance``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sparsebench.registry import Registry


class PreparedConv(Protocol):
    """``threads_used``: the thread count the last call actually ran on, as the kernel
    (or torch) reports it; a backend that cannot report it leaves the attribute out and
    the harness reads torch's pinned count instead. ``kernel_function`` and ``layout``:
    the exact function the last call ran (a C micro-kernel, a CUDA ``__global__`` entry
    point, a torch op) and the activation layout it ran on (None: the engine's own)."""

    kernel: str
    isa: str
    kernel_function: str | None
    layout: str | None

    def __call__(self, x: Any, threads: int = 1) -> Any: ...


class PreparedModel(Protocol):
    """A whole model compiled for one input shape and thread count: ``model(x)``.
    ``kernel_function`` / ``layout``: what its last call ran, a sorted comma list when
    several (docs/RESULTS.md §measurements)."""

    kernel: str
    isa: str
    kernel_function: str | None
    layout: str | None
    precision: str  # 'fp32', 'bf16', ...
    note: str  # what the engine did that a reader should know ('' if nothing)

    def __call__(self, x: Any) -> Any: ...


@dataclass(frozen=True)
class Backend:
    name: str
    devices: tuple[str, ...]
    exploits_sparsity: bool
    availability: Callable[[], tuple[bool, str]]
    prepare: Callable[..., PreparedConv]
    build_info: Callable[[], dict[str, Any]]
    # (model, example input, *, threads, layer_patterns, dense_pattern) -> PreparedModel;
    # None: the model's convs are swapped for ``prepare``d kernels (model_latency)
    prepare_model: Callable[..., PreparedModel] | None = None
    times_masked: bool = False  # timed on masked weights although it does not exploit them
    layer_jobs: bool = True  # a sweep times it layer by layer too (engines: whole model only)
    tolerance: float | None = None  # max relative error allowed; None: the fp32 tolerance


BACKENDS: Registry[str, Backend] = Registry("backend")


def what_ran(prepared: PreparedConv | PreparedModel) -> dict[str, str | None]:
    """The measurement columns naming what ``prepared``'s last call ran."""
    return {"kernel_function": getattr(prepared, "kernel_function", None),
            "kernel_layout": getattr(prepared, "layout", None)}


def joined(names: Any) -> str | None:
    """Several kernels' functions or layouts as one column: a sorted comma list (None if
    none is known)."""
    found = sorted({name for name in names if name})
    return ",".join(found) or None


def backend(name: str, *, devices: tuple[str, ...], exploits_sparsity: bool,
            availability: Callable[[], tuple[bool, str]],
            build_info: Callable[[], dict[str, Any]]) -> Callable:
    """Register the decorated ``prepare(weight, *, pattern, stride, padding, bias, device)``."""
    return BACKENDS.register(name, entry=lambda prepare: Backend(
        name, devices, exploits_sparsity, availability, prepare, build_info))


def _cuda_device() -> tuple[bool, str]:
    import torch

    return (True, "") if torch.cuda.is_available() else (False, "torch sees no CUDA GPU")


# device -> whether it runs here (and why not)
DEVICES: dict[str, Callable[[], tuple[bool, str]]] = {"cpu": lambda: (True, ""),
                                                      "cuda": _cuda_device}


def available_devices(wanted: tuple[str, ...]) -> dict[str, str]:
    """device -> '' if it runs here, else the reason it does not (for ``wanted`` only)."""
    return {name: DEVICES[name]()[1] for name in wanted}


def available_backends() -> dict[str, str]:
    """name -> '' if it runs here, else the reason it does not."""
    status = {}
    for name, b in BACKENDS.items():
        ok, reason = b.availability()
        status[name] = "" if ok else reason
    return status


class _TorchConv:
    """torch.nn.functional.conv2d (oneDNN on the CPU, cuDNN on a GPU) as the dense baseline."""

    kernel = "torch-conv2d"
    kernel_function = "torch.nn.functional.conv2d"
    layout = "nchw"

    def __init__(self, weight: Any, bias: Any, stride: int, padding: int) -> None:
        import torch

        self.weight, self.bias, self.stride, self.padding = weight, bias, stride, padding
        self.isa = (torch.backends.cpu.get_cpu_capability().lower()
                    if weight.device.type == "cpu" else "cudnn")

    def __call__(self, x: Any, threads: int = 1) -> Any:
        import torch
        import torch.nn.functional as F

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        self.threads_used = torch.get_num_threads()
        return y


def _always() -> tuple[bool, str]:
    return True, ""


def _torch_info() -> dict[str, Any]:
    import torch

    return {"compiler": "torch", "flags": torch.__config__.show().splitlines()[0].strip(),
            "isa": torch.backends.cpu.get_cpu_capability()}


@backend("torch", devices=("cpu", "cuda"), exploits_sparsity=False,
         availability=_always, build_info=_torch_info)
def _prepare_torch(weight: Any, *, pattern: Any, stride: int, padding: int, bias: Any = None,
                   device: str = "cpu") -> PreparedConv:
    return _TorchConv(weight.to(device), None if bias is None else bias.to(device),
                      stride, padding)


def _c_available() -> tuple[bool, str]:
    try:
        import kernels_c

        kernels_c.build_info()
    except Exception as exc:  # a failed compile is a reason, not a crash
        return False, f"C kernels unavailable: {exc}"
    return True, ""


def _c_info() -> dict[str, Any]:
    import kernels_c

    return kernels_c.build_info()


@backend("c", devices=("cpu",), exploits_sparsity=True,
         availability=_c_available, build_info=_c_info)
def _prepare_c(weight: Any, *, pattern: Any, stride: int, padding: int, bias: Any = None,
               device: str = "cpu") -> PreparedConv:
    import kernels_c

    return kernels_c.prepare(weight, pattern=pattern, stride=stride, padding=padding, bias=bias)


def _cuda_available() -> tuple[bool, str]:
    import kernels_cuda

    return kernels_cuda.is_available()


def _cuda_info() -> dict[str, Any]:
    import kernels_cuda

    return kernels_cuda.build_info()


@backend("cuda", devices=("cuda",), exploits_sparsity=True,
         availability=_cuda_available, build_info=_cuda_info)
def _prepare_cuda(weight: Any, *, pattern: Any, stride: int, padding: int, bias: Any = None,
                  device: str = "cuda") -> PreparedConv:
    import kernels_cuda

    return kernels_cuda.prepare(weight.to(device), pattern=pattern, stride=stride,
                                padding=padding, bias=None if bias is None else bias.to(device))


import harness.compile  # noqa: E402,F401  (registers c_compiled, the whole-model C path)
import harness.engines  # noqa: E402,F401  (registers the whole-model engines)
