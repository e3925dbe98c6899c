"""kernels_c API, build cache and bad input: clear ValueErrors, never a crash."""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kernels_c
import patterns
from kernels_c import _build


def _masked(name: str, shape: tuple[int, ...], **params: object) -> tuple[object, torch.Tensor]:
    pattern = patterns.make(name, **params)
    weight = torch.randn(*shape)
    return pattern, weight * pattern.mask(weight)


def test_available_isas_and_build_info() -> None:
    isas = kernels_c.available_isas()
    assert "scalar" in isas and set(isas) <= {"avx512", "avx2", "scalar"}
    info = kernels_c.build_info()
    assert {"compiler", "compiler_version", "flags", "source_hash", "isas"} <= set(info)
    assert "-O3" in info["flags"] and "-fopenmp" in info["flags"]
    assert len(info["source_hash"]) == 64 and info["isas"] == isas


def test_peak_gflops_is_positive() -> None:
    assert kernels_c.peak_gflops(threads=1) > 1.0
    with pytest.raises(ValueError, match="threads"):
        kernels_c.peak_gflops(threads=0)


def test_cache_dir_follows_env_and_build_is_reused(tmp_path: Path) -> None:
    """A build cached under $SPARSEBENCH_CACHE/kernels_c/<hash> is loaded, not rebuilt."""
    here = _build.cache_dir()
    _build.load()
    env = {**os.environ, "SPARSEBENCH_CACHE": str(tmp_path)}
    code = "from kernels_c import _build; print(_build.cache_dir())"
    target = Path(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, check=True).stdout.strip())
    assert target.parent == tmp_path / "kernels_c" and target.name == here.name
    shutil.copytree(here, target)  # same sources + flags + compiler -> same hash
    built = next(target.glob("*.so"))
    mtime = built.stat().st_mtime_ns
    code = "import kernels_c; print(kernels_c.build_info()['path'], kernels_c.available_isas())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith(str(target)) and "scalar" in out
    assert built.stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "kernels_c").iterdir()] == [target.name]


@pytest.mark.parametrize(
    ("make_x", "message"),
    [
        (lambda: torch.randn(1, 8, 5, 5, dtype=torch.float64), "float32"),
        (lambda: torch.randn(1, 8, 5, 5).transpose(2, 3), "contiguous"),
        (lambda: torch.randn(1, 7, 5, 5), "channels"),
        (lambda: torch.randn(8, 5, 5), "4-D"),
        (lambda: torch.randn(1, 8, 1, 1), "smaller than"),
        (lambda: np.zeros((1, 8, 5, 5), dtype=np.float32), "torch.Tensor"),
    ],
)
def test_bad_input_tensor(make_x: object, message: str) -> None:
    pattern, weight = _masked("nm", (4, 8, 3, 3), n=2, m=4)
    conv = kernels_c.prepare(weight, pattern=pattern)
    with pytest.raises(ValueError, match=message):
        conv(make_x())


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_count(threads: object) -> None:
    pattern, weight = _masked("dense", (4, 8, 1, 1))
    with pytest.raises(ValueError, match="threads"):
        kernels_c.conv2d(torch.randn(1, 8, 4, 4), weight, pattern=pattern, threads=threads)


def test_bad_arguments_to_prepare() -> None:
    pattern, weight = _masked("cs", (4, 8, 3, 3), k=4)
    with pytest.raises(ValueError, match="outside the cs mask"):
        kernels_c.prepare(torch.ones(4, 8, 3, 3), pattern=pattern)
    with pytest.raises(ValueError, match="stride"):
        kernels_c.prepare(weight, pattern=pattern, stride=0)
    with pytest.raises(ValueError, match="padding"):
        kernels_c.prepare(weight, pattern=pattern, padding=(1, -1))
    with pytest.raises(ValueError, match="bias"):
        kernels_c.prepare(weight, pattern=pattern, bias=torch.zeros(5))
    with pytest.raises(ValueError, match="isa"):
        kernels_c.prepare(weight, pattern=pattern, isa="neon")
    with pytest.raises(ValueError, match="no C kernel"):
        kernels_c.prepare(weight, pattern=object())


