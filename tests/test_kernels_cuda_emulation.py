"""CPU emulation of the CUDA kernels' index arithmetic, checked against F.conv2d.

No GPU here, so each kernel's loops are transcribed into torch (vectorised over a thread
block's pixels): the same tiles, staging (channel_of), shared-row indices, pointer walks,
block-row permutations and output offsets as the .cu files, reading the packed arrays as
flat memory the way the GPU does.  Shared memory starts as NaN and keeps stale rows
between stages, as on the GPU, so a read of a row that was not staged shows up as NaN.
Also checks that unpack(pack(w)) gives back the masked weight.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import patterns
from kernels_cuda import launch, packing

SP_TP, SP_TCO, SP_ROWS = launch.STAGED_PIXELS, launch.STAGED_CHANNELS, 32
DN_TP, DN_TR, DN_K = launch.DENSE_PIXELS, launch.DENSE_ROWS, 8


class Geo:
    """sb::Conv, PixelSrc and out_offset of common.cuh over a vector of pixels."""

    def __init__(self, x: torch.Tensor, shape: tuple, stride: int, pad: int) -> None:
        self.N, self.Cin, self.H, self.W = x.shape
        self.Cout, _, self.Kh, self.Kw = shape
        self.s, self.p = stride, pad
        self.Ho = (self.H + 2 * pad - self.Kh) // stride + 1
        self.Wo = (self.W + 2 * pad - self.Kw) // stride + 1
        self.P, self.HW, self.taps = self.N * self.Ho * self.Wo, self.H * self.W, self.Kh * self.Kw

    def tap_offsets(self, pix: torch.Tensor):
        live = pix < self.P
        q = torch.where(live, pix, 0)
        plane = self.Ho * self.Wo
        n = q // plane
        hw = q - n * plane
        oh, ow = hw // self.Wo, hw % self.Wo
        base = n * self.Cin * self.HW
        ih0, iw0 = oh * self.s - self.p, ow * self.s - self.p

        def at(kh: int, kw: int) -> torch.Tensor:
            ih, iw = ih0 + kh, iw0 + kw
            inside = live & (ih >= 0) & (ih < self.H) & (iw >= 0) & (iw < self.W)
            return torch.where(inside, base + ih * self.W + iw, -1)

        return live, at

    def load(self, xf: torch.Tensor, off: torch.Tensor, ch: int) -> torch.Tensor:
        return torch.where(off >= 0, xf[(off + ch * self.HW).clamp(min=0)], 0.0)

    def store(self, yf: torch.Tensor, pix: torch.Tensor, live: torch.Tensor, co: int,
              values: torch.Tensor, bias: torch.Tensor | None) -> None:
        plane = self.Ho * self.Wo
        p = pix[live]
        n = p // plane
        yf[(n * self.Cout + co) * plane + (p - n * plane)] = values[live] + (
            0.0 if bias is None else bias[co])


def _stage(geo, xf, xs, off, rows, channel_of):
    for r in range(rows):
        ch = channel_of(r)
        xs[r] = geo.load(xf, off, ch) if ch >= 0 else 0.0


def _staged(geo, xf, yf, bias, rows, co_of, run_tap):
    """The grid of a staged kernel; run_tap(tap, off, xs, acc, r_base) does one tap."""
    for bx in range(math.ceil(geo.P / SP_TP)):
        pix = bx * SP_TP + torch.arange(SP_TP)
        live, tap_offset = geo.tap_offsets(pix)
        for by in range(math.ceil(rows / SP_TCO)):
            xs = torch.full((SP_ROWS, SP_TP), float("nan"), dtype=torch.float64)
            acc = torch.zeros(SP_TCO, SP_TP, dtype=torch.float64)
            for tap in range(geo.taps):
                run_tap(tap, tap_offset(tap // geo.Kw, tap % geo.Kw), xs, acc, by * SP_TCO)
            for slot in range(SP_TCO):
                r = by * SP_TCO + slot
                if r < rows:
                    geo.store(yf, pix, live, co_of(r), acc[slot], bias)


def emulate_cs(geo, xf, yf, bias, p):
    k, d = p.params["k"], p.params["d"]
    vals, seg = p.arrays["vals"].reshape(-1).double(), p.arrays["seg"].reshape(-1).long()
    chunks, dj = geo.Cin // (k * d), min(SP_ROWS // k, d)

    def run_tap(tap, off, xs, acc, co0):
        for q in range(chunks):
            cbase = q * k * d
            for j0 in range(0, d, dj):
                dje = min(dj, d - j0)
                _stage(geo, xf, xs, off, k * dj,
                       lambda r, dje=dje, j0=j0, cbase=cbase: (
                           cbase + j0 + r % dj + (r // dj) * d if r % dj < dje else -1))
                for slot in range(SP_TCO):
                    co = co0 + slot
                    if co < geo.Cout:
                        e0 = ((co * geo.taps + tap) * chunks + q) * d + j0
                        e = torch.arange(e0, e0 + dje)
                        rows = seg[e] * dj + torch.arange(dje)
                        acc[slot] += (vals[e, None] * xs[rows]).sum(0)

    _staged(geo, xf, yf, bias, geo.Cout, lambda r: r, run_tap)


def emulate_nm(geo, xf, yf, bias, p):
    n, m = p.params["n"], p.params["m"]
    vals, idx = p.arrays["vals"].reshape(-1).double(), p.arrays["idx"].reshape(-1).long()
    groups, per_stage = geo.Cin // m, SP_ROWS // m

    def run_tap(tap, off, xs, acc, co0):
        for g0 in range(0, groups, per_stage):
            ge = min(per_stage, groups - g0)
            _stage(geo, xf, xs, off, ge * m, lambda r, g0=g0: g0 * m + r)
            for slot in range(SP_TCO):
                co = co0 + slot
                if co < geo.Cout:
                    e0 = ((co * geo.taps + tap) * groups + g0) * n
                    e = torch.arange(e0, e0 + ge * n)
                    rows = (torch.arange(ge * n) // n) * m + idx[e]
                    acc[slot] += (vals[e, None] * xs[rows]).sum(0)

    _staged(geo, xf, yf, bias, geo.Cout, lambda r: r, run_tap)


def emulate_csr(geo, xf, yf, bias, p):
    a, rows = p.arrays, p.params["rows"]
    rowptr, col = a["rowptr"].tolist(), a["col"].tolist()
    vals, perm = a["vals"].double(), a["perm"].tolist()

    def run_tap(tap, off, xs, acc, r0):
        live = [r0 + s < rows for s in range(SP_TCO)]
        ptr = [rowptr[(r0 + s) * geo.taps + tap] if live[s] else 0 for s in range(SP_TCO)]
        end = [rowptr[(r0 + s) * geo.taps + tap + 1] if live[s] else 0 for s in range(SP_TCO)]
        for c0 in range(0, geo.Cin, SP_ROWS):
            c1 = min(c0 + SP_ROWS, geo.Cin)
            _stage(geo, xf, xs, off, c1 - c0, lambda r, c0=c0: c0 + r)
            for s in range(SP_TCO):
                e = ptr[s]
                while e < end[s] and col[e] < c1:
                    acc[s] += vals[e] * xs[col[e] - c0]
                    e += 1
                ptr[s] = e

    _staged(geo, xf, yf, bias, rows, lambda r: perm[r], run_tap)


def emulate_bsr(geo, xf, yf, bias, p):
    a, nb, nrows = p.arrays, p.params["nb"], p.params["nrows"]
    rowptr, col, perm = a["rowptr"].tolist(), a["col"].tolist(), a["perm"].tolist()
    chan = a["chan"].tolist() if "chan" in a else list(range(nrows * nb))
    vals = a["vals"].double()
    tile = 32 * launch.BSR_PIXELS_PER_LANE[nb]
    for bx in range(math.ceil(geo.P / tile)):
        pix = bx * tile + torch.arange(tile)  # lane + 32*i covers the same set
        live, tap_offset = geo.tap_offsets(pix)
        for slot in range(nrows):
            r = perm[slot]
            b0, count = rowptr[r], rowptr[r + 1] - rowptr[r]
            acc = torch.zeros(nb, tile, dtype=torch.float64)
            for tap in range(geo.taps):
                off = tap_offset(tap // geo.Kw, tap % geo.Kw)
                wtap = b0 * geo.taps * nb + tap * count * nb
                for b in range(count):
                    xv = geo.load(xf, off, col[b0 + b])
                    acc += vals[wtap + b * nb: wtap + (b + 1) * nb, None] * xv
            for o in range(nb):
                geo.store(yf, pix, live, chan[r * nb + o], acc[o], bias)


def emulate_dense(geo, xf, yf, bias, p):
    rows, K = p.params["rows"], geo.taps * geo.Cin
    wt = p.arrays["wt"].reshape(-1).double()
    co_map = p.arrays["co_map"].tolist() if "co_map" in p.arrays else list(range(rows))
    for bx in range(math.ceil(geo.P / DN_TP)):
        pix = bx * DN_TP + torch.arange(DN_TP)
        live, tap_offset = geo.tap_offsets(pix)
        for by in range(math.ceil(rows / DN_TR)):
            r0 = by * DN_TR
            cols = r0 + torch.arange(DN_TR)
            acc = torch.zeros(DN_TR, DN_TP, dtype=torch.float64)
            for k0 in range(0, K, DN_K):
                xs = torch.zeros(DN_K, DN_TP, dtype=torch.float64)
                ws = torch.zeros(DN_K, DN_TR, dtype=torch.float64)
                for kr in range(DN_K):
                    k = k0 + kr
                    if k < K:
                        tap, ci = divmod(k, geo.Cin)
                        xs[kr] = geo.load(xf, tap_offset(tap // geo.Kw, tap % geo.Kw), ci)
                        at = (k * rows + cols).clamp(max=wt.numel() - 1)
                        ws[kr] = torch.where(cols < rows, wt[at], 0.0)
                acc += ws.t() @ xs
            for rl in range(DN_TR):
                if r0 + rl < rows:
                    geo.store(yf, pix, live, co_map[r0 + rl], acc[rl], bias)


EMULATORS = {"cs": emulate_cs, "nm": emulate_nm, "csr": emulate_csr, "bsr": emulate_bsr,
             "dense": emulate_dense}


def emulate(packed: packing.Packed, x: torch.Tensor, stride: int, pad: int,
            bias: torch.Tensor | None) -> torch.Tensor:
    geo = Geo(x, packed.shape, stride, pad)
    yf = torch.full((geo.N * geo.Cout * geo.Ho * geo.Wo,), float("nan"), dtype=torch.float64)
    if packed.params["rows"] < geo.Cout:  # CudaConv pre-fills channels the kernel skips
        yf = torch.zeros_like(yf).view(geo.N, geo.Cout, -1).add_(
            0.0 if bias is None else bias.double().view(1, -1, 1)).reshape(-1)
    EMULATORS[packed.family](geo, x.double().reshape(-1), yf, bias, packed)
    return yf.view(geo.N, geo.Cout, geo.Ho, geo.Wo)


# (pattern, params, (Cout, Cin, Kh, Kw), (N, H, W), stride, padding)
CASES = [
    ("cs", {"k": 4}, (70, 16, 3, 3), (2, 9, 7), 1, 1),
    ("cs", {"k": 2, "d": 4}, (8, 24, 1, 1), (1, 13, 11), 2, 0),
    ("cs", {"k": 8, "d": 8}, (5, 128, 3, 3), (1, 5, 5), 1, 1),     # dj=4: two stages per chunk
    ("cs", {"k": 16, "d": 3}, (3, 96, 1, 3), (1, 4, 9), 1, 0),     # dj=2, d odd: partial stage
    ("nm", {"n": 2, "m": 4}, (66, 40, 3, 3), (2, 8, 8), 2, 1),     # 10 groups: stages of 8 + 2
    ("nm", {"n": 1, "m": 8}, (4, 16, 5, 5), (1, 9, 9), 1, 2),
    ("nm", {"n": 3, "m": 6}, (9, 12, 1, 1), (3, 6, 7), 1, 0),      # 32 // 6 = 5 groups
    ("unstructured", {"sparsity": 0.8}, (67, 40, 3, 3), (1, 7, 9), 1, 1),
    ("unstructured", {"sparsity": 0.5}, (5, 3, 2, 2), (2, 5, 5), 2, 1),
    ("block", {"n": 4, "sparsity": 0.5}, (12, 10, 3, 3), (2, 7, 6), 1, 1),
    ("block", {"n": 16, "sparsity": 0.75, "balance": "global"}, (32, 12, 3, 3), (1, 8, 8), 2, 1),
    ("block", {"n": 32, "sparsity": 0.5}, (32, 6, 1, 1), (1, 9, 9), 1, 0),
    ("block", {"n": 12, "sparsity": 0.6}, (24, 10, 3, 1), (1, 6, 5), 1, 1),  # 1x12 -> 3 x nb=4
    ("block", {"n": 4, "sparsity": 0.75, "rearrange": True}, (16, 10, 3, 3), (2, 7, 6), 1, 1),
    ("block", {"n": 12, "sparsity": 0.6, "rearrange": True, "balance": "global"},
     (24, 10, 3, 1), (1, 6, 5), 2, 1),                             # permuted rows, nb=4 < n
    ("dense", {}, (130, 9, 3, 3), (1, 12, 11), 1, 1),              # 2 row tiles, K % 8 != 0
    ("dense", {}, (3, 2, 1, 1), (2, 3, 3), 1, 0),
    ("filter", {"sparsity": 0.5}, (10, 6, 3, 3), (1, 6, 6), 2, 1),
    ("filter", {"sparsity": 0.5}, (1, 4, 3, 3), (1, 4, 4), 1, 1),   # no channel kept
]


def _masked(pattern, shape, seed: int) -> tuple[torch.Tensor, patterns.Pattern]:
    """A masked random weight and the pattern bound to its layer (its channel order)."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=gen)
    mask = pattern.mask(w)
    return w * mask, pattern.for_layer(mask)


