"""Packers: a masked weight + its pattern -> the arrays one CUDA kernel family reads.

Pure torch (any device), so packing is checked on a CPU: ``unpack(pack(w, p))`` must give
back the masked weight.  The formats (docs/CONTRACTS.md §cuda-packed-formats) are laid out
in the reduction order (taps, then input channels) the kernels walk; each family's .cu file
documents the index arithmetic.  A packer recomputes ``pattern.mask(weight)`` and refuses a
weight with non-zeros outside it, so a kernel never silently drops weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from sparsebench.registry import Registry

BSR_WIDTHS = (32, 16, 8, 4, 2, 1)
"""Block heights with a compiled BSR kernel; a 1×n block uses the largest that divides n."""
MAX_STAGE_ROWS = 32
"""Input rows a staged kernel holds: N:M needs m <= 32, CS needs k <= 32."""


@dataclass(frozen=True)
class Packed:
    """One packed weight: the arrays and small integers a kernel family needs."""

    family: str                            # dense | csr | nm | cs | bsr (the .cu file)
    arrays: dict[str, torch.Tensor]        # values in the weight's dtype; indices int32/uint8
    params: dict[str, int]                 # kernel arguments; rows = output channels written
    shape: tuple[int, int, int, int]       # (Cout, Cin, Kh, Kw) of the weight
    nnz: int                               # weights the kernel multiplies (its work)

    def to(self, device: torch.device | str) -> Packed:
        """The same packing with every array a fresh contiguous copy on ``device``: fresh
        allocations start aligned, which the kernels' vector loads rely on."""
        arrays = {k: v.to(device, copy=True).contiguous() for k, v in self.arrays.items()}
        return Packed(self.family, arrays, self.params, self.shape, self.nnz)


PACKERS: Registry[str, Callable[[torch.Tensor, Any], Packed]] = Registry(
    "CUDA packer", unknown="kernels_cuda has no kernel for pattern {name!r}")
UNPACKERS: Registry[str, Callable[[Packed], torch.Tensor]] = Registry("CUDA kernel family")


def packer(*pattern_names: str) -> Callable:
    """Register the decorated ``pack(weight, pattern) -> Packed`` for these pattern names."""
    return PACKERS.register(*pattern_names)


def unpacker(family: str) -> Callable:
    """Register the decorated ``unpack(packed) -> dense weight`` for a kernel family."""
    return UNPACKERS.register(family)


def supported_patterns() -> list[str]:
    """Pattern names the CUDA kernels can run."""
    return sorted(PACKERS)


def pack(weight: torch.Tensor, pattern: Any) -> Packed:
    """Pack a 4-D masked ``weight`` for the kernel family of ``pattern``."""
    pack_fn = PACKERS[getattr(pattern, "name", None)]  # ValueError naming the supported ones
    if weight.dim() != 4:
        raise ValueError(f"weight must be 4-D (Cout, Cin, Kh, Kw), got shape {tuple(weight.shape)}")
    if weight.dtype not in (torch.float32, torch.float16):
        raise ValueError(f"weight dtype must be float32 or float16, got {weight.dtype}")
    if weight.numel() == 0:
        raise ValueError(f"weight {tuple(weight.shape)} is empty; every dimension must be >= 1")
    if pattern.needs_order:
        raise ValueError(
            f"{pattern.describe()} needs the layer's channel order to pack: pass "
            "pattern.for_layer(mask) (a checkpoint's layer_patterns() are bound already)"
        )
    return pack_fn(weight.detach().contiguous(), pattern)


def unpack(packed: Packed) -> torch.Tensor:
    """The dense ``(Cout, Cin, Kh, Kw)`` weight a packing stands for (zeros where pruned)."""
    return UNPACKERS[packed.family](packed)


def kept_mask(weight: torch.Tensor, pattern: Any) -> torch.Tensor:
    """``pattern.mask(weight)``, after checking the shape and that nothing lies outside it."""
    reason = pattern.check_shape(tuple(weight.shape))
    if reason is not None:
        raise ValueError(reason)
    mask = pattern.mask(weight.float()).to(weight.device)
    stray = int(((weight != 0) & ~mask).sum())
    if stray:
        raise ValueError(
            f"weight has {stray} non-zeros outside its {pattern.describe()} mask; "
            f"pass weight * pattern.mask(weight)"
        )
    return mask


def _reduction_major(t: torch.Tensor) -> torch.Tensor:
    """(Cout, Cin, Kh, Kw) -> (Cout, Kh*Kw, Cin): the reduction order
    (docs/PATTERNS.md §conventions)."""
    cout, cin, kh, kw = t.shape
    return t.permute(0, 2, 3, 1).reshape(cout, kh * kw, cin)


def _from_reduction_major(t: torch.Tensor, shape: tuple[int, int, int, int]) -> torch.Tensor:
    cout, cin, kh, kw = shape
    return t.reshape(cout, kh, kw, cin).permute(0, 3, 1, 2).contiguous()