def test_c_side_rejects_bad_arguments() -> None:
    """The C entry point validates on its own: NULL / misaligned pointers, shapes, threads."""
    pattern, weight = _masked("unstructured", (4, 8, 3, 3), sparsity=0.5)
    conv = kernels_c.prepare(weight, pattern=pattern, padding=1)
    module = _build.load()
    ffi, lib = module.ffi, module.lib
    x = torch.randn(1, 8, 6, 6)
    y = torch.empty(1, 4, 6, 6)
    xp = ffi.cast("float *", x.data_ptr())
    yp = ffi.cast("float *", y.data_ptr())
    err = ffi.new("char[]", 256)
    isa = kernels_c.ISAS.index(conv.isa)
    good = [conv._struct, xp, 1, 6, 6, 1, 1, 1, 1, ffi.NULL, ffi.NULL, 0, yp, 1, isa, 0,
            ffi.NULL, err, 256]
    assert lib.sb_conv2d(*good) == lib.SB_OK
    misaligned = ffi.cast("float *", y.data_ptr() + 2)
    for index, bad in [(1, ffi.NULL), (12, ffi.NULL), (0, ffi.NULL), (13, 0), (13, -3),
                       (5, 0), (7, -1), (2, 0), (3, 0), (14, 7), (15, 1), (11, 3), (11, -1),
                       (10, yp), (10, misaligned)]:
        args = list(good)
        args[index] = bad
        assert lib.sb_conv2d(*args) != lib.SB_OK, (index, bad)
        assert ffi.string(err)
    args = list(good)
    args[1] = ffi.cast("float *", x.data_ptr() + 2)  # misaligned
    assert lib.sb_conv2d(*args) == lib.SB_EINVAL
    assert b"aligned" in ffi.string(err)


@pytest.mark.parametrize(
    ("name", "params", "array", "value", "message"),
    [
        ("unstructured", {"sparsity": 0.5}, "lidx", 200, "out of range"),
        ("unstructured", {"sparsity": 0.5}, "rowptr", -5, "monotone"),
        ("unstructured", {"sparsity": 0.5}, "bptr", -5, "monotone"),
        ("block", {"n": 2, "sparsity": 0.5}, "cidx", -1, "out of range"),
        ("nm", {"n": 1, "m": 4}, "lidx", 72, "n:m row index"),
        ("cs", {"k": 4}, "lidx", 200, "cs row index"),
        ("cs", {"k": 4}, "rmap", -1, "channel order"),
        ("filter", {"sparsity": 0.5}, "rowmap", 99, "row map"),
    ],
)
def test_corrupted_packed_data_is_caught(name: str, params: dict, array: str, value: int,
                                         message: str) -> None:
    pattern, weight = _masked(name, (4, 8, 3, 3), **params)
    conv = kernels_c.prepare(weight, pattern=pattern, padding=1)
    buf = conv.packed.arrays[array]
    assert not buf.flags.writeable  # packed data is read-only unless one insists
    buf.flags.writeable = True
    buf[len(buf) // 2] = value
    with pytest.raises(ValueError, match=message):
        conv.validate()


def test_conv_isa_is_reported_and_forced() -> None:
    pattern, weight = _masked("block", (8, 8, 3, 3), n=4, sparsity=0.5)
    x = torch.randn(1, 8, 6, 6)
    outs = []
    for isa in kernels_c.available_isas():
        conv = kernels_c.prepare(weight, pattern=pattern, padding=1, isa=isa)
        assert conv.isa == isa and conv.kernel == f"block-{isa}"
        assert conv.kernel_function.endswith(isa)
        outs.append(conv(x))
        assert conv.layout == "columns"  # 3x3, padding 1, 6x6: 5 units of 8 pixels, not 6
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=1e-4, atol=1e-4)


# --- issue 21: the thread count comes back from the kernel; ranges checked up front --------

def test_kernel_reports_the_threads_it_ran_on() -> None:
    pattern, weight = _masked("cs", (8, 8, 3, 3), k=4)
    conv = kernels_c.prepare(weight, pattern=pattern, padding=1)
    x = torch.randn(1, 8, 12, 12)
    for threads in (1, 2, 3):
        conv(x, threads=threads)
        assert conv.threads_used == threads
    module = _build.load()
    assert module.lib.SB_MAX_THREADS == kernels_c.max_threads() == 1024
    with pytest.raises(ValueError, match=r"threads must be an integer in 1\.\.1024"):
        conv(x, threads=1025)
    with pytest.raises(ValueError, match=r"threads must be an integer in 1\.\.1024"):
        kernels_c.peak_gflops(threads=5000)


