"""Packers: a masked conv weight -> the packed arrays one C kernel family reads.

One packer per pattern name, registered with ``@packer(name)``.  Every packer first
recomputes ``pattern.mask(weight)`` and refuses (ValueError) a weight that is non-zero
outside it; packed positions come from the mask, not from the non-zeros, so a kept weight
that happens to be 0.0 still occupies its slot and balanced formats stay balanced.

Reduction order (PATTERNS.md): r = (kh * Kw + kw) * Cin + ci.  Formats (src/sb.h):
  dense, filter -> PANEL, full panels of ``PANEL_ROWS`` output rows (filter: kept rows
                   only, with a row map to their output channel and the removed ones to fill)
  block         -> PANEL, BSR with block-rows of n output channels x 1 input channel x taps;
                   with ``rearrange`` the block-rows follow the pattern's bound channel
                   order and the row map sends each packed row to its own output channel
  unstructured  -> CSR over r (int32 columns), split by non-zeros over threads
  nm            -> per group of m channels: n values + n one-byte offsets
  cs            -> per chunk of k*d channels: d values + d one-byte segment ids t in [0, k)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

FMT_PANEL, FMT_CSR, FMT_NM, FMT_CS = 0, 1, 2, 3
SPLIT_EVEN, SPLIT_NNZ = 0, 1
PANEL_ROWS = 6
"""Output rows per dense panel = rows of the panel micro-kernel's register tile."""


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
    """Any of rowptr, cidx, rowmap, fillrows (int32), sub (uint8), val (float32)."""
    scalars: dict[str, int] = field(default_factory=dict)
    """n, m (nm) or k, d (cs)."""


PackFn = Callable[[Any, torch.Tensor, torch.Tensor], Packed]
PACKERS: dict[str, PackFn] = {}


def packer(name: str) -> Callable[[PackFn], PackFn]:
    """Register ``fn(pattern, weight, mask) -> Packed`` for pattern ``name``."""

    def register(fn: PackFn) -> PackFn:
        PACKERS[name] = fn
        return fn

    return register


def pack(weight: torch.Tensor, pattern: Any) -> Packed:
    """Pack a masked 4-D float32 CPU weight for ``pattern`` (ValueError if it does not fit)."""
    name = getattr(pattern, "name", None)
    if name not in PACKERS:
        known = ", ".join(sorted(PACKERS))
        raise ValueError(f"no C kernel for pattern {name!r}; packers exist for: {known}")
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
    return PACKERS[name](pattern, weight.detach(), mask)


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


@packer("unstructured")
def pack_unstructured(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """CSR over the reduction index r, split over threads by non-zeros."""
    cout, cin, kh, kw = weight.shape
    m = _taps_last(mask).reshape(cout, -1)
    w = _taps_last(weight).reshape(cout, -1)
    rowptr = np.concatenate([[0], np.cumsum(m.sum(axis=1))])
    arrays = {"rowptr": _i32(rowptr), "cidx": _i32(np.nonzero(m)[1]), "val": _f32(w[m])}
    return Packed(FMT_CSR, SPLIT_NNZ, cout, cin, kh, kw, cout, 1, cout, int(rowptr[-1]), arrays)


@packer("nm")
def pack_nm(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """Per group of m input channels (fixed co, tap): n values + n one-byte offsets."""
    cout, cin, kh, kw = weight.shape
    n, m = int(pattern.params["n"]), int(pattern.params["m"])
    if cin % m:
        raise ValueError(f"nm: Cin={cin} is not a multiple of m={m}")
    mk = _taps_last(mask).reshape(cout, -1, m)
    w = _taps_last(weight).reshape(cout, -1, m)
    if not (mk.sum(axis=-1) == n).all():
        raise ValueError(f"nm mask does not keep exactly {n} of every {m} channels")
    order = np.argsort(~mk, axis=-1, kind="stable")[..., :n]  # kept offsets, ascending
    arrays = {
        "sub": np.ascontiguousarray(order, dtype=np.uint8).reshape(-1),
        "val": _f32(np.take_along_axis(w, order, axis=-1)),
    }
    return Packed(FMT_NM, SPLIT_EVEN, cout, cin, kh, kw, cout, 1, cout, int(order.size),
                  arrays, {"n": n, "m": m})


@packer("cs")
def pack_cs(pattern: Any, weight: torch.Tensor, mask: torch.Tensor) -> Packed:
    """Per chunk of k*d input channels: d values + d one-byte segment ids t in [0, k)."""
    cout, cin, kh, kw = weight.shape
    k, d = int(pattern.params["k"]), int(pattern.distance(cin))
    if d < 1 or cin % (k * d):
        raise ValueError(f"cs: Cin={cin} is not a multiple of k*d={k}*{d}")
    mk = _taps_last(mask).reshape(cout, -1, k, d)
    w = _taps_last(weight).reshape(cout, -1, k, d)
    if not (mk.sum(axis=2) == 1).all():
        raise ValueError(f"cs mask does not keep exactly one of every {k} channels spaced {d}")
    seg = mk.argmax(axis=2)  # (cout, chunks, d)
    arrays = {
        "sub": np.ascontiguousarray(seg, dtype=np.uint8).reshape(-1),
        "val": _f32(np.take_along_axis(w, seg[:, :, None, :], axis=2)),
    }
    return Packed(FMT_CS, SPLIT_EVEN, cout, cin, kh, kw, cout, 1, cout, int(seg.size),
                  arrays, {"k": k, "d": d})
