"""A real (tiny) sweep end to end: train, check, time, store; SIGKILL mid-sweep and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import results

TINY = """
name = "tiny"
dataset = "fashion-mnist"
models = ["resnet20"]
backends = ["torch", "c", "cuda"]
threads = [1, 2]
batch_sizes = [1]

[train]
dense_epochs = 1
epochs = 1
batch_size = 64
train_subset = 256
test_subset = 256
threads = 1

[timing]
warmup = 1
min_repeats = 2
max_repeats = 2000
budget_s = 0.1
target_rel_ci = 0.001

[[patterns]]
name = "cs"
sparsities = [0.5, 0.75]
"""


def _sweep(tmp_path: Path) -> subprocess.Popen:
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "bench", "--spec", str(spec), "--out",
         str(tmp_path / "out"), "--no-report", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _measurements(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return int(results.Store(db).query("SELECT count(*) AS n FROM measurements")["n"][0])
    except Exception:  # the writer holds the lock right now
        return 0


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("sweep")
    db = tmp_path / "out" / "results.duckdb"
    proc = _sweep(tmp_path)
    deadline = time.monotonic() + 300
    while _measurements(db) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = _sweep(tmp_path)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert "backend cuda skipped" in out
    return db


def test_rerun_after_sigkill_completes_without_duplicates(killed_and_resumed: Path) -> None:
    store = results.Store(killed_and_resumed)
    m = store.measurements()
    assert m["measurement_key"].is_unique
    runs = store.runs()
    assert set(runs["status"]) == {"interrupted", "finished"}
    # 3 checkpoints (dense, cs k=2, cs k=4) x 18 prunable convs on c, dense only on torch,
    # plus one model-latency row per checkpoint and backend; all at 1 and 2 threads
    assert (m["scope"] == "layer").sum() == (3 * 18 + 18) * 2
    assert (m["scope"] == "model").sum() == (3 + 1) * 2
    assert len(store.checkpoints()) == 3


def test_every_timing_was_checked_against_torch(killed_and_resumed: Path) -> None:
    m = results.Store(killed_and_resumed).measurements()
    ok = m[m["status"] == "ok"]
    assert len(ok) == len(m)
    assert (ok["max_rel_error"] < 1e-3).all()
    assert (ok["median_s"] > 0).all() and (ok["min_s"] <= ok["median_s"]).all()
    sparse = ok[(ok["backend"] == "c") & (ok["pattern"] == "cs") & (ok["scope"] == "layer")]
    assert set(sparse["actual_density"].round(3)) <= {0.5, 0.25}


def test_checkpoints_hold_accuracy_and_pareto_has_points(killed_and_resumed: Path) -> None:
    store = results.Store(killed_and_resumed)
    ck = store.checkpoints()
    assert ck["top1"].between(0, 100).all() and (ck["top1"] > 10).any()
    assert not store.pareto().empty


def test_wrong_kernel_output_is_recorded_without_timing(tmp_path: Path) -> None:
    """A backend whose result disagrees with torch gets a 'wrong' row and no timing."""
    import torch

    from harness.backends import BACKENDS
    from harness.runner import run_sweep
    from harness.spec import parse_spec

    class OffByOne:
        kernel, isa = "off-by-one", "scalar"

        def __init__(self, weight: torch.Tensor, stride: int, padding: int) -> None:
            self.weight, self.stride, self.padding = weight, stride, padding

        def __call__(self, x: torch.Tensor, threads: int = 1) -> torch.Tensor:
            return torch.nn.functional.conv2d(x, self.weight, None, self.stride,
                                              self.padding) + 1.0

    def _prepare(weight, *, pattern, stride, padding, bias=None, device="cpu"):
        return OffByOne(weight, stride, padding)

    # stand in for the C backend with a kernel that is off by one
    off_by_one = replace(BACKENDS["c"], prepare=_prepare, availability=lambda: (True, ""),
                         build_info=dict)
    with BACKENDS.override("c", off_by_one):
        text = TINY.replace('backends = ["torch", "c", "cuda"]', 'backends = ["c"]')
        text = text.replace("[timing]", "[latency]\nmodel = false\n\n[timing]")
        summary = run_sweep(parse_spec(text), text, db_path=tmp_path / "r.duckdb",
                            out_dir=tmp_path / "out", progress=False)
    m = results.Store(tmp_path / "r.duckdb").measurements()
    assert summary.counts.get("wrong") == len(m) == 3 * 18 * 2
    assert (m["status"] == "wrong").all()
    assert m["median_s"].isna().all() and m["repeats"].isna().all()
    assert (m["max_rel_error"] > 1e-4).all()
