"""kernels_c vs torch.nn.functional.conv2d over generated shapes, every pattern x every ISA.

For each pattern, ``SHAPES`` random but seeded convolutions (1x1 .. 7x7, stride 1 and 2,
spatial sizes <= 12 and, every 7th, up to 39 (several full pixel tiles), batch 1 and 4,
channel counts at the edges of the pattern's constraints and, every 5th, reductions of
several ELL16 blocks, with and without bias, threads 1 and 2, and the fused output epilogue
act(conv + residual) in every combination of residual / none x none / relu / relu6) run on
every ISA this CPU has, with the automatic staging and (every 6th) each forced one; the max
relative error max|y - ref| / max|ref| must stay below 1e-4.
``SPARSEBENCH_KC_SHAPES`` lowers the count (the sanitizer run uses it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kernels_c
import patterns
from kernels_c.api import PreparedConv
from kernels_c.packers import pack

SHAPES = int(os.environ.get("SPARSEBENCH_KC_SHAPES", "300"))
TOL = 1e-4


@dataclass
class Case:
    pattern: dict[str, Any]
    cout: int
    cin: int
    k: int
    stride: int
    padding: int
    batch: int
    h: int
    w: int
    bias: bool
    threads: int
    layouts: bool  # also every forced staging layout
    residual: bool = False  # the fused epilogue: act(conv + residual)
    act: str = "none"


def _params(name: str, rng: np.random.Generator) -> tuple[dict[str, Any], int, int]:
    """Pattern params plus the channel quanta (cin multiple, cout multiple) they impose."""
    if name == "nm":
        n, m = [(1, 2), (1, 4), (2, 4), (2, 8), (4, 8), (1, 16)][rng.integers(6)]
        return {"n": n, "m": m}, m, 1
    if name == "cs":
        k = int(rng.choice([2, 4, 8]))
        d = [None, 1, 2, 3, 5][rng.integers(5)]
        return {"k": k, "d": d}, k * (d or int(rng.integers(1, 4))), 1
    if name == "block":
        n = int(rng.choice([1, 2, 4, 6, 7, 8, 16]))
        balance = str(rng.choice(["uniform", "global"]))
        return {"n": n, "sparsity": float(rng.choice([0.5, 0.75, 0.9])), "balance": balance}, 1, n
    if name in ("unstructured", "filter"):
        return {"sparsity": float(rng.choice([0.0, 0.5, 0.9, 0.97]))}, 1, 1
    return {}, 1, 1


def cases(name: str, count: int, seed: int = 0) -> list[Case]:
    """``count`` seeded convolution cases valid for pattern ``name``."""
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    out = []
    for i in range(count):
        params, cin_q, cout_q = _params(name, rng)
        if name == "cs" and params["d"] is None:
            # d defaults to Cin/k: Cin = k*d for a chosen d, i.e. one chunk
            cin = cin_q
        elif i % 5 == 2:  # a reduction of several ELL16 blocks (64 rows) with a partial last
            cin = cin_q * int(rng.integers(max(1, 65 // cin_q), max(2, 200 // cin_q)))
        else:
            cin = cin_q * int(rng.choice([1, 1, 2, 3]) if i % 3 else 1)  # edge: minimum
        cout = cout_q * int(rng.integers(1, 4) if cout_q > 4 else rng.integers(1, 14))
        k, stride = [(1, 1), (1, 2), (3, 1), (3, 2), (5, 1), (7, 2), (7, 1), (2, 1)][i % 8]
        padding = int(rng.integers(0, k // 2 + 1))
        lo = max(1, k - 2 * padding)
        # every 7th: maps past one 128-pixel AVX-512 tile (full tiles plus a tail)
        h, w = (int(v) for v in rng.integers(lo, 40 if i % 7 == 3 else 13, size=2))
        out.append(Case(params, cout, cin, k, stride, padding, int(rng.choice([1, 4])),
                        h, w, bool(rng.integers(2)), 2 if i % 4 == 1 else 1, i % 6 == 5,
                        i % 3 != 1, ("none", "relu", "relu6")[i // 3 % 3]))
    return out


_ACTS = {"none": lambda t: t, "relu": torch.relu, "relu6": lambda t: t.clamp(0.0, 6.0)}


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    """max|y - ref| / max(max|ref|, tiny)."""
    return float((y - ref).abs().max() / max(float(ref.abs().max()), 1e-30))


def run_case(name: str, case: Case, gen: torch.Generator) -> list[str]:
    """Failures (one line each) of ``case`` on every available ISA."""
    pattern = patterns.make(name, **case.pattern)
    weight = torch.randn(case.cout, case.cin, case.k, case.k, generator=gen)
    mask = pattern.mask(weight)
    weight, pattern = weight * mask, pattern.for_layer(mask)  # bound to its channel order
    bias = torch.randn(case.cout, generator=gen) if case.bias else None
    x = torch.randn(case.batch, case.cin, case.h, case.w, generator=gen)
    ref = F.conv2d(x, weight, bias, case.stride, case.padding)
    residual = torch.randn(ref.shape, generator=gen) if case.residual else None
    ref = _ACTS[case.act](ref if residual is None else ref + residual)
    packed = pack(weight, pattern)
    failures = []
    layouts = ["auto"]
    if case.layouts:
        direct = case.k == 1 and case.stride == 1 and case.padding == 0
        layouts += ["shifted", "im2col", "columns"] + (["direct"] if direct else [])
    for isa in kernels_c.available_isas():
        conv = PreparedConv(packed, pattern, (case.stride,) * 2, (case.padding,) * 2, bias, isa)
        for layout in layouts:
            y = conv(x, threads=case.threads, layout=layout, residual=residual, act=case.act)
            err = rel_err(y, ref) if y.shape == ref.shape else float("inf")
            if not err < TOL:
                failures.append(f"{isa} {conv.kernel_function} {layout} {case}: rel err {err:.3g}")
    return failures


@pytest.mark.parametrize("name", ["dense", "unstructured", "nm", "block", "cs", "filter"])
def test_matches_torch_on_generated_shapes(name: str) -> None:
    gen = torch.Generator().manual_seed(1234)
    failures = [f for case in cases(name, SHAPES) for f in run_case(name, case, gen)]
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


@pytest.mark.parametrize("name, params", [
    ("dense", {}), ("block", {"n": 16, "sparsity": 0.75}), ("block", {"n": 6, "sparsity": 0.9,
                                                                     "balance": "global"}),
    ("filter", {"sparsity": 0.5}), ("unstructured", {"sparsity": 0.9}), ("cs", {"k": 4})])
def test_pixel_split_matches_torch(name: str, params: dict[str, Any]) -> None:
    """1x1 layers on maps of at least 3 pixel units per thread (splits_pixels): every
    thread takes a run of whole tiles, the last one the tail too."""
    gen = torch.Generator().manual_seed(99)
    shapes = [(64, 48, 30, 31, 2, 2), (32, 96, 56, 56, 1, 2), (16, 48, 40, 41, 1, 3)]
    failures = []
    for cin, cout, h, w, batch, threads in shapes:
        case = Case(params, cout, cin, 1, 1, 0, batch, h, w, True, threads, False, True, "relu")
        failures += run_case(name, case, gen)
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


@pytest.mark.parametrize("name, params", [
    ("unstructured", {"sparsity": 0.75}), ("nm", {"n": 1, "m": 4}), ("cs", {"k": 4, "d": 8}),
    ("nm", {"n": 1, "m": 16})])
def test_half_tile_matches_torch(name: str, params: dict[str, Any]) -> None:
    """ELL16 blocks of 128 rows, whose activation tile takes the half pixel tile
    (src/ell16_spmm.h): several blocks with a partial last one, full half tiles and tails of
    1-63 pixels, one and two threads."""
    gen = torch.Generator().manual_seed(5)
    failures = []
    for cin, h, w, threads in ((288, 9, 15, 1), (320, 13, 13, 2), (160, 7, 7, 1), (96, 4, 16, 2),
                               (288, 1, 1, 1)):
        case = Case(params, 20, cin, 1, 1, 0, 1, h, w, True, threads, False, True, "relu")
        weight, pattern = torch.randn(4, cin, 1, 1), patterns.make(name, **params)
        assert pack(weight * pattern.mask(weight), pattern).scalars["kb"] == 128
        failures += run_case(name, case, gen)
    case = Case(params, 12, 32, 3, 1, 1, 2, 10, 19, False, 2, True, False)  # 3x3: 288 rows
    failures += run_case(name, case, gen)
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


@pytest.mark.parametrize("name, params", [
    ("dense", {}), ("block", {"n": 2, "sparsity": 0.25}), ("filter", {"sparsity": 0.1})])
def test_copied_1x1_panel_matches_torch(name: str, params: dict[str, Any]) -> None:
    """1x1 panel layers whose rows are reused enough to copy each pixel tile's rows of every
    input channel into the thread's scratch (panel_reuses; kernels.h: part, cin x
    SB_PANEL_ROW floats): up to 2048 channels, two threads' scratches under a row and under
    a pixel split (28x28), several images, a tail tile."""
    gen = torch.Generator().manual_seed(7)
    failures = []
    for cin, threads, batch, h, w in ((300, 1, 1, 20, 21), (520, 2, 1, 20, 21),
                                      (2048, 2, 2, 14, 14), (1024, 2, 1, 28, 28)):
        case = Case(params, 96, cin, 1, 1, 0, batch, h, w, True, threads, False, True, "relu6")
        failures += run_case(name, case, gen)
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


@pytest.mark.parametrize("name, params", [
    ("dense", {}), ("block", {"n": 4, "sparsity": 0.5}), ("filter", {"sparsity": 0.25}),
    ("cs", {"k": 4}), ("nm", {"n": 2, "m": 8}), ("unstructured", {"sparsity": 0.9})])
def test_half_width_tail_vectors_match_torch(name: str, params: dict[str, Any]) -> None:
    """Tails whose last vector holds at most half its lanes run as 256-bit loads and FMAs
    on AVX-512 (vec.h: SB_HALF_TAIL): 1 to 8 pixels past the last full vector (7x7: 1,
    14x14: 4, 4x6: 8), one vector alone (3x2), a 9-pixel last vector (5x5, full width),
    tails after whole tiles, the fused epilogue, two threads, several images."""
    gen = torch.Generator().manual_seed(5)
    shapes = [(1, 0, 7, 7, 1), (1, 0, 14, 14, 2), (1, 0, 4, 6, 1), (1, 0, 3, 2, 1),
              (1, 0, 5, 5, 1), (1, 0, 17, 9, 2), (3, 1, 7, 7, 1), (3, 1, 14, 14, 1),
              (3, 1, 12, 11, 2), (1, 0, 13, 21, 1)]
    failures = [f for k, pad, h, w, batch in shapes
                for threads in (1, 2)
                for f in run_case(name, Case(params, 20, 64, k, 1, pad, batch, h, w, True,
                                             threads, False, True, "relu6"), gen)]
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


@pytest.mark.parametrize("name, params", [
    ("dense", {}), ("block", {"n": 4, "sparsity": 0.5}), ("filter", {"sparsity": 0.25})])
def test_one_pixel_tails_and_49_pixel_tiles_match_torch(name: str, params: dict[str, Any]
                                                         ) -> None:
    """Panel tiles whose last vector would hold one pixel run it with the rows along the
    lanes on AVX-512 (vec.h: SB_PX_TAIL): 17, 33 and 49 pixels (1x17, 3x11, 7x7), a full
    tile and 17 more (9x9), and maps cut into tiles of 3 vectors and a pixel (14x14: 4 x 49,
    7x14: 2 x 49); 1x1 with and without the copied tile (64 and 20 output rows, 20 = 3 x 6
    + 2), 3x3, the fused epilogue, two threads, several images."""
    gen = torch.Generator().manual_seed(6)
    maps = [(1, 17), (3, 11), (7, 7), (9, 9), (14, 14), (7, 14), (5, 5)]
    failures = [f for h, w in maps for k, pad in ((1, 0), (3, 1)) for cout in (64, 20)
                for threads, batch in ((1, 1), (2, 2))
                for f in run_case(name, Case(params, cout, 32, k, 1, pad, batch, h, w, True,
                                             threads, False, True, "relu6"), gen)]
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


def test_rearranged_block_matches_torch_on_generated_shapes() -> None:
    """block(rearrange=true): permuted block-rows, each row stored to its own channel."""
    gen = torch.Generator().manual_seed(4321)
    moved = [replace(case, pattern={**case.pattern, "rearrange": True})
             for case in cases("block", SHAPES, seed=17)]
    failures = [f for case in moved for f in run_case("block", case, gen)]
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


def test_prepare_path_matches_one_shot_conv2d() -> None:
    pattern = patterns.make("cs", k=4)
    weight = torch.randn(8, 16, 3, 3)
    weight = weight * pattern.mask(weight)
    x = torch.randn(1, 16, 7, 7)
    conv = kernels_c.prepare(weight, pattern=pattern, padding=1)
    torch.testing.assert_close(conv(x, threads=2), kernels_c.conv2d(x, weight, pattern=pattern,
                                                                    padding=1))
    assert conv.nnz == int(pattern.mask(weight).sum())
    assert conv.kernel == f"cs-{conv.isa}"


@pytest.mark.parametrize("layout", ["shifted", "im2col", "columns"])
def test_forced_layouts_agree(layout: str) -> None:
    pattern = patterns.make("unstructured", sparsity=0.5)
    weight = torch.randn(5, 6, 3, 3)
    weight = weight * pattern.mask(weight)
    x = torch.randn(2, 6, 9, 11)
    conv = kernels_c.prepare(weight, pattern=pattern, padding=1)
    assert rel_err(conv(x, layout=layout), F.conv2d(x, weight, None, 1, 1)) < TOL


@pytest.mark.parametrize("name", ["dense", "cs", "unstructured"])
def test_strides_above_two_match_torch(name: str) -> None:
    """Strides 3 and 4 (the staging's general strided copy; the generated shapes stop at 2)
    on every forced layout, maps wide enough for several copied columns."""
    gen = torch.Generator().manual_seed(99)
    params = {"cs": {"k": 4, "d": 2}, "unstructured": {"sparsity": 0.5}}.get(name, {})
    shapes = [(3, 3, 1, 23, 17), (5, 4, 2, 30, 29), (7, 3, 3, 19, 40), (1, 4, 0, 21, 22)]
    failures = [f for k, stride, pad, h, w in shapes
                for f in run_case(name, Case(params, 6, 8, k, stride, pad, 2, h, w, True,
                                             1 + stride % 2, True, True, "relu"), gen)]
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


@pytest.mark.parametrize("name, params", [
    ("dense", {}), ("cs", {"k": 4}), ("unstructured", {"sparsity": 0.9}),
    ("block", {"n": 4, "sparsity": 0.5}), ("filter", {"sparsity": 0.5})])
def test_planes_as_wide_as_the_output_skip_compaction(name: str, params: dict[str, Any]) -> None:
    """Strided 1x1 convs (and every layout whose plane rows are Wout wide): the kernel
    writes the output itself with the epilogue, no compaction pass; several images on two
    threads (the barrier before the next image's staging), a tail tile."""
    gen = torch.Generator().manual_seed(3)
    shapes = [(1, 2, 0, 3, 45, 64, 2), (1, 3, 0, 2, 31, 47, 1), (1, 2, 0, 1, 14, 14, 2)]
    failures = [f for k, stride, pad, batch, h, w, threads in shapes
                for f in run_case(name, Case(params, 24, 32, k, stride, pad, batch, h, w, True,
                                             threads, True, True, "relu6"), gen)]
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"


@pytest.mark.parametrize("name, params", [
    ("cs", {"k": 4}), ("nm", {"n": 1, "m": 16}), ("unstructured", {"sparsity": 0.9})])
def test_ell16_pixel_split_on_small_maps_matches_torch(name: str, params: dict[str, Any]) -> None:
    """ELL16 layers on two threads split pixels in 16-pixel units from 64 pixels a thread,
    partial sums in each thread's own scratch (kernels.h: part), so rows that do not start
    on a cache line (a 14x14 1x1 layer's 196 pixels) split too: uneven halves, tails,
    several images; a 7x7 map keeps the row split."""
    gen = torch.Generator().manual_seed(11)
    shapes = [(3, 1, 14, 14, 2), (3, 1, 10, 13, 1), (3, 2, 21, 17, 2), (1, 0, 12, 12, 2),
              (1, 0, 8, 16, 1), (1, 0, 14, 14, 2), (1, 0, 7, 7, 2)]
    failures = [f for k, pad, h, w, batch in shapes
                for f in run_case(name, Case(params, 20, 64, k, 1, pad, batch, h, w, True, 2,
                                             False, True, "relu"), gen)]
    assert not failures, f"{len(failures)} failures, first: {failures[:3]}"