def test_empty_batch_gives_an_empty_result_like_torch() -> None:
    pattern, weight = _masked("nm", (4, 8, 3, 3), n=2, m=4)
    x = torch.randn(0, 8, 6, 6)
    y = kernels_c.conv2d(x, weight, pattern=pattern, padding=1, threads=2)
    assert y.shape == torch.nn.functional.conv2d(x, weight, padding=1).shape == (0, 4, 6, 6)


def test_padding_and_stride_ranges_are_checked_before_allocating() -> None:
    pattern, weight = _masked("unstructured", (4, 8, 3, 3), sparsity=0.5)
    with pytest.raises(ValueError, match=r"padding must be an int in 0\.\.64"):
        kernels_c.prepare(weight, pattern=pattern, padding=100000)
    with pytest.raises(ValueError, match=r"stride must be an int in 1\.\.64"):
        kernels_c.prepare(weight, pattern=pattern, stride=(1, 65))


@pytest.mark.parametrize(("name", "params", "function"), [
    ("unstructured", {"sparsity": 0.5}, "f32_spmm_ell16_2x"),
    ("nm", {"n": 1, "m": 4}, "f32_spmm_ell16_2x"),
    ("cs", {"k": 4}, "f32_spmm_ell16_2x"),
    ("dense", {}, "f32_spmm_panel_6x"),
])
def test_micro_kernel_and_layout_are_named(name: str, params: dict, function: str) -> None:
    pattern, weight = _masked(name, (8, 16, 1, 1), **params)
    for isa in kernels_c.available_isas():
        conv = kernels_c.prepare(weight, pattern=pattern, isa=isa)
        assert conv.kernel_function.startswith(function) and conv.kernel_function.endswith(isa)
        assert conv.layout is None  # nothing ran yet
        conv(torch.randn(1, 16, 5, 5))
        assert conv.layout == "direct"
        strided = kernels_c.prepare(weight, pattern=pattern, stride=2, isa=isa)
        strided(torch.randn(1, 16, 5, 5))
        assert strided.layout == "shifted"


# --- issue 14: one kernel table names, dispatches and declares every micro-kernel ---------

def test_kernel_table_is_what_the_library_dispatches_and_exports() -> None:
    """Every table row is a function of the compiled lib, one per (family, ISA), named
    <datatype>_<op>_<layout>_<MR>x<NR>v_<isa>; C names and dispatches it from the same row."""
    module = _build.load()
    ffi, lib = module.ffi, module.lib
    rows = _build.kernel_table("MICROKERNEL")
    families = {row[0] for row in _build.kernel_table("FAMILY")}
    cells = [(family, isa) for _, family, isa in rows]
    assert sorted(cells) == sorted((f, i.upper()) for f in families for i in kernels_c.ISAS)
    for code, (fn, family, isa) in enumerate(rows):
        assert callable(getattr(lib, fn)), fn
        assert re.fullmatch(rf"f32_spmm_{family.lower()}_\d+x\d+v_{isa.lower()}", fn), fn
        assert ffi.string(lib.sb_kernel_name(code)).decode() == fn
    formats = {name: int(code) for name, code, _ in _build.kernel_table("FORMAT")}
    family_of = {name: family for name, _, family in _build.kernel_table("FORMAT")}
    for name, fmt in formats.items():
        for isa_code, isa in enumerate(kernels_c.ISAS):
            code = lib.sb_kernel_for(fmt, isa_code)
            assert rows[code][1:] == (family_of[name], isa.upper())
    assert lib.sb_kernel_for(len(formats), 0) == -1 and lib.sb_kernel_for(0, -1) == -1
    assert ffi.string(lib.sb_kernel_name(len(rows))) == b""
    assert kernels_c.LAYOUTS["shifted"] == lib.SB_LAYOUT_SHIFTED


