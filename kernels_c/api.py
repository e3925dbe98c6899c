"""Python API of the C kernels (docs/CONTRACTS.md §kernels_c-python-api): prepare / conv2d /
available_isas / build_info / peak_gflops.  Thin wrappers: check the tensors, pack once,
call C, turn a C error code into a one-line ValueError."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import torch

from . import _build
from .packers import Packed, pack

ISAS = tuple(sorted(_build.table_codes("ISA"), key=_build.table_codes("ISA").get))
"""Index = the C SB_ISA_* constant (kernel_table.h)."""
LAYOUTS = _build.table_codes("LAYOUT")
"""Activation staging name -> the C SB_LAYOUT_* constant (kernel_table.h); 'auto' picks."""
_LAYOUT_NAMES = {code: name for name, code in LAYOUTS.items()}
ACTIVATIONS = {"none": 0, "relu": 1, "relu6": 2}
"""Epilogue activation name -> the C SB_ACT_* constant (src/epilogue.h)."""
_ERRLEN = 512


def _lib() -> tuple[Any, Any]:
    module = _build.load()
    return module.ffi, module.lib


def _kernel_name(kernel: int) -> str:
    """The function of micro-kernel row ``kernel`` (an SB_KERNEL_* code), as C names it."""
    ffi, lib = _lib()
    return ffi.string(lib.sb_kernel_name(kernel)).decode()


def available_isas() -> list[str]:
    """ISAs this CPU runs, best first (subset of avx512, avx2, scalar)."""
    _, lib = _lib()
    mask = lib.sb_isa_mask()
    return [name for i, name in reversed(list(enumerate(ISAS))) if mask >> i & 1]


@cache
def build_info() -> dict[str, Any]:
    """Compiler, version, flags, source hash and ISAs of the loaded build."""
    cc, version = _build.compiler()
    return {
        "compiler": cc,
        "compiler_version": version,
        "flags": " ".join(_build.flags()),
        "source_hash": _build.source_hash(),
        "isas": available_isas(),
        "sanitize": _build.sanitize(),
        "path": str(_build.cache_dir()),
    }


def peak_gflops(threads: int = 1, isa: str | None = None) -> float:
    """fp32 FMA throughput of ``threads`` threads on ``isa`` (default: best), GFLOP/s."""
    _check_threads(threads)
    _, lib = _lib()
    value = lib.sb_peak_gflops(threads, ISAS.index(_resolve_isa(isa)))
    if value <= 0:
        raise ValueError(f"peak probe failed for threads={threads}, isa={isa}")
    return float(value)


def _resolve_isa(isa: str | None) -> str:
    have = available_isas()
    if isa is None:
        return have[0]
    if isa not in have:
        raise ValueError(f"isa {isa!r} not available on this CPU; choose one of {have}")
    return isa


def max_threads() -> int:
    """Most OpenMP threads one kernel call may ask for (SB_MAX_THREADS in sb.h)."""
    return _build.constant("SB_MAX_THREADS")


def _check_threads(threads: Any) -> None:
    if (isinstance(threads, bool) or not isinstance(threads, int)
            or not 1 <= threads <= max_threads()):
        raise ValueError(f"threads must be an integer in 1..{max_threads()}, got {threads!r}")


def _epilogue_code(shape: tuple[int, ...], residual: torch.Tensor | None, act: str,
                   out: torch.Tensor | None) -> int:
    """The SB_ACT_* code of ``act``, after checking ``residual`` fits an output of ``shape``."""
    if act not in ACTIVATIONS:
        raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    if residual is not None:
        _check_tensor(residual, "residual", len(shape))
        if tuple(residual.shape) != shape or not residual.is_contiguous():
            raise ValueError(f"residual must be a contiguous {shape} tensor, got "
                             f"{tuple(residual.shape)}")
        if out is not None and residual.data_ptr() == out.data_ptr():
            raise ValueError("residual and out are the same buffer; pass another out")
    return ACTIVATIONS[act]


def _pair(value: Any, what: str, minimum: int, maximum: int) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= maximum for v in pair
    ):
        raise ValueError(f"{what} must be an int in {minimum}..{maximum} or a pair of them, "
                         f"got {value!r}")
    return pair


def _check_tensor(t: Any, what: str, dim: int) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{what} is on {t.device}; kernels_c runs on CPU tensors (.cpu())")
    if t.dtype != torch.float32:
        raise ValueError(f"{what} has dtype {t.dtype}; kernels_c needs float32 (.float())")
    if t.dim() != dim:
        raise ValueError(f"{what} must be {dim}-D, got shape {tuple(t.shape)}")


class PreparedConv:
    """A packed convolution: call it with NCHW activations, as many times as needed."""

    def __init__(self, packed: Packed, pattern: Any, stride: tuple[int, int],
                 padding: tuple[int, int], bias: torch.Tensor | None, isa: str) -> None:
        self.packed = packed
        self.pattern = pattern
        self.stride, self.padding = stride, padding
        self.bias = bias
        self.isa = isa
        self.kernel = f"{pattern.name}-{isa}"
        ffi, lib = _lib()
        # what runs: the C micro-kernel (e.g. f32_spmm_ell16_2x8v_avx512) and the staging
        # layout the last call reported (None before the first: layout 'auto' picks it from
        # the input's size too, sb_auto_layout)
        self.kernel_function = _kernel_name(lib.sb_kernel_for(packed.fmt, ISAS.index(isa)))
        self.layout: str | None = None
        self.nnz = packed.nnz
        self.threads_used: int | None = None
        """OpenMP threads the last call ran on, as the C kernel reports it (with
        ``kernel_function`` and ``layout``: what that call ran)."""
        for array in packed.arrays.values():
            array.flags.writeable = False
        self._struct = self._make_struct()
        self.validate()

    def _make_struct(self) -> Any:
        ffi, _ = _lib()
        p = self.packed
        s = ffi.new("sb_packed *")
        for name in ("fmt", "split", "cout", "cin", "kh", "kw", "units", "bh", "valid_rows"):
            setattr(s, name, getattr(p, name))
        for name, value in p.scalars.items():
            setattr(s, name, value)
        types = {"rowptr": "int32_t *", "cidx": "int32_t *", "bptr": "int32_t *",
                 "lidx": "uint16_t *", "rmap": "int32_t *", "val": "float *",
                 "rowmap": "int32_t *", "fillrows": "int32_t *"}
        for name, array in p.arrays.items():
            # from_buffer needs a writable view only for a non-const pointer; C treats it const
            setattr(s, name, ffi.cast(types[name], array.ctypes.data) if array.size else ffi.NULL)
            setattr(s, f"len_{name}", int(array.size))
        return s

    def validate(self) -> None:
        """Re-check every packed index in C (ValueError naming the first bad one)."""
        ffi, lib = _lib()
        err = ffi.new("char[]", _ERRLEN)
        rc = lib.sb_validate(self._struct, err, _ERRLEN)
        if rc:
            raise ValueError(f"packed {self.kernel} weight is invalid: {ffi.string(err).decode()}")

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """Output (N, Cout, Hout, Wout) for an input of ``x_shape``."""
        n, _, h, w = x_shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        return (n, self.packed.cout, (h + 2 * ph - self.packed.kh) // sh + 1,
                (w + 2 * pw - self.packed.kw) // sw + 1)

    def __call__(self, x: torch.Tensor, threads: int = 1, *, layout: str = "auto",
                 out: torch.Tensor | None = None, residual: torch.Tensor | None = None,
                 act: str = "none") -> torch.Tensor:
        """Forward pass on NCHW float32 CPU ``x``; ``layout`` forces a staging (benchmarks);
        ``out``: a preallocated contiguous output to write (and return) instead of a new one;
        ``residual`` (shaped like the output) and ``act`` ('none', 'relu', 'relu6'): the
        fused epilogue ``act(conv(x) + residual)``, applied in the kernel's last write."""
        y, run = self._checked_call(x, threads, layout, out, residual, act)
        run()
        return y

    def bind(self, x: torch.Tensor, threads: int, *, out: torch.Tensor,
             residual: torch.Tensor | None = None, act: str = "none") -> Callable[[], None]:
        """This call, checked and run once, as a function that reruns it on whatever the
        same tensors' memory holds then (the compiled model's fixed buffers): the checks and
        argument conversions are not repeated; the C side still checks every call."""
        _, run = self._checked_call(x, threads, "auto", out, residual, act)
        run()
        return run

    def _checked_call(self, x: torch.Tensor, threads: int, layout: str,
                      out: torch.Tensor | None, residual: torch.Tensor | None,
                      act: str) -> tuple[torch.Tensor, Callable[[], None]]:
        """The output and the C call that fills it, after every check of the arguments."""
        _check_tensor(x, "input x", 4)
        _check_threads(threads)
        if not x.is_contiguous():
            raise ValueError("input x is not contiguous NCHW; call x.contiguous()")
        p = self.packed
        if x.shape[1] != p.cin:
            raise ValueError(f"input x has {x.shape[1]} channels, the weight expects {p.cin}")
        (ph, pw) = self.padding
        if x.shape[2] + 2 * ph < p.kh or x.shape[3] + 2 * pw < p.kw:
            raise ValueError(
                f"input {tuple(x.shape[2:])} plus padding is smaller than the {p.kh}x{p.kw} kernel"
            )
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
        shape = self.out_shape(tuple(x.shape))
        if out is not None:
            _check_tensor(out, "out", 4)
            if tuple(out.shape) != shape or not out.is_contiguous():
                raise ValueError(f"out must be a contiguous {shape} tensor, got "
                                 f"{tuple(out.shape)}")
        act_code = _epilogue_code(shape, residual, act, out)
        y = torch.empty(shape, dtype=torch.float32) if out is None else out
        if x.shape[0] == 0:  # an empty batch: an empty result, as torch gives
            return y, lambda: None
        return y, self._bound_call(x, y, residual, act_code, threads, LAYOUTS[layout])

    def _bound_call(self, x: torch.Tensor, y: torch.Tensor, residual: torch.Tensor | None,
                    act_code: int, threads: int, layout: int) -> Callable[[], None]:
        ffi, lib = _lib()
        err = ffi.new("char[]", _ERRLEN)
        ran = ffi.new("sb_ran *")
        bias = ffi.NULL if self.bias is None else ffi.cast("float *", self.bias.data_ptr())
        res = ffi.NULL if residual is None else ffi.cast("float *", residual.data_ptr())
        args = (self._struct, ffi.cast("float *", x.data_ptr()), x.shape[0], x.shape[2],
                x.shape[3], *self.stride, *self.padding, bias, res, act_code,
                ffi.cast("float *", y.data_ptr()), threads, ISAS.index(self.isa), layout, ran,
                err, _ERRLEN)

        def run(_alive: tuple = (x, y, residual)) -> None:  # args point into these: keep them
            rc = lib.sb_conv2d(*args)
            if rc:
                message = ffi.string(err).decode()
                if rc == lib.SB_ENOMEM:
                    raise MemoryError(message)
                raise ValueError(f"kernels_c {self.kernel}: {message}")
            self.threads_used = int(ran.threads)
            self.kernel_function = _kernel_name(ran.kernel)
            self.layout = _LAYOUT_NAMES[ran.layout]

        return run

    def __repr__(self) -> str:
        p = self.packed
        return (f"PreparedConv({self.kernel}, {p.cout}x{p.cin}x{p.kh}x{p.kw}, nnz={self.nnz}, "
                f"stride={self.stride}, padding={self.padding})")


