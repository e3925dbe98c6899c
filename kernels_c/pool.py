"""Python wrappers of the C pooling (src/pool.c) used by the whole-model path."""

from __future__ import annotations

import torch

from .api import _check_tensor, _check_threads, _lib

_ERRLEN = 256
MAX_POOL = "sb_maxpool2d"
GLOBAL_AVG_POOL = "sb_global_avgpool"
"""The C functions (src/pool.h) each wrapper calls, as a result row names them."""


def _input(x: torch.Tensor, threads: int) -> None:
    _check_tensor(x, "input x", 4)
    _check_threads(threads)
    if not x.is_contiguous():
        raise ValueError("input x is not contiguous NCHW; call x.contiguous()")


def _call(fn_name: str, *args: object) -> None:
    ffi, lib = _lib()
    err = ffi.new("char[]", _ERRLEN)
    if getattr(lib, fn_name)(*args, err, _ERRLEN):
        raise ValueError(f"kernels_c {fn_name}: {ffi.string(err).decode()}")


def max_pool2d(x: torch.Tensor, kernel: int, stride: int, padding: int, threads: int = 1,
               *, out: torch.Tensor | None = None) -> torch.Tensor:
    """torch.nn.functional.max_pool2d(x, kernel, stride, padding) (floor mode)."""
    _input(x, threads)
    n, c, h, w = x.shape
    shape = (n, c, (h + 2 * padding - kernel) // stride + 1,
             (w + 2 * padding - kernel) // stride + 1)
    if out is not None and (tuple(out.shape) != shape or not out.is_contiguous()):
        raise ValueError(f"out must be a contiguous {shape} tensor")
    y = torch.empty(shape, dtype=torch.float32) if out is None else out
    ffi, _ = _lib()
    _call(MAX_POOL, ffi.cast("float *", x.data_ptr()), ffi.cast("float *", y.data_ptr()),
          n, c, h, w, kernel, stride, padding, threads)
    return y


def global_avg_pool(x: torch.Tensor, threads: int = 1, *,
                    out: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of each channel plane: (N, C, H, W) -> (N, C, 1, 1)."""
    _input(x, threads)
    n, c, h, w = x.shape
    if out is not None and (tuple(out.shape) != (n, c, 1, 1) or not out.is_contiguous()):
        raise ValueError(f"out must be a contiguous {(n, c, 1, 1)} tensor")
    y = torch.empty((n, c, 1, 1), dtype=torch.float32) if out is None else out
    ffi, _ = _lib()
    _call(GLOBAL_AVG_POOL, ffi.cast("float *", x.data_ptr()),
          ffi.cast("float *", y.data_ptr()), n, c, h, w, threads)
    return y
