"""harness.kernel_bench and 'sparsebench kernels': verified-then-timed rows with the C kernels."""

import math

import pandas as pd
import pytest

import patterns
import results
from harness.cli import main
from harness.kernel_bench import (
    LayerCase,
    bench_layer,
    make_case,
    summarise,
)
from harness.layers import ConvLayer

SMALL = ConvLayer("small", 32, 32, 3, 3, stride=1, padding=1, groups=1, height=12, width=12)


def test_bench_layer_c_kernel_row_is_checked_and_timed():
    pattern = patterns.make("cs", k=4)
    row = bench_layer(SMALL, pattern, "c", threads=1, batch=2, budget=0.05, model="toy",
                      requested_sparsity=0.75)
    assert row["status"] == "ok", row["message"]
    assert row["max_rel_error"] < 1e-4
    assert row["backend"] == "c" and row["kernel"] and row["isa"]
    assert row["median_s"] > 0 and row["min_s"] <= row["median_s"] <= row["p90_s"]
    assert row["repeats"] >= 5 and row["warmup"] == 3
    assert row["actual_density"] == pytest.approx(0.25)
    assert row["flops_dense"] == 2 * 2 * 32 * 12 * 12 * 32 * 9
    assert row["flops_nonzero"] == pytest.approx(row["flops_dense"] * 0.25)
    assert row["pattern_params"] == '{"d": null, "k": 4}' and row["mask_hash"]


def test_a_result_off_the_reference_is_wrong_and_not_timed():
    case = make_case(SMALL, patterns.make("nm", n=2, m=4), batch=1)
    off = LayerCase(case.layer, case.pattern, case.weight, case.x, case.reference + 1.0,
                    case.actual_density, case.mask_hash)
    row = bench_layer(SMALL, case.pattern, "c", threads=1, batch=1, budget=0.05, case=off)
    assert row["status"] == "wrong"
    assert row["max_rel_error"] > 1e-4
    assert row["median_s"] is None and row["repeats"] is None


def test_a_shape_the_pattern_cannot_take_is_a_value_error():
    layer = ConvLayer("odd", 24, 32, 1, 1, stride=1, padding=0, groups=1, height=8, width=8)
    with pytest.raises(ValueError, match="odd"):
        make_case(layer, patterns.make("nm", n=1, m=16), batch=1)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="backend"):
        bench_layer(SMALL, patterns.make("dense"), "nope", 1, 1, 0.1)
    with pytest.raises(ValueError, match="threads"):
        bench_layer(SMALL, patterns.make("dense"), "c", 0, 1, 0.1)


def test_kernels_command_prints_writes_csv_and_db(tmp_path, capsys):
    csv, db = tmp_path / "rows.csv", tmp_path / "r.duckdb"
    code = main(["kernels", "--models", "mobilenet_v2", "--layers", "1", "--patterns", "nm",
                 "--sparsities", "0.5", "--threads", "1", "--budget", "0.02",
                 "--csv", str(csv), "--db", str(db)])
    assert code == 0
    out = capsys.readouterr().out
    assert "features.1.conv.1" in out and "summary" in out and "nm(2:4)" in out
    df = pd.read_csv(csv)
    assert list(df.backend) == ["torch", "c", "c"]
    assert (df.status == "ok").all()
    torch_row, dense_row, nm_row = df.to_dict("records")
    assert torch_row["x_torch"] == 1 and dense_row["x_c_dense"] == 1
    assert math.isclose(nm_row["x_torch"], torch_row["median_s"] / nm_row["median_s"])
    stored = results.Store(db).measurements()
    assert len(stored) == 3 and set(stored.status) == {"ok"}


def test_summary_states_each_kernel_over_itself_on_one_thread(tmp_path):
    """x_1_thread: the same kernel on the same layer at 1 thread over this median, per level
    and thread count (1.0 at 1 thread); rows with no 1-thread twin are left out."""
    csv = tmp_path / "rows.csv"
    assert main(["kernels", "--models", "mobilenet_v2", "--layers", "1", "--patterns", "nm",
                 "--sparsities", "0.5", "--threads", "1,2", "--budget", "0.02",
                 "--csv", str(csv)]) == 0
    df = pd.read_csv(csv)
    summary = summarise(df).set_index(["level", "backend", "threads"])
    for (level, backend, threads), row in summary.iterrows():
        pattern = "dense" if level == "dense" else "nm"
        same = df[(df.backend == backend) & (df.pattern == pattern)].set_index("threads")
        expected = same.median_s[1] / same.median_s[threads]
        assert math.isclose(row.x_1_thread, expected), (level, backend, threads)
    assert (summary.xs(1, level="threads").x_1_thread == 1).all()
    assert summarise(df[df.threads == 2]).x_1_thread.isna().all()


def test_kernels_command_rejects_an_unknown_pattern(capsys):
    assert main(["kernels", "--patterns", "bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
