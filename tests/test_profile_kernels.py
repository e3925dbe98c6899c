"""benchmarks.profile_kernels: the callgrind + llvm-mca profile of one real prepared C kernel
call, end to end, on a small layer (skipped when valgrind, llvm-mca or objdump is missing)."""

import shutil

import pytest

import patterns
from benchmarks import profile_kernels
from benchmarks.profile import bound, build, case, mca
from benchmarks.profile.disasm import Instruction
from benchmarks.profile.phases import PHASES
from harness.kernel_bench import Level
from harness.layers import ConvLayer

SMALL = ConvLayer("small", 64, 64, 1, 1, stride=1, padding=0, groups=1, height=14, width=14)
TOOLS = ("valgrind", "llvm-mca", "objdump", "objcopy")
missing = [tool for tool in TOOLS if not shutil.which(tool)]
needs_tools = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


@pytest.fixture(scope="module")
def profiled():
    so = build.debug_object()
    assert build.same_text(so, build.production_object()), "-g changed the machine code"
    levels = [Level(patterns.make("dense"), 0.0), Level(patterns.make("cs", k=4), 0.75)]
    return profile_kernels.profile_rows("toy", [SMALL], levels, so, seed=0)


@needs_tools
def test_each_call_is_split_into_phases_that_add_up(profiled):
    for row in profiled:
        assert row["status"] == "ok", row["status"]
        assert row["max_rel_error"] < 1e-4
        shares = [row[f"{phase}_pct"] for phase in PHASES]
        assert all(0 <= share <= 100 for share in shares), row
        assert sum(shares) == pytest.approx(100, abs=0.01)
        assert row["loop_pct"] > 30, "the FMA loop is where a conv spends its instructions"
        assert 0 < row["lanes_pct"] <= 100


@needs_tools
def test_the_kernels_differ_where_their_design_does(profiled):
    dense, cs = profiled
    assert "panel" in dense["kernel"] and "ell16" in cs["kernel"]
    # both copy a 1x1 layer's tile rows; each row the dense panel copies feeds 4x the MACs
    assert 0 < dense["tile_copy_pct"] < cs["tile_copy_pct"]
    assert dense["instructions"] > cs["instructions"], "cs k=4 does a quarter of the MACs"


@needs_tools
def test_the_hottest_loop_has_fmas_and_a_bound_within_the_peak(profiled):
    for row in profiled:
        assert row["loop_fma"] > 0 and row["native_loop_fma"] > 0
        for key in ("bound_pct", "native_bound_pct"):
            assert 0 < row[key] <= 100.5, (key, row[key])
        assert row["bottleneck"] and row["native_bottleneck"]


@needs_tools
def test_the_table_prints_every_row(profiled, capsys):
    profile_kernels.print_table(profiled)
    out = capsys.readouterr().out
    assert out.count("small") == 2 and "cs(k=4" in out and "loop%" in out


@pytest.mark.skipif(not shutil.which("llvm-mca"), reason="needs llvm-mca")
def test_independent_full_width_fmas_reach_the_modelled_peak():
    fma = [Instruction(0, "vfmadd231ps", f"%zmm14,%zmm15,%zmm{k}", "", (), ())
           for k in range(12)]
    report = mca.analyse([*fma, Instruction(0, "jmp", "", "", (), ())])
    assert "FMA" in mca.bottleneck(report)
    assert 1.5 < bound.peak_fmas_per_cycle(16) <= 2.0 + 1e-9
    assert 12 / report.cycles == pytest.approx(bound.peak_fmas_per_cycle(16))


@needs_tools
def test_an_unknown_layer_is_bad_input(capsys):
    assert profile_kernels.main(["--model", "resnet18", "--layers", "layer9.conv1"]) == 2
    assert "no prunable layer layer9.conv1" in capsys.readouterr().err


def _loop(*lines: int, fmas: int) -> case.Loop:
    """A loop of ``fmas`` FMAs compiled from lines of a kernel source."""
    from kernels_c._build import SRC_DIR

    return case.Loop(tuple(
        Instruction(k, "vfmadd231ps", "%zmm1,%zmm2,%zmm3", "f", ("f",),
                    (f"/usr/lib/gcc/fmaintrin.h:{k}", f"{SRC_DIR}/ell16_spmm.h:{line}"))
        for k, line in zip(range(fmas), lines * fmas, strict=False)))


def test_the_native_loop_is_the_one_from_the_same_source_lines():
    hot = _loop(57, 58, fmas=8)
    same_lines_narrow, same_lines_full, other = (_loop(57, 58, fmas=4), _loop(57, 58, fmas=16),
                                                 _loop(65, fmas=16))
    assert case.matching_loop(hot, [other, same_lines_narrow, same_lines_full]) is same_lines_full
