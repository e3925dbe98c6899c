"""Packers: a masked conv weight -> the packed arrays one C kernel family reads.

One packer per pattern name, registered with ``@packer(name)``.  Every packer first
recomputes ``pattern.mask(weight)`` and refuses (ValueError) a weight that is non-zero
outside it; packed positions come from the mask, not from the non-zeros, so a kept weight
that happens to be 0.0 still occupies its slot and balanced formats stay balanced.

Reduction order (docs/PATTERNS.md §conventions): r = (kh * Kw + kw) * Cin + ci.
Formats (src/sb.h, docs/CONTRACTS.md §c-packed-formats):
  dense, filter -> PANEL, full panels of ``PANEL_ROWS`` output rows (filter: kept rows
                   only, with a row map to their output channel and the removed ones to fill)
  block         -> PANEL, BSR with block-rows of n output channels x 1 input channel x taps;
                   with ``rearrange`` the block-rows follow the pattern's bound channel
                   order and the row map sends each packed row to its own output channel
  unstructured  -> ELL16 blocked CSR: per (output row, reduction block) a pointer, per
                   value a uint16 row inside its block; split by non-zeros over threads
  nm            -> ELL16 fixed count: per output row n values per group of m, each with
                   its uint16 row inside its reduction block
  cs            -> ELL16 fixed count on 1:k groups: the input channels of every chunk of
                   k*d are reordered (channel t*d + j -> position j*k + t, ``rmap``), which
                   makes CS exactly 1:k N:M; then as nm
The ELL16 formats cut the reduction into blocks of ``kb`` rows (_block_rows, a multiple
of the group size); the C kernel copies one block's activation rows of a pixel tile into
an L1-resident buffer and addresses them by the stored row (src/ell16_spmm.h).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sparsebench.registry import Registry

from ._build import constant, table_codes

FMT_PANEL, FMT_CSR, FMT_NM, FMT_CS = (table_codes("FORMAT")[name]
                                      for name in ("panel", "csr", "nm", "cs"))
SPLIT_EVEN, SPLIT_NNZ = constant("SB_SPLIT_EVEN"), constant("SB_SPLIT_NNZ")
PANEL_ROWS = 6
"""Output rows per dense panel = rows of the panel micro-kernel's register tile."""
ELL_BLOCK_ROWS = (64, 128)
"""Reduction rows per ELL16 block, least and most.  A row should have ELL_BLOCK_VALUES
values per block to amortise loading and storing its partial sums, which on Zen 4 (32 KiB
L1D) cost 11-15 % of the cs k=4 time on ResNet-50's 28x28-7x7 layers at 16 values (knock-out:
no round trip, 1 thread).  So 32 values: 128 rows at 75 % and above; the kernel halves its
pixel tile when kb x tile exceeds L1 (src/ell16_spmm.h).  Measured (A/B in one process,
lower quartiles, 1 thread unless said, Zen 4): 32 values with the half tile against 16 with
the wide one, geomean of 12-14 ResNet-50 layers: cs k=4 1.035x (2 threads 1.053x), nm 1:4
1.027x, unstructured 75 % 1.062x; VGG-16 cs k=4 1.042x; MobileNetV2 cs k=4 1.02-1.03x.
The wide tile at 128 rows (64 KiB, beyond L1) was 0.93x.  Earlier, Zen 5 (48 KiB L1D):
nm 1:16 ran 1.07-1.3x faster at 128 than at 64 rows, 256 gained nothing more."""
ELL_BLOCK_VALUES = 32


@dataclass
class Packed:
    """Packed weight: format, geometry, the arrays (kept alive here) and scalar params."""

    fmt: int
    split: int
    cout: int
    cin: int
    kh: int
    kw: int
    units: int
    bh: int
    valid_rows: int
    nnz: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    """Any of rowptr, cidx, bptr, rmap, rowmap, fillrows (int32), lidx (uint16), val
    (float32)."""
    scalars: dict[str, int] = field(default_factory=dict)
    """kb (ELL16 block rows), n, m (nm; cs as 1:k) and k, d (cs)."""


PackFn = Callable[[Any, torch.Tensor, torch.Tensor], Packed]
PACKERS: Registry[str, PackFn] = Registry("C packer",
                                           unknown="no C kernel for pattern {name!r}")


def packer(name: str) -> Callable[[PackFn], PackFn]:
    """Register ``fn(pattern, weight, mask) -> Packed`` for pattern ``name``."""
    return PACKERS.register(name)


