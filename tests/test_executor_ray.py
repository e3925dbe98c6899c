"""``--executor ray`` on a real Ray cluster of this machine: a head and a second node started
with ``ray start`` (one CPU and the latency resource each, own ports, small object stores),
stopped by PID at the end. A tiny sweep (two dense parents, a pruned child of each, their
layer and model latencies) runs with ``local`` and with ``ray``; a training worker is
killed mid-sweep; the sweep is rerun; the driver is interrupted with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from specs import sweep_toml

import results
from harness.executors.ray_local import CLIENT_ENV, LocalCluster, NodeSpec

REPO = Path(__file__).resolve().parents[1]
TRAIN_TITLE = "ray::sparsebench-train"
TIMEOUT_S = 600



def tiny(train_subset: int, threads: int) -> str:
    """Two seeds of a dense parent and its cs child, trained on ``train_subset`` images."""
    return sweep_toml("tiny-ray", [{"name": "cs", "sparsities": [0.5]}], seeds=[0, 1],
                      train={"train_subset": train_subset, "test_subset": 256,
                             "threads": threads},
                      timing={"max_repeats": 20})


NO_RETRIES = """
[latency]
layers = false
model = false

[executor]
max_retries = 0
"""
# 2 seeds x (dense + cs k=2 child); c times all 18 prunable convs of both, torch the dense
# ones; one model latency per checkpoint and backend
CHECKPOINTS = 4
MEASUREMENTS = 2 * (2 * 18 + 18) + 2 * (2 + 1)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def _bench(out: Path, *extra: str, train_subset: int = 256, threads: int = 1,
           tables: str = "") -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "tiny.toml"
    spec.write_text(tiny(train_subset, threads) + tables)
    env = {**os.environ, **CLIENT_ENV, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "bench", "--spec", str(spec), "--out", str(out),
         "--no-report", "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _finish(proc: subprocess.Popen) -> Done:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    return Done(proc.returncode, out, err)


def _first_train_worker(cluster: LocalCluster, proc: subprocess.Popen) -> int:
    """The PID of the first worker seen running a training task (waits for one)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        found = cluster.processes(TRAIN_TITLE)
        if found:
            return found[0]
        assert proc.poll() is None, f"the sweep ended before training began: {proc.stderr}"
        time.sleep(0.05)
    raise AssertionError("no training task started")


def _keys(db: Path) -> tuple[list[str], list[str]]:
    store = results.Store(db)
    return (list(store.checkpoints()["checkpoint_key"]),
            list(store.measurements()["measurement_key"]))


