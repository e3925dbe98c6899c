"""Every measurement row names the function and the layout that ran (issue 14, point 6):
a small real sweep (trained resnet20, torch / c / c_compiled, layer and model rows) and
`sparsebench kernels`' bench_layer store names that the compiled C library exports and
layouts of the kernel table."""

from __future__ import annotations

import pytest

import kernels_c
import patterns
import results
from harness.engines import torch_best
from harness.kernel_bench import REPRESENTATIVE_LAYERS, bench_layer
from harness.spec import PatternSpec, SweepSpec, TimingSpec, TrainSpec
from kernels_c import _build

# trained resnet20 (dense parent + nm 2:4 child), every C path, timed as briefly as allowed
SPEC = SweepSpec(
    name="what-ran", models=("resnet20",), patterns=(PatternSpec("nm", (0.5,)),),
    backends=("torch", "c", "c_compiled"),
    train=TrainSpec(dense_epochs=1, epochs=1, batch_size=64, train_subset=128, test_subset=64,
                    threads=1),
    timing=TimingSpec(warmup=0, min_repeats=1, max_repeats=2, budget_s=0.001,
                      target_rel_ci=0.5))
C_BACKENDS = ("c", "c_compiled")
TORCH_PREFIX = "torch."  # a compiled model's conv that no kernel of ours takes runs in torch
STAGINGS = set(kernels_c.LAYOUTS) - {"auto"}  # what a call reports: auto is resolved


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory):
    from harness.runner import run_sweep

    tmp = tmp_path_factory.mktemp("what_ran")
    run_sweep(SPEC, repr(SPEC), db_path=tmp / "r.duckdb", out_dir=tmp / "out", progress=False)
    return results.Store(tmp / "r.duckdb").measurements()


def _exported(name: str) -> bool:
    return callable(getattr(_build.load().lib, name, None))


def test_c_rows_name_functions_of_the_compiled_library(swept) -> None:
    c_rows = swept[swept.backend.isin(C_BACKENDS) & (swept.status == "ok")]
    assert {(b, s) for b, s in zip(c_rows.backend, c_rows.scope, strict=True)} == {
        ("c", "layer"), ("c", "model"), ("c_compiled", "model")}
    micro = set(_build.micro_kernels())
    for row in c_rows.itertuples():
        functions = row.kernel_function.split(",")
        assert functions == sorted(set(functions)), row.kernel_function
        ours = [fn for fn in functions if not fn.startswith(TORCH_PREFIX)]
        assert all(_exported(fn) for fn in ours), row.kernel_function
        assert set(row.kernel_layout.split(",")) <= STAGINGS, row.kernel_layout
        assert any(fn in micro for fn in functions)
        if row.scope == "layer":  # one conv: one micro-kernel, of the row's ISA
            assert row.kernel_function in micro and row.kernel_function.endswith(row.isa)
            assert row.kernel_layout == _auto_layout(row)


def _auto_layout(row) -> str:
    """The staging C picks for a layer row's geometry (layout 'auto')."""
    code = _build.load().lib.sb_auto_layout(row.kernel_h, row.kernel_w, row.stride, row.stride,
                                            row.padding, row.padding, row.height, row.width,
                                            row.actual_density, row.threads)
    return next(name for name, value in kernels_c.LAYOUTS.items() if value == code)


def test_torch_rows_name_the_torch_call(swept) -> None:
    torch_rows = swept[swept.backend == "torch"]
    assert set(torch_rows.kernel_function) == {"torch.nn.functional.conv2d",
                                               "torch.nn.Module.__call__"}
    assert set(torch_rows.kernel_layout) == {"nchw"}


def test_kernels_bench_layer_names_what_ran() -> None:
    layer = REPRESENTATIVE_LAYERS["resnet50:layer3.1.conv1"]  # 1x1: the direct staging
    pattern = patterns.make("nm", n=2, m=4)
    row = bench_layer(layer, pattern, "c", threads=1, batch=1, budget=0.01)
    assert row["status"] == "ok"
    assert row["kernel_function"] in _build.micro_kernels() and _exported(row["kernel_function"])
    assert row["kernel_layout"] == "direct"
    torch_row = bench_layer(layer, pattern, "torch", threads=1, batch=1, budget=0.01)
    assert torch_row["kernel_function"] == "torch.nn.functional.conv2d"


def test_every_torch_best_candidate_says_what_it_runs() -> None:
    assert set(torch_best.RUNS_AS) == set(torch_best.CANDIDATES)
