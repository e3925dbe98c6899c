"""``prepare`` / ``conv2d``: the kernels_c API for torch CUDA tensors
(docs/CONTRACTS.md §kernels_cuda-python-api).

``prepare`` checks its input, packs the masked weight once (packing.py) and moves it to
the GPU; the returned ``CudaConv`` validates each input and launches one kernel.  Output
equals ``torch.nn.functional.conv2d(x, weight, bias, stride, padding)`` in x's dtype
(fp32, or fp16 with fp32 accumulation).  Launches are asynchronous, like torch's own ops.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from kernels_cuda import launch, packing, runtime

DTYPES = (torch.float32, torch.float16)


def _pair(name: str, value: Any, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints >= minimum, as a pair; ValueError otherwise."""
    pair = value if isinstance(value, tuple | list) else (value, value)
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
        for v in pair
    ):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


class CudaConv:
    """A convolution packed for the GPU: ``conv(x)`` -> y, like ``F.conv2d``."""

    def __init__(self, packed: packing.Packed, *, stride: tuple[int, int],
                 padding: tuple[int, int], bias: torch.Tensor | None,
                 dtype: torch.dtype, rt: runtime.Runtime) -> None:
        self.packed = packed
        self.stride, self.padding = stride, padding
        self.bias = bias
        self.dtype = dtype
        self._rt = rt
        self.device = torch.device("cuda", rt.device)
        self.kernel: str = launch.kernel_label(packed, dtype)
        self.isa: str = rt.arch
        self.nnz: int = packed.nnz
        self.kernel_function: str | None = None
        """The ``__global__`` entry point the last call launched (launch.py's table)."""
        self.layout = "nchw"  # implicit GEMM straight over NCHW x: no staging copy

    def geometry(self, x: torch.Tensor) -> launch.Geometry:
        """Shapes of a call on ``x``; ValueError naming what does not fit."""
        cout, cin, kh, kw = self.packed.shape
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ValueError(f"x must be a 4-D NCHW tensor, got {getattr(x, 'shape', type(x))}")
        if x.device != self.device:
            raise ValueError(f"x is on {x.device}, the packed weight on {self.device}; move x")
        if x.dtype != self.dtype:
            raise ValueError(f"x dtype {x.dtype} differs from the weight's {self.dtype}")
        if x.shape[1] != cin:
            raise ValueError(f"x has {x.shape[1]} channels, the weight expects Cin={cin}")
        geom = launch.Geometry(x.shape[0], cin, x.shape[2], x.shape[3], cout, kh, kw,
                               *self.stride, *self.padding)
        if geom.ho < 1 or geom.wo < 1 or geom.n < 1:
            raise ValueError(f"input {tuple(x.shape)} gives an empty output with the "
                             f"{kh}x{kw} kernel; use a larger or non-empty input")
        return geom

    def __call__(self, x: torch.Tensor, threads: int = 1) -> torch.Tensor:
        """y = conv(x); ``threads`` is accepted for parity with kernels_c and ignored."""
        geom = self.geometry(x)
        x = x.contiguous()
        shape = (geom.n, geom.cout, geom.ho, geom.wo)
        rows = self.packed.params["rows"]
        if rows < geom.cout:
            # Rows the kernel does not write (filter-pruned channels) hold the bias or zero.
            y = torch.zeros(shape, dtype=x.dtype, device=x.device)
            if self.bias is not None:
                y += self.bias.view(1, -1, 1, 1).to(x.dtype)
        else:
            y = torch.empty(shape, dtype=x.dtype, device=x.device)
        if rows > 0:
            job = launch.build(self.packed, geom, x, y, self.bias)
            self._rt.launch(job)
            self.kernel_function = job.name
        return y


def prepare(weight: torch.Tensor, *, pattern: Any, stride: Any = 1, padding: Any = 0,
            bias: torch.Tensor | None = None) -> CudaConv:
    """Pack ``weight`` (already masked with ``pattern``) once for repeated GPU calls.

    The weight's dtype (float32 or float16) is the dtype of every call's x and y.
    """
    strides = _pair("stride", stride, 1)
    pads = _pair("padding", padding, 0)
    if not isinstance(weight, torch.Tensor) or weight.dtype not in DTYPES:
        raise ValueError(f"weight must be a float32 or float16 tensor, got {type(weight)}")
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.dim() != 1
                             or bias.shape[0] != weight.shape[0]):
        raise ValueError(f"bias must be a tensor of shape ({weight.shape[0]},), "
                         f"got {getattr(bias, 'shape', type(bias))}")
    packed = packing.pack(weight, pattern)
    device = weight.device if weight.is_cuda else torch.device("cuda")
    rt = runtime.runtime_for(device)
    on_gpu = torch.device("cuda", rt.device)
    return CudaConv(
        packed.to(on_gpu), stride=strides, padding=pads,
        bias=None if bias is None else bias.detach().to(on_gpu, torch.float32).contiguous(),
        dtype=weight.dtype, rt=rt,
    )


def conv2d(x: torch.Tensor, weight: torch.Tensor, *, pattern: Any, stride: Any = 1,
           padding: Any = 0, bias: torch.Tensor | None = None, threads: int = 1) -> torch.Tensor:
    """One-shot ``prepare(...)(x)``; prefer ``prepare`` when the weight is reused."""
    conv = prepare(weight, pattern=pattern, stride=stride, padding=padding, bias=bias)
    return conv(x, threads)