@pytest.mark.parametrize(("name", "params", "wshape", "xshape", "stride", "pad"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_emulated_kernel_matches_conv2d(name, params, wshape, xshape, stride, pad):
    w, p = _masked(patterns.make(name, **params), wshape, seed=len(CASES) + sum(wshape))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(xshape[0], wshape[1], *xshape[1:], generator=gen)
    bias = torch.randn(wshape[0], generator=gen)
    packed = packing.pack(w, p)
    got = emulate(packed, x, stride, pad, bias)
    want = F.conv2d(x.double(), w.double(), bias.double(), stride, pad)
    assert not torch.isnan(got).any(), "a kernel read an unstaged shared row or skipped an output"
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("name", "params", "wshape"), [(c[0], c[1], c[2]) for c in CASES],
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_unpack_gives_back_the_masked_weight(name, params, wshape, dtype):
    w, p = _masked(patterns.make(name, **params), wshape, seed=7)
    w = w.to(dtype)
    packed = packing.pack(w, p)
    assert all(t.is_contiguous() for t in packed.arrays.values())
    assert packed.arrays.get("vals", packed.arrays.get("wt")).dtype == dtype
    assert torch.equal(packing.unpack(packed), w)
    kept = int(p.mask(w.float()).sum()) if name != "unstructured" else int((w != 0).sum())
    assert packed.nnz == kept


def test_balanced_patterns_store_the_nominal_count():
    w = torch.randn(16, 32, 3, 3)
    for p in (patterns.make("nm", n=2, m=8), patterns.make("cs", k=4, d=2),
              patterns.make("block", n=4, sparsity=0.75)):
        packed = packing.pack(w * p.mask(w), p)
        assert packed.nnz == round(w.numel() * p.nominal_density)


def test_block_rows_are_ordered_by_work():
    p = patterns.make("block", n=2, sparsity=0.7, balance="global")
    packed = packing.pack(_masked(p, (16, 20, 3, 3), seed=3)[0], p)
    counts = packed.arrays["rowptr"].diff()[packed.arrays["perm"].long()]
    assert torch.all(counts[:-1] >= counts[1:])
