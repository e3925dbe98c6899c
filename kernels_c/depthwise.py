"""Python wrapper of the C depthwise convolution (src/depthwise.c), bias and activation
fused: ``prepare_depthwise(weight, ...)`` once, then ``conv(x, threads, out=...)``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._build import constant, kernel_table
from .api import ACTIVATIONS, ISAS, _check_tensor, _check_threads, _lib, _resolve_isa

_ERRLEN = 256


class DepthwiseConv:
    """A depthwise conv (weight (C, 1, Kh, Kw)) with its bias and activation, run by the
    plane kernel of ``isa`` (default: the best this CPU has)."""

    layout = None  # reads NCHW x directly: no staging of the sparse kernels' layout table

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                 padding: int, act: str, isa: str | None = None) -> None:
        _check_tensor(weight, "weight", 4)
        if weight.shape[1] != 1:
            raise ValueError(f"a depthwise weight is (C, 1, Kh, Kw), got {tuple(weight.shape)}")
        if bias is not None:
            _check_tensor(bias, "bias", 1)
            if bias.shape[0] != weight.shape[0]:
                raise ValueError(f"bias has {bias.shape[0]} entries, weight {weight.shape[0]}")
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        max_stride, max_padding = constant("SB_MAX_STRIDE"), constant("SB_MAX_PADDING")
        if not (1 <= stride <= max_stride and 0 <= padding <= max_padding):
            raise ValueError(f"stride {stride} must be in 1..{max_stride} and padding "
                             f"{padding} in 0..{max_padding}")
        self.weight = weight.detach().contiguous().clone()
        self.bias = None if bias is None else bias.detach().contiguous().clone()
        self.stride, self.padding, self.act = stride, padding, act
        self.isa = _resolve_isa(isa)
        self.kernel = f"depthwise-{self.isa}"
        self.kernel_function = {row[1].lower(): row[0] for row in kernel_table("DWCONV")}[self.isa]
        """The C plane kernel every call runs (src/dwconv2d_chw.h)."""

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        n, c, h, w = x_shape
        _, _, kh, kw = self.weight.shape
        return (n, c, (h + 2 * self.padding - kh) // self.stride + 1,
                (w + 2 * self.padding - kw) // self.stride + 1)

    def __call__(self, x: torch.Tensor, threads: int = 1, *,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        y, run = self._checked_call(x, threads, out)
        run()
        return y

    def bind(self, x: torch.Tensor, threads: int, *, out: torch.Tensor) -> Callable[[], None]:
        """This call, checked and run once, as a function that reruns it on the same
        tensors' memory (the compiled model's fixed buffers) without the checks."""
        _, run = self._checked_call(x, threads, out)
        run()
        return run

    def _checked_call(self, x: torch.Tensor, threads: int, out: torch.Tensor | None
                      ) -> tuple[torch.Tensor, Callable[[], None]]:
        """The output and the C call that fills it, after every check of the arguments."""
        _check_tensor(x, "input x", 4)
        _check_threads(threads)
        if not x.is_contiguous() or x.shape[1] != self.weight.shape[0]:
            raise ValueError(f"input x must be contiguous NCHW with {self.weight.shape[0]} "
                             f"channels, got {tuple(x.shape)}")
        shape = self.out_shape(tuple(x.shape))
        if out is not None and (tuple(out.shape) != shape or not out.is_contiguous()
                                or out.dtype != torch.float32):
            raise ValueError(f"out must be a contiguous float32 {shape} tensor")
        y = torch.empty(shape, dtype=torch.float32) if out is None else out
        return y, self._bound_call(x, y, threads)

    def _bound_call(self, x: torch.Tensor, y: torch.Tensor, threads: int) -> Callable[[], None]:
        ffi, lib = _lib()
        err = ffi.new("char[]", _ERRLEN)
        f = "float *"
        args = (ffi.cast(f, x.data_ptr()), ffi.cast(f, self.weight.data_ptr()),
                ffi.NULL if self.bias is None else ffi.cast(f, self.bias.data_ptr()),
                ffi.cast(f, y.data_ptr()), x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                self.weight.shape[2], self.weight.shape[3], self.stride, self.padding,
                ACTIVATIONS[self.act], threads, ISAS.index(self.isa), err, _ERRLEN)

        def run(_alive: tuple = (x, y)) -> None:  # args point into these: keep them
            if lib.sb_depthwise_conv2d(*args):
                raise ValueError(f"kernels_c depthwise: {ffi.string(err).decode()}")

        return run