def prepare(weight: torch.Tensor, *, pattern: Any, stride: Any = 1, padding: Any = 0,
            bias: torch.Tensor | None = None, isa: str | None = None) -> PreparedConv:
    """Pack ``weight`` (already masked with ``pattern``) once; returns a callable conv."""
    _check_tensor(weight, "weight", 4)
    stride_pair = _pair(stride, "stride", 1, _build.constant("SB_MAX_STRIDE"))
    padding_pair = _pair(padding, "padding", 0, _build.constant("SB_MAX_PADDING"))
    if bias is not None:
        _check_tensor(bias, "bias", 1)
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(f"bias has {bias.shape[0]} entries, weight has {weight.shape[0]} "
                             "output channels")
        bias = bias.detach().contiguous().clone()
    chosen = _resolve_isa(isa)
    packed = pack(weight.detach().contiguous(), pattern)
    return PreparedConv(packed, pattern, stride_pair, padding_pair, bias, chosen)


def conv2d(x: torch.Tensor, weight: torch.Tensor, *, pattern: Any, stride: Any = 1,
           padding: Any = 0, bias: torch.Tensor | None = None, threads: int = 1,
           isa: str | None = None) -> torch.Tensor:
    """One-shot ``prepare(...)(x, threads)``: same result as torch's conv2d."""
    return prepare(weight, pattern=pattern, stride=stride, padding=padding, bias=bias,
                   isa=isa)(x, threads)