def _by_count(counts: torch.Tensor) -> torch.Tensor:
    """Row order by decreasing work (stable), so neighbouring rows carry equal work."""
    return torch.sort(counts, descending=True, stable=True).indices.to(torch.int32)


def _row_pointers(counts: torch.Tensor) -> torch.Tensor:
    ptr = torch.zeros(counts.numel() + 1, dtype=torch.int64, device=counts.device)
    ptr[1:] = torch.cumsum(counts, 0)
    return ptr.to(torch.int32)


# ----- dense and filter: the implicit-GEMM kernel ------------------------------------------
def _dense_packing(weight: torch.Tensor, rows: torch.Tensor | None) -> Packed:
    """wt[(tap*Cin + ci), r]; ``rows`` (output channels kept, ascending) or all of them."""
    cout, cin, kh, kw = weight.shape
    kept = weight if rows is None else weight[rows.long()]
    wt = _reduction_major(kept).reshape(kept.shape[0], kh * kw * cin).t().contiguous()
    arrays = {"wt": wt}
    if rows is not None:
        arrays["co_map"] = rows.to(torch.int32)
    return Packed("dense", arrays, {"rows": kept.shape[0]}, (cout, cin, kh, kw), wt.numel())


@packer("dense")
def pack_dense(weight: torch.Tensor, pattern: Any) -> Packed:
    return _dense_packing(weight, None)


@packer("filter")
def pack_filter(weight: torch.Tensor, pattern: Any) -> Packed:
    mask = kept_mask(weight, pattern)
    rows = mask.flatten(1).any(dim=1).nonzero().flatten()
    return _dense_packing(weight, rows)


@unpacker("dense")
def unpack_dense(packed: Packed) -> torch.Tensor:
    cout, cin, kh, kw = packed.shape
    wt = packed.arrays["wt"]
    kept = _from_reduction_major(wt.t(), (wt.shape[1], cin, kh, kw))
    if "co_map" not in packed.arrays:
        return kept
    full = torch.zeros(packed.shape, dtype=wt.dtype, device=wt.device)
    full[packed.arrays["co_map"].long()] = kept
    return full


# ----- unstructured: CSR over (channel, tap) rows ----------------------------------------
@packer("unstructured")
def pack_csr(weight: torch.Tensor, pattern: Any) -> Packed:
    """Rows (perm[r], tap) at r*taps + tap, columns = input channels.

    The support is the weight's non-zeros: any support is a valid unstructured mask, and a
    ``scope=global`` mask cannot be recomputed from one layer.
    """
    cout, cin, kh, kw = weight.shape
    keep = weight != 0
    perm = _by_count(keep.flatten(1).sum(dim=1))
    order = perm.long()
    rows = _reduction_major(keep)[order].reshape(cout * kh * kw, cin)
    vals = _reduction_major(weight)[order].reshape(cout * kh * kw, cin)
    row, col = rows.nonzero(as_tuple=True)
    arrays = {
        "rowptr": _row_pointers(rows.sum(dim=1)),
        "col": col.to(torch.int32),
        "vals": vals[row, col].contiguous(),
        "perm": perm,
    }
    return Packed("csr", arrays, {"rows": cout}, (cout, cin, kh, kw), int(col.numel()))


@unpacker("csr")
def unpack_csr(packed: Packed) -> torch.Tensor:
    cout, cin, kh, kw = packed.shape
    a = packed.arrays
    counts = (a["rowptr"][1:] - a["rowptr"][:-1]).long()
    row = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
    dense = torch.zeros(cout * kh * kw, cin, dtype=a["vals"].dtype, device=a["vals"].device)
    dense[row, a["col"].long()] = a["vals"]
    out = torch.zeros(cout, kh * kw, cin, dtype=dense.dtype, device=dense.device)
    out[a["perm"].long()] = dense.reshape(cout, kh * kw, cin)
    return _from_reduction_major(out, packed.shape)


# ----- N:M: n values + n one-byte indices per group of m input channels ----------------
@packer("nm")
def pack_nm(weight: torch.Tensor, pattern: Any) -> Packed:
    n, m = pattern.params["n"], pattern.params["m"]
    if m > MAX_STAGE_ROWS:
        raise ValueError(f"kernels_cuda runs N:M with m <= {MAX_STAGE_ROWS}, got m={m}")
    cout, cin, kh, kw = weight.shape
    mask = kept_mask(weight, pattern)
    groups = cin // m
    keep = _reduction_major(mask).reshape(cout, kh * kw, groups, m)
    # Kept positions first, in ascending channel order (a stable sort of "not kept").
    idx = torch.sort((~keep).to(torch.uint8), dim=-1, stable=True).indices[..., :n]
    vals = _reduction_major(weight).reshape(cout, kh * kw, groups, m).gather(-1, idx)
    arrays = {"vals": vals.contiguous(), "idx": idx.to(torch.uint8).contiguous()}
    params = {"n": n, "m": m, "rows": cout}
    return Packed("nm", arrays, params, (cout, cin, kh, kw), vals.numel())


