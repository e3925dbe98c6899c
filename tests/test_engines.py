"""The dense engines as backends: each verified against torch on the same (masked) weights
before timing, precision recorded, skipped with a reason when its package is missing; and
``sparsebench models``, whose rows carry p99 and the speedup over the best dense engine."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from specs import sweep_toml

import patterns
import results
from harness.backends import BACKENDS
from harness.cli import main
from harness.engines.base import engine, package_available
from harness.kernel_bench import Level, bench_layer
from harness.layers import ConvLayer
from harness.model_bench import bench_model, make_case, with_speedups

ENGINES = [name for name, b in BACKENDS.items() if b.times_masked]
FP32_ENGINES = [name for name in ENGINES if BACKENDS[name].tolerance is None]
SMALL = ConvLayer("small", 16, 32, 3, 3, stride=2, padding=1, groups=1, height=12, width=12)


def _available_or_skip(name: str) -> None:
    ok, reason = BACKENDS[name].availability()
    if not ok:
        pytest.skip(reason)


def test_every_engine_is_registered():
    assert {"torch_best", "onnxruntime", "openvino", "openvino_default"} <= set(ENGINES)
    for name in ENGINES:
        assert BACKENDS[name].times_masked and not BACKENDS[name].exploits_sparsity


@pytest.fixture(scope="module")
def cases():
    level = Level(patterns.make("unstructured", sparsity=0.9), 0.9)
    return {"dense": make_case("resnet20", None, batch=2),
            "masked": make_case("resnet20", level, batch=2)}


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("weights", ["dense", "masked"])
def test_engine_model_matches_torch_and_records_precision(name, weights, cases):
    _available_or_skip(name)
    case = cases[weights]
    row = bench_model(case, name, threads=1, budget=0.05, min_repeats=5)
    assert row["status"] == "ok", row["message"]
    assert row["precision"] in {"fp32", "bf16", "fp16"}
    if name in FP32_ENGINES:
        assert row["precision"] == "fp32"
        assert row["max_rel_error"] <= 1e-4
    assert row["median_s"] <= row["p90_s"] <= row["p99_s"]
    assert row["pattern"] == ("dense" if weights == "dense" else "unstructured")


@pytest.mark.parametrize("name", FP32_ENGINES)
def test_engine_layer_is_checked_against_conv2d(name):
    _available_or_skip(name)
    row = bench_layer(SMALL, patterns.make("dense"), name, threads=2, batch=1, budget=0.05)
    assert row["status"] == "ok", row["message"]
    assert row["max_rel_error"] <= 1e-4 and row["precision"] == "fp32"


def test_openvino_note_says_whether_sparse_weights_were_used(cases):
    _available_or_skip("openvino")
    row = bench_model(cases["masked"], "openvino", threads=1, budget=0.05)
    assert row["message"].startswith("sparse weights ")
    assert "Convolution:" in row["message"]


def test_an_engine_whose_package_is_missing_gives_a_row_saying_why(cases):
    ok, reason = package_available("sparsebench_no_such_engine")
    assert not ok and "sparsebench[engines]" in reason
    engine("missing_engine", availability=lambda: package_available("sparsebench_no_such_engine"),
           build_info=dict)(lambda model, example, threads: None)
    try:
        row = bench_model(cases["dense"], "missing_engine", threads=1, budget=0.05)
        layer = bench_layer(SMALL, patterns.make("dense"), "missing_engine", 1, 1, 0.05)
    finally:
        BACKENDS.remove("missing_engine")
    for r in (row, layer):
        assert r["status"] == "error" and "sparsebench_no_such_engine" in r["message"]
        assert r.get("median_s") is None


def test_speedups_take_the_fastest_fp32_dense_row_of_the_same_threads():
    def row(backend, pattern, threads, median, precision="fp32", status="ok"):
        return {"model": "m", "threads": threads, "batch": 1, "backend": backend,
                "pattern": pattern, "median_s": median, "precision": precision,
                "status": status}

    df = with_speedups([
        row("torch", "dense", 1, 0.10), row("onnxruntime", "dense", 1, 0.05),
        row("openvino_default", "dense", 1, 0.01, precision="bf16"),  # not fp32
        row("c", "unstructured", 1, 0.02), row("c", "dense", 1, 0.04),
        row("openvino", "dense", 1, 0.001, status="wrong"),  # not timed
        row("torch", "dense", 2, 0.06), row("c", "unstructured", 2, 0.03),
    ])
    sparse1 = df[(df.pattern == "unstructured") & (df.threads == 1)].iloc[0]
    assert sparse1.best_dense == "c" and sparse1.x_best == pytest.approx(2.0)
    assert sparse1.x_torch == pytest.approx(5.0)
    sparse2 = df[(df.pattern == "unstructured") & (df.threads == 2)].iloc[0]
    assert sparse2.best_dense == "torch" and sparse2.x_best == pytest.approx(2.0)
    assert df.images_s.iloc[0] == pytest.approx(10.0)


def test_models_command_prints_tables_and_writes_csv_and_db(tmp_path, capsys):
    csv, db = tmp_path / "rows.csv", tmp_path / "r.duckdb"
    backends = ",".join(["torch", "c", *FP32_ENGINES[:1]])
    code = main(["models", "--models", "resnet20", "--patterns", "dense,block",
                 "--sparsities", "0.75", "--backends", backends, "--threads", "1",
                 "--budget", "0.05", "--repeats", "7", "--csv", str(csv), "--db", str(db)])
    out = capsys.readouterr().out
    assert code == 0
    assert "resnet20 batch 1 @32x32" in out and "p99_ms" in out and "x_best" in out
    df = pd.read_csv(csv)
    assert (df.status == "ok").all(), df.message.tolist()
    assert set(df.pattern) == {"dense", "block"}
    assert not df[df.pattern == "block"].backend.eq("torch").any()  # eager: dense only
    assert df.x_best.notna().all() and df.x_torch.notna().all()
    dense = df[df.pattern == "dense"]
    assert math.isclose(dense.x_best.max(), 1.0)
    stored = results.Store(db).measurements()
    assert len(stored) == len(df) and stored.p99_s.notna().all()
    assert (stored.repeats >= 7).all()
    assert set(stored.precision) == {"fp32"}


@pytest.mark.parametrize("argv, message", [
    (["--models", "resnet9000"], "resnet9000"),
    (["--patterns", "triangles"], "triangles"),
    (["--sparsities", "1.5"], "--sparsities"),
    (["--backends", "tensorrt"], "tensorrt"),
    (["--threads", "0"], "--threads"),
    (["--repeats", "0"], "--repeats"),
    (["--csv", "/no/such/folder/rows.csv"], "/no/such/folder"),
])
def test_models_command_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    db = tmp_path / "r.duckdb"
    code = main(["models", "--models", "resnet20", *argv, "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and "\n" not in err
    assert not db.exists()


def test_a_sweep_times_engines_on_every_checkpoint_at_model_scope_only():
    from harness.plan import expand
    from harness.spec import parse_spec

    spec = parse_spec('name = "t"\nmodels = ["resnet20"]\nbackends = ["torch", "onnxruntime"]\n'
                      '[[patterns]]\nname = "nm"\nsparsities = [0.5]\n')
    plan = expand(spec, {"resnet20": ["layer1.0.conv1"]}, {"torch", "onnxruntime"})
    engine_jobs = [j for j in plan.models if j.backend == "onnxruntime"]
    assert {j.source.pattern for j in engine_jobs} == {"dense", "nm"}  # masked ones too
    assert {j.source.pattern for j in plan.models if j.backend == "torch"} == {"dense"}
    assert {j.backend for j in plan.layers} == {"torch"}


TINY_SWEEP = sweep_toml(
    "engines", [{"name": "unstructured", "sparsities": [0.75]}],
    backends=["torch", "c_compiled", "onnxruntime", "openvino_default"],
    timing={"min_repeats": 3, "max_repeats": 10, "budget_s": 0.05, "target_rel_ci": 0.03},
    latency={"layers": False})


def test_a_bench_sweep_times_engines_and_the_compiled_path_on_every_checkpoint(tmp_path):
    import subprocess
    import sys

    for name in ("onnxruntime", "openvino_default"):
        _available_or_skip(name)
    spec = tmp_path / "engines.toml"
    spec.write_text(TINY_SWEEP)
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--spec", str(spec),
                           "--out", str(tmp_path / "out"), "--no-report", "--no-progress"],
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = results.Store(tmp_path / "out" / "results.duckdb").measurements()
    assert (rows.scope == "model").all() and (rows.status == "ok").all(), rows.message.tolist()
    by = {(r.backend, r.pattern): r for r in rows.itertuples()}
    assert set(by) == {("torch", "dense"), ("c_compiled", "dense"), ("onnxruntime", "dense"),
                       ("openvino_default", "dense"), ("c_compiled", "unstructured"),
                       ("onnxruntime", "unstructured"), ("openvino_default", "unstructured")}
    assert by["c_compiled", "unstructured"].kernel == "c-compiled"
    assert by["c_compiled", "unstructured"].message.startswith("19 convs + 1 linears fused")
    assert set(rows.precision) <= {"fp32", "bf16", "fp16"} and rows.p99_s.notna().all()