@dataclass
class Sweeps:
    local_db: Path
    ray_db: Path
    ray: Done
    killed_title: str
    rerun: Done
    interrupted: Done
    interrupted_db: Path
    train_left_after_interrupt: list[int]
    too_many_threads: Done
    too_many_threads_db: Path
    no_retries: Done
    no_retries_db: Path


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> Sweeps:
    tmp = tmp_path_factory.mktemp("executors")
    local = _bench(tmp / "local", "--executor", "local")  # meanwhile the cluster starts
    with LocalCluster([NodeSpec(cpus=1), NodeSpec(cpus=1)],
                      env={"PYTHONPATH": str(REPO)}) as cluster:
        ray_args = ("--executor", "ray", "--ray-address", cluster.address)

        threads = _finish(_bench(tmp / "threads", *ray_args, threads=2))

        # no retries allowed: the killed job fails, with it its child; the rest is stored
        no_retries = _bench(tmp / "no-retries", *ray_args, tables=NO_RETRIES)
        os.kill(_first_train_worker(cluster, no_retries), signal.SIGKILL)
        failed = _finish(no_retries)

        # Ctrl-C while training: outstanding tasks are cancelled, the run interrupted
        slow = _bench(tmp / "interrupt", *ray_args, train_subset=4096)
        _first_train_worker(cluster, slow)
        slow.send_signal(signal.SIGINT)
        interrupted = _finish(slow)
        deadline = time.monotonic() + 30
        while cluster.processes(TRAIN_TITLE) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = cluster.processes(TRAIN_TITLE)

        # a training worker dies mid-job: Ray retries the job
        sweep = _bench(tmp / "ray", *ray_args)
        victim = _first_train_worker(cluster, sweep)
        title = Path(f"/proc/{victim}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        time.sleep(0.5)  # into the job
        os.kill(victim, signal.SIGKILL)
        ray_done = _finish(sweep)
        rerun = _finish(_bench(tmp / "ray", *ray_args))
    local_done = _finish(local)
    assert local_done.returncode == 0, local_done.stderr
    return Sweeps(tmp / "local" / "results.duckdb", tmp / "ray" / "results.duckdb", ray_done,
                  title, rerun, interrupted, tmp / "interrupt" / "results.duckdb", left,
                  threads, tmp / "threads" / "results.duckdb", failed,
                  tmp / "no-retries" / "results.duckdb")


def test_ray_sweep_stores_the_keys_the_local_sweep_stores(sweeps: Sweeps) -> None:
    assert sweeps.ray.returncode == 0, sweeps.ray.stderr
    local_checkpoints, local_measurements = _keys(sweeps.local_db)
    ray_checkpoints, ray_measurements = _keys(sweeps.ray_db)
    assert len(local_checkpoints) == CHECKPOINTS and len(local_measurements) == MEASUREMENTS
    assert sorted(ray_checkpoints) == sorted(local_checkpoints)
    assert sorted(ray_measurements) == sorted(local_measurements)


def test_a_killed_training_worker_is_retried_and_every_row_stored_once(sweeps: Sweeps) -> None:
    assert sweeps.killed_title.startswith(TRAIN_TITLE)
    assert "the task will be retried" in sweeps.ray.stdout + sweeps.ray.stderr  # Ray's word
    assert "\nfailed: " not in sweeps.ray.stdout
    checkpoints, measurements = _keys(sweeps.ray_db)
    assert len(checkpoints) == len(set(checkpoints)) == CHECKPOINTS
    assert len(measurements) == len(set(measurements)) == MEASUREMENTS
    m = results.Store(sweeps.ray_db).measurements()
    assert (m["status"] == "ok").all()


def test_rerun_adds_nothing(sweeps: Sweeps) -> None:
    assert sweeps.rerun.returncode == 0, sweeps.rerun.stderr
    assert f"{CHECKPOINTS + MEASUREMENTS} skipped" in sweeps.rerun.stdout
    store = results.Store(sweeps.ray_db)
    runs = store.runs()
    assert list(runs["status"]) == ["finished", "finished"]
    assert len(store.checkpoints()) == CHECKPOINTS
    assert len(store.measurements()) == MEASUREMENTS
    assert set(store.measurements()["run_id"]) == {runs["run_id"].iloc[0]}


def test_no_two_latency_jobs_overlap_and_none_runs_beside_training(sweeps: Sweeps) -> None:
    store = results.Store(sweeps.ray_db)
    m = store.measurements().sort_values("started_at")
    assert m["started_at"].notna().all() and (m["ended_at"] >= m["started_at"]).all()
    # each latency job starts after every earlier one has ended (both nodes share a host)
    assert (m["started_at"].iloc[1:].values >= m["ended_at"].cummax().iloc[:-1].values).all()
    assert m["started_at"].min() >= store.checkpoints()["ended_at"].max()


def test_rows_record_the_machine_and_software_of_the_node(sweeps: Sweeps) -> None:
    store = results.Store(sweeps.ray_db)
    m = store.measurements()
    assert set(m["machine_id"]) <= set(store.machines()["machine_id"])
    assert set(m["software_id"]) <= set(store.software()["software_id"])


def test_ctrl_c_cancels_outstanding_tasks_and_marks_the_run_interrupted(sweeps: Sweeps) -> None:
    assert sweeps.interrupted.returncode == 130, sweeps.interrupted.stderr
    assert "interrupted" in sweeps.interrupted.stderr
    assert sweeps.train_left_after_interrupt == []
    assert list(results.Store(sweeps.interrupted_db).runs()["status"]) == ["interrupted"]


def test_more_training_threads_than_any_node_has_is_refused_before_work(sweeps: Sweeps) -> None:
    done = sweeps.too_many_threads
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "sparsebench: error: train.threads = 2 but the largest Ray node has 1 CPUs; "
        "lower train.threads or add a bigger node"]
    assert not sweeps.too_many_threads_db.exists()


def test_a_job_out_of_retries_is_recorded_failed_with_its_reason(sweeps: Sweeps) -> None:
    done = sweeps.no_retries
    assert done.returncode == 1, done.stderr
    assert "2 job failure(s)" in done.stderr  # the killed job and its pruned child
    store = results.Store(sweeps.no_retries_db)
    run = store.runs().iloc[0]
    assert run["status"] == "failed"
    failed = json.loads(run["notes"])["failed_jobs"]
    assert len(failed) == 2
    killed = next(f for f in failed if f["job"].startswith("train resnet20 dense"))
    child = next(f for f in failed if f is not killed)
    assert killed["reason"].startswith("WorkerCrashedError after 1 attempts: ")
    assert child["reason"] == f"its parent failed ({killed['job']})"
    assert len(store.checkpoints()) == 2  # the other seed's parent and child
