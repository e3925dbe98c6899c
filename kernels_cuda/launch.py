"""Launch configurations: (packed weight, geometry, tensors) -> entry point, grid and arguments.

One builder per kernel family, registered by the family name of ``Packed``.  The tile
sizes below mirror the constants of the .cu files (``common.cuh`` SP_*, ``dense.cu`` DN_*,
``bsr.cu`` BS_WARPS); the entry-point names carry the compile-time variants, so a
mismatch fails loudly as a missing function rather than as a wrong result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from kernels_cuda.packing import Packed
from sparsebench.registry import Registry

STAGED_PIXELS, STAGED_CHANNELS, STAGED_THREADS = 128, 64, 256   # common.cuh SP_TP/SP_TCO
DENSE_PIXELS, DENSE_ROWS, DENSE_THREADS = 128, 128, 256         # dense.cu DN_TP/DN_TR
BSR_WARPS = 4                                                   # bsr.cu BS_WARPS
BSR_PIXELS_PER_LANE = {1: 4, 2: 4, 4: 4, 8: 4, 16: 4, 32: 2}    # bsr.cu SB_BSR_BOTH
DTYPE_SUFFIX = {torch.float32: "f32", torch.float16: "f16"}

Arg = torch.Tensor | None | int
"""A kernel argument: a tensor or None is a device pointer (None -> NULL), an int is int32."""


@dataclass(frozen=True)
class Geometry:
    """Shapes of one convolution call (NCHW input, OIHW weight)."""

    n: int
    cin: int
    h: int
    w: int
    cout: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int

    @property
    def ho(self) -> int:
        return (self.h + 2 * self.ph - self.kh) // self.sh + 1

    @property
    def wo(self) -> int:
        return (self.w + 2 * self.pw - self.kw) // self.sw + 1

    @property
    def pixels(self) -> int:
        return self.n * self.ho * self.wo

    def args(self) -> tuple[int, ...]:
        """SB_CONV_PARAMS, in the order of the .cu files."""
        return (self.n, self.cin, self.h, self.w, self.cout, self.kh, self.kw,
                self.sh, self.sw, self.ph, self.pw, self.ho, self.wo)


@dataclass(frozen=True)
class Launch:
    family: str                        # the .cu file / cubin
    name: str                          # the extern "C" entry point
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: tuple[Arg, ...]


Builder = Callable[[Packed, Geometry, torch.Tensor, torch.Tensor, "torch.Tensor | None"], Launch]
BUILDERS: Registry[str, Builder] = Registry("CUDA kernel family")
LABELS: Registry[str, Callable[[Packed], str]] = Registry("CUDA kernel family")


def builder(family: str, label: Callable[[Packed], str]) -> Callable[[Builder], Builder]:
    """Register the decorated launch builder of ``family`` and its kernel label."""

    def register(fn: Builder) -> Builder:
        BUILDERS.add(family, fn)
        LABELS.add(family, label)
        return fn

    return register


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def kernel_label(packed: Packed, dtype: torch.dtype) -> str:
    """What a result row records as the kernel, e.g. ``cs-f32`` or ``bsr-n16-f16``."""
    return f"{LABELS[packed.family](packed)}-{DTYPE_SUFFIX[dtype]}"


def build(packed: Packed, geom: Geometry, x: torch.Tensor, y: torch.Tensor,
          bias: torch.Tensor | None) -> Launch:
    """The launch of ``packed``'s family for one call."""
    return BUILDERS[packed.family](packed, geom, x, y, bias)


def _staged_grid(geom: Geometry, rows: int) -> tuple[int, int, int]:
    return (_ceil(geom.pixels, STAGED_PIXELS), _ceil(rows, STAGED_CHANNELS), 1)


@builder("dense", label=lambda p: "dense" if "co_map" not in p.arrays else "dense-rows")
def _dense(p: Packed, geom: Geometry, x: torch.Tensor, y: torch.Tensor,
           bias: torch.Tensor | None) -> Launch:
    rows = p.params["rows"]
    grid = (_ceil(geom.pixels, DENSE_PIXELS), _ceil(rows, DENSE_ROWS), 1)
    args = (x, p.arrays["wt"], p.arrays.get("co_map"), bias, y, *geom.args(), rows)
    return Launch("dense", f"sb_dense_{DTYPE_SUFFIX[x.dtype]}", grid, (DENSE_THREADS, 1, 1), args)


@builder("csr", label=lambda p: "csr")
def _csr(p: Packed, geom: Geometry, x: torch.Tensor, y: torch.Tensor,
         bias: torch.Tensor | None) -> Launch:
    a, rows = p.arrays, p.params["rows"]
    args = (x, a["rowptr"], a["col"], a["vals"], a["perm"], bias, y, *geom.args(), rows)
    return Launch("csr", f"sb_csr_{DTYPE_SUFFIX[x.dtype]}", _staged_grid(geom, rows),
                  (STAGED_THREADS, 1, 1), args)


def _per_channel(family: str, index: str, params: tuple[str, str]) -> Builder:
    """The builder of a staged family packed one row per output channel: values, the
    ``index`` array and two int parameters (nm: idx, n, m; cs: seg, k, d)."""

    def build(p: Packed, geom: Geometry, x: torch.Tensor, y: torch.Tensor,
              bias: torch.Tensor | None) -> Launch:
        args = (x, p.arrays["vals"], p.arrays[index], bias, y, *geom.args(),
                *(p.params[name] for name in params))
        return Launch(family, f"sb_{family}_{DTYPE_SUFFIX[x.dtype]}",
                      _staged_grid(geom, geom.cout), (STAGED_THREADS, 1, 1), args)

    return build


builder("nm", label=lambda p: "nm")(_per_channel("nm", "idx", ("n", "m")))
builder("cs", label=lambda p: "cs")(_per_channel("cs", "seg", ("k", "d")))


@builder("bsr", label=lambda p: f"bsr-n{p.params['nb']}")
def _bsr(p: Packed, geom: Geometry, x: torch.Tensor, y: torch.Tensor,
         bias: torch.Tensor | None) -> Launch:
    a, nb, nrows = p.arrays, p.params["nb"], p.params["nrows"]
    ppt = BSR_PIXELS_PER_LANE[nb]
    grid = (_ceil(geom.pixels, 32 * ppt), _ceil(nrows, BSR_WARPS), 1)
    args = (x, a["rowptr"], a["col"], a["vals"], a["perm"], a.get("chan"), bias, y,
            *geom.args(), nrows)
    name = f"sb_bsr_n{nb}_p{ppt}_{DTYPE_SUFFIX[x.dtype]}"
    return Launch("bsr", name, grid, (32 * BSR_WARPS, 1, 1), args)