@unpacker("nm")
def unpack_nm(packed: Packed) -> torch.Tensor:
    cout, cin, kh, kw = packed.shape
    m = packed.params["m"]
    vals, idx = packed.arrays["vals"], packed.arrays["idx"].long()
    out = torch.zeros(cout, kh * kw, cin // m, m, dtype=vals.dtype, device=vals.device)
    out.scatter_(-1, idx, vals)
    return _from_reduction_major(out, packed.shape)


# ----- CS: d values + d one-byte segment ids per chunk of k*d input channels ------------
@packer("cs")
def pack_cs(weight: torch.Tensor, pattern: Any) -> Packed:
    cout, cin, kh, kw = weight.shape
    k = pattern.params["k"]
    if k > MAX_STAGE_ROWS:
        raise ValueError(f"kernels_cuda runs CS with k <= {MAX_STAGE_ROWS}, got k={k}")
    mask = kept_mask(weight, pattern)
    d = pattern.distance(cin)
    chunks = cin // (k * d)
    keep = _reduction_major(mask).reshape(cout, kh * kw, chunks, k, d)
    seg = keep.to(torch.uint8).argmax(dim=-2)  # the one kept segment t of offset j
    w = _reduction_major(weight).reshape(cout, kh * kw, chunks, k, d)
    vals = w.gather(-2, seg.unsqueeze(-2).long()).squeeze(-2)
    arrays = {"vals": vals.contiguous(), "seg": seg.contiguous()}
    params = {"k": k, "d": d, "rows": cout}
    return Packed("cs", arrays, params, (cout, cin, kh, kw), vals.numel())


@unpacker("cs")
def unpack_cs(packed: Packed) -> torch.Tensor:
    cout, cin, kh, kw = packed.shape
    k, d = packed.params["k"], packed.params["d"]
    vals, seg = packed.arrays["vals"], packed.arrays["seg"].long()
    out = torch.zeros(cout, kh * kw, cin // (k * d), k, d, dtype=vals.dtype, device=vals.device)
    out.scatter_(-2, seg.unsqueeze(-2), vals.unsqueeze(-2))
    return _from_reduction_major(out, packed.shape)


# ----- 1×N blocks: BSR with nb-row blocks ----------------------------------------------
@packer("block")
def pack_bsr(weight: torch.Tensor, pattern: Any) -> Packed:
    """Block-rows of nb channels (nb = largest compiled height dividing n), BSR values
    ``[row][tap][kept block][nb]``; a 1×n block is n/nb kernel rows with the same columns.
    With a bound channel order (``rearrange``) the rows are the permuted channels and
    ``chan[row * nb + o]`` is the output channel the kernel stores row o of block-row row to."""
    cout, cin, kh, kw = weight.shape
    mask = kept_mask(weight, pattern)
    order = pattern.order
    if order is not None:
        order = order.to(weight.device)
        weight, mask = weight[order], mask[order]
    nb = next(b for b in BSR_WIDTHS if pattern.params["n"] % b == 0)
    nrows, taps = cout // nb, kh * kw
    # A (row, ci) block is kept when the pattern's n-row block holding it is kept.
    n = pattern.params["n"]
    kept = mask.reshape(cout // n, n, cin, taps).any(dim=3).any(dim=1)
    kept = kept.repeat_interleave(n // nb, dim=0)  # (nrows, Cin)
    counts = kept.sum(dim=1)
    w = weight.reshape(nrows, nb, cin, taps).permute(0, 3, 2, 1)  # (row, tap, ci, o)
    vals = w[kept.unsqueeze(1).expand(nrows, taps, cin)]          # (row, tap, b) order
    arrays = {
        "rowptr": _row_pointers(counts),
        "col": kept.nonzero(as_tuple=True)[1].to(torch.int32),
        "vals": vals.reshape(-1).contiguous(),
        "perm": _by_count(counts),
    }
    if order is not None:
        arrays["chan"] = order.to(torch.int32)
    params = {"nb": nb, "nrows": nrows, "rows": cout}
    return Packed("bsr", arrays, params, (cout, cin, kh, kw), int(counts.sum()) * taps * nb)


@unpacker("bsr")
def unpack_bsr(packed: Packed) -> torch.Tensor:
    cout, cin, kh, kw = packed.shape
    nb, nrows, taps = packed.params["nb"], packed.params["nrows"], kh * kw
    a = packed.arrays
    kept = torch.zeros(nrows, cin, dtype=torch.bool, device=a["vals"].device)
    counts = (a["rowptr"][1:] - a["rowptr"][:-1]).long()
    row = torch.repeat_interleave(torch.arange(nrows, device=kept.device), counts)
    kept[row, a["col"].long()] = True
    w = torch.zeros(nrows, taps, cin, nb, dtype=a["vals"].dtype, device=kept.device)
    w[kept.unsqueeze(1).expand(nrows, taps, cin)] = a["vals"].reshape(-1, nb)
    rows = w.permute(0, 3, 2, 1).reshape(cout, cin, kh, kw)
    if "chan" not in a:
        return rows.contiguous()
    out = torch.empty_like(rows)
    out[a["chan"].long()] = rows
    return out