@pytest.mark.parametrize("side, stride, layout", [
    (14, 1, "columns"), (28, 1, "columns"), (56, 1, "shifted"), (7, 1, "columns"),
    (14, 2, "shifted")])
def test_auto_stages_column_copies_where_shifted_rows_waste_vectors(side: int, stride: int,
                                                                    layout: str) -> None:
    """3x3 convs: shifted rows are Wout + 2 wide; where that costs 5 % more 8-pixel units
    (14x14: 28 against 25; 56x56: 406 against 392, 3.6 %) and the stride is 1, auto stages
    column copies instead, whose output matches torch, when the weight stores at least 20 %
    of its values on one thread, at least 70 % on two (there each thread stages half the
    copies and reads all of them)."""
    x = torch.randn(1, 8, side, side)
    for name, params, threads, picked in [
            ("unstructured", {"sparsity": 0.9}, 1, "shifted"),  # 10 %: the copies do not pay
            ("unstructured", {"sparsity": 0.5}, 1, layout),
            ("unstructured", {"sparsity": 0.5}, 2, "shifted"),  # 50 % on two threads
            ("dense", {}, 2, layout), ("dense", {}, 1, layout)]:
        pattern, weight = _masked(name, (8, 8, 3, 3), **params)
        conv = kernels_c.prepare(weight, pattern=pattern, stride=stride, padding=1)
        y = conv(x, threads=threads)
        assert conv.layout == picked, (name, params, threads)
        torch.testing.assert_close(y, F.conv2d(x, weight, stride=stride, padding=1), rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.parametrize("layout", ["shifted", "columns", "im2col"])
def test_a_call_reports_the_layout_and_function_it_ran(layout: str) -> None:
    pattern, weight = _masked("block", (8, 8, 3, 3), n=2, sparsity=0.5)
    for isa in kernels_c.available_isas():
        conv = kernels_c.prepare(weight, pattern=pattern, padding=1, isa=isa)
        conv(torch.randn(1, 8, 9, 9), layout=layout)
        assert conv.layout == layout
        assert conv.kernel_function in _build.micro_kernels()
        assert conv.kernel_function.endswith(f"_{isa}")
    with pytest.raises(ValueError, match="cannot run"):
        conv(torch.randn(1, 8, 9, 9), layout="direct")  # a 3x3 conv has no direct staging


def test_fused_epilogue_refuses_bad_arguments() -> None:
    pattern, weight = _masked("dense", (4, 8, 1, 1))
    conv = kernels_c.prepare(weight, pattern=pattern)
    x, y = torch.randn(1, 8, 5, 5), torch.empty(1, 4, 5, 5)
    with pytest.raises(ValueError, match="act must be one of"):
        conv(x, act="gelu")
    with pytest.raises(ValueError, match="residual must be a contiguous"):
        conv(x, residual=torch.zeros(1, 4, 5, 4))
    with pytest.raises(ValueError, match="residual has dtype"):
        conv(x, residual=torch.zeros(1, 4, 5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="same buffer"):
        conv(x, out=y, residual=y)
    r = torch.randn(1, 4, 5, 5)
    expected = (torch.nn.functional.conv2d(x, weight) + r).clamp(0.0, 6.0)
    torch.testing.assert_close(conv(x, out=y, residual=r, act="relu6"), expected)


def test_ell16_values_are_stored_block_major() -> None:
    """docs/CONTRACTS.md: value j of row co in block b sits at b*ipb*Cout + co*nb + j (nm,
    cs), at bptr[b*Cout + co] + j (unstructured); the kernel walks them in that order."""
    from kernels_c.packers import pack

    pattern, weight = _masked("nm", (3, 200, 1, 1), n=1, m=4)
    packed = pack(weight, pattern)
    kb, cout = packed.scalars["kb"], 3
    ipb, dense = kb // 4, weight.reshape(cout, -1).numpy()
    kept = [np.nonzero(dense[co])[0] for co in range(cout)]
    expected, rows = [], []
    for start in range(0, len(kept[0]), ipb):
        for co in range(cout):
            cols = kept[co][start:start + ipb]
            expected += list(dense[co, cols])
            rows += list(cols % kb)
    np.testing.assert_array_equal(packed.arrays["val"], np.array(expected, dtype=np.float32))
    np.testing.assert_array_equal(packed.arrays["lidx"], np.array(rows, dtype=np.uint16))

    pattern, weight = _masked("unstructured", (5, 300, 1, 1), sparsity=0.8)
    packed = pack(weight, pattern)
    kb, dense = packed.scalars["kb"], weight.reshape(5, -1).numpy()
    bptr, val = packed.arrays["bptr"], packed.arrays["val"]
    for b in range(-(-300 // kb)):
        for co in range(5):
            cols = np.nonzero(dense[co, b * kb:(b + 1) * kb])[0]
            i = b * 5 + co
            np.testing.assert_array_equal(val[bptr[i]:bptr[i + 1]], dense[co, b * kb + cols])
            np.testing.assert_array_equal(packed.arrays["lidx"][bptr[i]:bptr[i + 1]], cols)
    counts = (dense != 0).sum(axis=1)
    np.testing.assert_array_equal(packed.arrays["rowptr"], np.concatenate([[0], np.cumsum(counts)]))


def test_row_pointers_must_agree_with_the_block_counts() -> None:
    """A monotone rowptr with the right total but rows split wrongly would unbalance the
    NNZ thread split silently: sb_validate refuses it."""
    pattern, weight = _masked("unstructured", (4, 8, 3, 3), sparsity=0.5)
    conv = kernels_c.prepare(weight, pattern=pattern, padding=1)
    rowptr = conv.packed.arrays["rowptr"]
    rowptr.flags.writeable = True
    rowptr[1] += 1
    with pytest.raises(ValueError, match="by its row pointers"):
        conv.validate()


def test_a_bound_call_reruns_on_what_its_buffers_hold_now() -> None:
    """``bind`` (the compiled model's fast path) checks and runs once; each rerun computes
    from the input's current contents, residual and activation included."""
    from kernels_c.depthwise import DepthwiseConv

    gen = torch.Generator().manual_seed(3)
    w, x = torch.randn(16, 8, 3, 3, generator=gen), torch.randn(1, 8, 9, 9, generator=gen)
    conv = kernels_c.prepare(w, pattern=patterns.make("dense"), padding=1)
    out, res = torch.empty(1, 16, 9, 9), torch.randn(1, 16, 9, 9, generator=gen)
    run = conv.bind(x, 2, out=out, residual=res, act="relu")
    for _ in range(2):
        x.copy_(torch.randn(x.shape, generator=gen))  # new contents, same memory
        run()
        ref = (torch.nn.functional.conv2d(x, w, None, 1, 1) + res).relu()
        assert torch.allclose(out, ref, rtol=1e-4, atol=1e-4)
    dw = DepthwiseConv(torch.randn(8, 1, 3, 3, generator=gen), None, 1, 1, "relu6")
    dw_out = torch.empty(1, 8, 9, 9)
    run = dw.bind(x, 1, out=dw_out)
    x.copy_(torch.randn(x.shape, generator=gen))
    run()
    ref = torch.nn.functional.conv2d(x, dw.weight, None, 1, 1, 1, 8).clamp(0, 6)
    assert torch.allclose(dw_out, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="channels"):  # binding checks like a call
        conv.bind(torch.randn(1, 4, 9, 9), 1, out=out)


def test_bound_calls_keep_their_tensors_alive() -> None:
    """A bound call (conv and depthwise) points into its input and output, so it holds them:
    dropping the caller's references cannot leave it writing into freed memory (an A/B
    script that rebound its names did, and glibc aborted on the corrupted heap)."""
    from kernels_c.depthwise import DepthwiseConv

    pattern, weight = _masked("dense", (4, 3, 3, 3))
    conv = kernels_c.prepare(weight, pattern=pattern, padding=1)
    depthwise = DepthwiseConv(torch.randn(3, 1, 3, 3), None, 1, 1, "relu")
    for layer, shape in ((conv, (1, 4, 8, 8)), (depthwise, (1, 3, 8, 8))):
        x, out = torch.randn(1, 3, 8, 8), torch.empty(shape)
        alive = [weakref.ref(x), weakref.ref(out)]
        run = layer.bind(x, 1, out=out)
        del x, out
        gc.collect()
        assert all(ref() is not None for ref in alive), type(layer).__name__
        run()