def pack(weight: torch.Tensor, pattern: Any) -> Packed:
    """Pack a masked 4-D float32 CPU weight for ``pattern`` (ValueError if it does not fit)."""
    name = getattr(pattern, "name", None)
    pack_fn = PACKERS[name]  # ValueError naming the patterns that have a C kernel
    if pattern.needs_order:
        raise ValueError(
            f"{pattern.describe()} needs the layer's channel order to pack: pass "
            "pattern.for_layer(mask) (a checkpoint's layer_patterns() are bound already)"
        )
    mask = pattern.mask(weight).to(torch.bool)
    if tuple(mask.shape) != tuple(weight.shape):
        raise ValueError(f"pattern mask shape {tuple(mask.shape)} != weight {tuple(weight.shape)}")
    outside = int(torch.count_nonzero(weight[~mask]))
    if outside:
        raise ValueError(
            f"weight has {outside} non-zeros outside the {name} mask; "
            "apply the mask first (weight * pattern.mask(weight))"
        )
    return pack_fn(pattern, weight.detach(), mask)


def _taps_last(t: torch.Tensor) -> np.ndarray:
    """(Cout, Cin, Kh, Kw) -> numpy (Cout, Kh*Kw, Cin): rows in reduction order."""
    cout, cin = t.shape[:2]
    return t.permute(0, 2, 3, 1).reshape(cout, -1, cin).contiguous().numpy()


def _i32(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int32)


def _f32(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).reshape(-1)


