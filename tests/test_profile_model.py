"""benchmarks.profile_model: where a compiled whole model's time goes, end to end on a small
zoo model, checked before it is timed."""

import pytest

import kernels_c
import patterns
from benchmarks import profile_model
from harness.kernel_bench import Level


@pytest.fixture(scope="module")
def rows():
    peak = kernels_c.peak_gflops(1)
    dense = profile_model.profile_model("resnet20", None, 1, 3, peak)
    cs = profile_model.profile_model("resnet20", Level(patterns.make("cs", k=4), 0.75), 1, 3,
                                     peak)
    return dense, cs


def test_the_parts_and_the_glue_make_up_the_pass(rows):
    for model_rows in rows:
        assert all(r["status"] == "ok" for r in model_rows)
        assert all(r["max_rel_error"] <= 1e-3 for r in model_rows)
        parts = [r for r in model_rows if r["part"] != "total"]
        assert sum(r["share_pct"] for r in parts) == pytest.approx(100)
        assert all(r["ms"] > 0 for r in parts if r["part"] != "glue")
        kinds = {r["part"] for r in parts}
        assert {"conv 3x3 s1", "conv 3x3 s2", "linear", "avgpool", "glue"} <= kinds, kinds
        total = next(r for r in model_rows if r["part"] == "total")
        assert 0 < total["peak_pct"] <= 100 and total["ms"] > 0


def test_the_sparse_model_does_fewer_flops_per_pass(rows):
    dense, cs = ({r["part"]: r for r in model_rows} for model_rows in rows)
    work = {name: r["gflops"] * r["ms"] for name, r in (("dense", dense["conv 3x3 s1"]),
                                                        ("cs", cs["conv 3x3 s1"]))}
    assert work["cs"] == pytest.approx(work["dense"] / 4, rel=0.05)  # 1 of every 4 weights


def test_bad_arguments_exit_2(capsys):
    assert profile_model.main(["--models", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert profile_model.main(["--threads", "0"]) == 2
