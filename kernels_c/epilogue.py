"""Python wrapper of the C epilogue (src/epilogue.c): ``y = act(y + residual)`` in place."""

from __future__ import annotations

import torch

from .api import ACTIVATIONS, _check_tensor, _check_threads, _lib

_ERRLEN = 256
FUNCTION = "sb_epilogue"
"""The C function ``epilogue`` calls (src/epilogue.h), as a result row names it."""


def epilogue(y: torch.Tensor, residual: torch.Tensor | None = None, act: str = "none",
             threads: int = 1) -> torch.Tensor:
    """Add ``residual`` (same shape) to contiguous float32 ``y`` and apply ``act`` in place."""
    _check_tensor(y, "y", y.dim())
    _check_threads(threads)
    if act not in ACTIVATIONS:
        raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    if not y.is_contiguous():
        raise ValueError("y is not contiguous; the epilogue writes it in place")
    if residual is not None:
        _check_tensor(residual, "residual", residual.dim())
        if residual.shape != y.shape or not residual.is_contiguous():
            raise ValueError(f"residual must be a contiguous {tuple(y.shape)} tensor, got "
                             f"{tuple(residual.shape)}")
    ffi, lib = _lib()
    err = ffi.new("char[]", _ERRLEN)
    res = ffi.NULL if residual is None else ffi.cast("float *", residual.data_ptr())
    rc = getattr(lib, FUNCTION)(ffi.cast("float *", y.data_ptr()), res, y.numel(), ACTIVATIONS[act],
                         threads, err, _ERRLEN)
    if rc:
        raise ValueError(f"kernels_c epilogue: {ffi.string(err).decode()}")
    return y