def _panels(weight: torch.Tensor, rows: np.ndarray, cout: int, bh: int, keep: np.ndarray,
            split: int) -> Packed:
    """PANEL format: ``rows`` (output channels) grouped in block-rows of ``bh``.

    ``keep[u, ci]`` says whether block (u, ci) is stored; values are [block][tap][bh]."""
    cin, kh, kw = weight.shape[1:]
    w = weight[torch.as_tensor(rows, dtype=torch.long)] if len(rows) else weight[:0]
    units = -(-len(rows) // bh)
    padded = torch.zeros(units * bh, cin, kh, kw, dtype=torch.float32)
    padded[: len(rows)] = w
    blocks = padded.reshape(units, bh, cin, kh * kw).permute(0, 2, 3, 1).numpy()
    counts = keep.sum(axis=1)
    identity = np.array_equal(rows, np.arange(cout))
    arrays = {
        "rowptr": _i32(np.concatenate([[0], np.cumsum(counts)])),
        "cidx": _i32(np.nonzero(keep)[1]),
        "val": _f32(blocks[keep]),
    }
    if not identity:
        arrays["rowmap"] = _i32(rows)
        arrays["fillrows"] = _i32(np.setdiff1d(np.arange(cout), rows))
    nnz = int(counts.sum()) * kh * kw * bh
    return Packed(FMT_PANEL, split, cout, cin, kh, kw, units, bh, len(rows),
                  min(nnz, len(rows) * cin * kh * kw), arrays)


@packer("dense")
def pack_dense(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """Full panels of PANEL_ROWS rows: the register-blocked dense GEMM baseline."""
    cout, cin = weight.shape[:2]
    units = -(-cout // PANEL_ROWS)
    keep = np.ones((units, cin), dtype=bool)
    return _panels(weight, np.arange(cout), cout, PANEL_ROWS, keep, SPLIT_EVEN)


@packer("filter")
def pack_filter(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """Compacted dense weight of the kept output channels + kept-channel index."""
    cout, cin = weight.shape[:2]
    rows_any = mask.reshape(cout, -1).any(dim=1)
    if not torch.equal(rows_any, mask.reshape(cout, -1).all(dim=1)):
        raise ValueError("filter mask keeps part of an output channel; expected whole channels")
    rows = np.nonzero(rows_any.numpy())[0]
    units = -(-len(rows) // PANEL_ROWS)
    keep = np.ones((units, cin), dtype=bool)
    return _panels(weight, rows, cout, PANEL_ROWS, keep, SPLIT_EVEN)


@packer("block")
def pack_block(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """BSR: block-rows of n output channels (in the pattern's channel order), one block per
    kept input channel (all taps); a permuted order becomes the row map (no extra pass)."""
    cout, cin = weight.shape[:2]
    n = int(pattern.params["n"])
    if cout % n:
        raise ValueError(f"block: Cout={cout} is not a multiple of n={n}")
    rows = np.arange(cout) if pattern.order is None else pattern.order.numpy()
    blocks = mask[torch.as_tensor(rows)].reshape(cout // n, n, cin, -1)
    keep = blocks.any(dim=(1, 3))
    if not torch.equal(keep, blocks.all(dim=(1, 3))):
        raise ValueError(f"block mask keeps part of a 1x{n} block; expected whole blocks")
    split = SPLIT_NNZ if pattern.params.get("balance") == "global" else SPLIT_EVEN
    return _panels(weight, rows, cout, n, keep.numpy(), split)


def _block_rows(group: int, density: float) -> int:
    """Rows per ELL16 block: ELL_BLOCK_VALUES / density within ELL_BLOCK_ROWS, rounded down
    to a multiple of ``group`` (at least one group)."""
    lo, hi = ELL_BLOCK_ROWS
    rows = int(min(hi, max(lo, ELL_BLOCK_VALUES / max(density, 1e-9))))
    return max(group, rows // group * group)


def _by_block(a: np.ndarray, kb: int) -> np.ndarray:
    """(cout, red) as a contiguous (block, row, position in block) array, the last block
    zero-padded: nonzero and masking walk it block-major -- one block's values of every row,
    row after row, then the next block's -- the order the kernel walks them (every row over
    one block's activation tile), so the weight stream is sequential.  No sort: VGG-16's
    4096 x 25088 fc1 packed in 28 s with a lexsort, 24 s on strided views, 18 s so."""
    cout, red = a.shape
    nblk = -(-red // kb)
    if nblk * kb != red:
        a = np.pad(a, ((0, 0), (0, nblk * kb - red)))
    return np.ascontiguousarray(a.reshape(cout, nblk, kb).transpose(1, 0, 2))


def _ell_fixed(fmt: int, shape: torch.Size, weight: np.ndarray, keep: np.ndarray, n: int,
               m: int, scalars: dict[str, int], rmap: np.ndarray | None = None) -> Packed:
    """ELL16 fixed count from (cout, red) weight/keep already in the kernel's reduction
    order: exactly n kept in every group of m consecutive rows."""
    cout = keep.shape[0]
    if not (keep.reshape(cout, -1, m).sum(axis=-1) == n).all():
        what = f"one of every {m} channels spaced d" if fmt == FMT_CS else f"{n} of every {m}"
        raise ValueError(f"the mask does not keep exactly {what} input channels")
    kb = _block_rows(m, n / m)
    blocks_keep = _by_block(keep, kb)  # groups never straddle blocks: kb // m * n per block
    arrays = {"lidx": np.ascontiguousarray(np.nonzero(blocks_keep)[2], dtype=np.uint16),
              "val": _f32(_by_block(weight, kb)[blocks_keep])}
    if rmap is not None:
        arrays["rmap"] = _i32(rmap)
    cin, kh, kw = (int(v) for v in shape[1:])
    return Packed(fmt, SPLIT_EVEN, cout, cin, kh, kw, cout, 1, cout, int(arrays["val"].size),
                  arrays, {"kb": kb, "n": n, "m": m, **scalars})


@packer("unstructured")
def pack_unstructured(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """ELL16 blocked CSR over the reduction index r, split over threads by non-zeros."""
    cout, cin, kh, kw = weight.shape
    m = _taps_last(mask).reshape(cout, -1)
    w = _taps_last(weight).reshape(cout, -1)
    kb = _block_rows(1, float(m.mean()) if m.size else 1.0)
    nblk = -(-m.shape[1] // kb)
    blocks_m = _by_block(m, kb)
    unit, lidx = np.nonzero(blocks_m.reshape(nblk * cout, kb))  # unit = block * cout + row
    counts = np.bincount(unit, minlength=nblk * cout)
    bptr = np.concatenate([[0], np.cumsum(counts)])
    rowptr = np.concatenate([[0], np.cumsum(m.sum(axis=1))])
    arrays = {"rowptr": _i32(rowptr), "bptr": _i32(bptr),
              "lidx": np.ascontiguousarray(lidx, dtype=np.uint16),
              "val": _f32(_by_block(w, kb)[blocks_m])}
    return Packed(FMT_CSR, SPLIT_NNZ, cout, cin, kh, kw, cout, 1, cout, int(bptr[-1]),
                  arrays, {"kb": kb})


@packer("nm")
def pack_nm(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """ELL16, n values per group of m consecutive input channels (fixed co, tap)."""
    cout, cin = weight.shape[:2]
    n, m = int(pattern.params["n"]), int(pattern.params["m"])
    if cin % m:
        raise ValueError(f"nm: Cin={cin} is not a multiple of m={m}")
    return _ell_fixed(FMT_NM, weight.shape, _taps_last(weight).reshape(cout, -1),
                      _taps_last(mask).reshape(cout, -1), n, m, {})


def cs_channel_order(cin: int, k: int, d: int) -> np.ndarray:
    """Input channel at each position once CS is 1:k N:M: within every chunk of k*d
    channels, position j*k + t holds channel t*d + j."""
    pos = np.arange(cin)
    chunk, within = pos // (k * d), pos % (k * d)
    return chunk * k * d + (within % k) * d + within // k


@packer("cs")
def pack_cs(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """CS as 1:k N:M: input channels reordered per chunk (cs_channel_order), then ELL16."""
    cout, cin, kh, kw = weight.shape
    k, d = int(pattern.params["k"]), int(pattern.distance(cin))
    if d < 1 or cin % (k * d):
        raise ValueError(f"cs: Cin={cin} is not a multiple of k*d={k}*{d}")
    order = cs_channel_order(cin, k, d)
    taps = kh * kw
    rmap = (np.arange(taps)[:, None] * cin + order[None, :]).reshape(-1)
    mk = _taps_last(mask)[:, :, order].reshape(cout, -1)
    w = _taps_last(weight)[:, :, order].reshape(cout, -1)
    return _ell_fixed(FMT_CS, weight.shape, w, mk, 1, k, {"k": k, "d": d}, rmap)
