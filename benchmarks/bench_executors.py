"""Wall time of one small, training-heavy sweep with ``--executor local`` and with
``--executor ray`` on a cluster of two one-CPU nodes of this machine, and the check, from
the rows' start and end times, that no two latency jobs overlapped.

Both runs train with one thread per job, so the Ray run can train two checkpoints at once
where the local run trains one after another; the latency phase is serial in both (one
timing per host at a time). Each run starts from an empty OUT folder; the Ray figure
includes connecting to the cluster, not starting it.

    python benchmarks/bench_executors.py --out runs/executors
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import results
from harness.executors.ray_local import CLIENT_ENV, LocalCluster, NodeSpec

REPO = Path(__file__).resolve().parents[1]


def spec_text(train_subset: int) -> str:
    """Two seeds of dense + cs + nm children, trained on ``train_subset`` images each."""
    if str(REPO / "tests") not in sys.path:  # the tests' spec writer, tests/specs.py (not
        sys.path.append(str(REPO / "tests"))  # installed; imported here, not when asv scans)
    from specs import sweep_toml

    return sweep_toml("executors-bench", [{"name": "cs", "sparsities": [0.5]},
                                          {"name": "nm", "sparsities": [0.5]}],
                      seeds=[0, 1], train={"dense_epochs": 2,
                      "train_subset": train_subset, "test_subset": 500},
                      timing={"warmup": 2, "min_repeats": 20, "max_repeats": 200,
                              "budget_s": 0.05, "target_rel_ci": 0.03},
                      latency={"layers": True, "model": True})


OVERLAPS = """
SELECT count(*) AS n FROM measurements a JOIN measurements b
  ON a.machine_id = b.machine_id AND a.measurement_key < b.measurement_key
 AND a.started_at < b.ended_at AND b.started_at < a.ended_at
"""


def run(out: Path, train_subset: int, *executor: str) -> float:
    """Seconds the sweep command took (it must succeed)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    spec = out / "spec.toml"
    spec.write_text(spec_text(train_subset))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", "bench", "--spec", str(spec), "--out",
                    str(out), "--no-report", "--no-progress", *executor], check=True,
                   env={**os.environ, **CLIENT_ENV, "PYTHONPATH": str(REPO)}, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def check(db: Path) -> str:
    store = results.Store(db)
    overlaps = int(store.query(OVERLAPS)["n"][0])
    trained_by = store.query("SELECT max(ended_at) AS t FROM checkpoints")["t"][0]
    first_timing = store.query("SELECT min(started_at) AS t FROM measurements")["t"][0]
    rows = len(store.measurements())
    return (f"{rows} latency rows, {overlaps} overlapping pairs, latency began "
            f"{(first_timing - trained_by).total_seconds():+.2f} s after the last training")


def keys(db: Path) -> set[str]:
    store = results.Store(db)
    return (set(store.checkpoints()["checkpoint_key"])
            | set(store.measurements()["measurement_key"]))


def main(out: Path, train_subset: int) -> None:
    local_s = run(out / "local", train_subset, "--executor", "local")
    with LocalCluster([NodeSpec(cpus=1), NodeSpec(cpus=1)],
                      env={"PYTHONPATH": str(REPO)}) as cluster:
        ray_s = run(out / "ray", train_subset, "--executor", "ray", "--ray-address",
                    cluster.address)
    same = keys(out / "local" / "results.duckdb") == keys(out / "ray" / "results.duckdb")
    print(f"local: {local_s:7.1f} s   {check(out / 'local' / 'results.duckdb')}")
    print(f"ray:   {ray_s:7.1f} s   {check(out / 'ray' / 'results.duckdb')}")
    print(f"ray / local wall time: {ray_s / local_s:.2f}; same stored keys: {same}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/executors", help="folder for both sweeps")
    parser.add_argument("--train-subset", type=int, default=4000,
                        help="training images per epoch (default: %(default)s)")
    args = parser.parse_args()
    main(Path(args.out).resolve(), args.train_subset)
