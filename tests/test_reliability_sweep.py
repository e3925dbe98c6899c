"""Sweep faults of issue 21 through real ``python -m harness bench`` runs on a tiny spec:
checkpoint files gone while their rows stay (5), a device this machine lacks (9), two
Ctrl-C in a row (13), a second sweep of the same spec beside a running one (14)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import results

REPO = Path(__file__).resolve().parents[1]

TINY = """
name = "rel"
models = ["resnet20"]
backends = ["torch"]
devices = {devices}
threads = {threads}

[train]
dense_epochs = {epochs}
epochs = 1
batch_size = 32
train_subset = {subset}
test_subset = 64
threads = 1

[timing]
warmup = 0
min_repeats = 2
max_repeats = 5
budget_s = 0.01

[latency]
layers = false
model = true
"""


def _spec(tmp_path: Path, name: str, *, devices: str = '["cpu"]', threads: str = "[1]",
          epochs: int = 1, subset: int = 64) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(devices=devices, threads=threads, epochs=epochs, subset=subset))
    return path


def _bench(spec: Path, out: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "harness", "bench", "--spec", str(spec), "--out", str(out),
            "--db", str(db), "--no-report", "--no-progress"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=_env(),
                          timeout=600)


def _statuses(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        return results.Store(db, timeout=5).runs().status.tolist()
    except (results.StoreBusy, ValueError):
        return []


def _wait_for_runs(db: Path, count: int, procs: list[subprocess.Popen]) -> list[str]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        statuses = _statuses(db)
        if len(statuses) >= count:
            return statuses
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} runs appeared in {db}")


def test_missing_checkpoint_files_are_retrained_and_a_missing_device_is_a_note(tmp_path):
    db = tmp_path / "r.duckdb"
    first = _run(_bench(_spec(tmp_path, "a", devices='["cpu", "cuda"]'), tmp_path / "a", db))
    assert first.returncode == 0, first.stderr[-3000:]
    if not torch.cuda.is_available():  # point 9: a note, the CPU jobs still run
        assert "device cuda skipped: torch sees no CUDA GPU" in first.stdout
    # point 5: the rows stay, the files go (a new --out); a new job needs the checkpoint
    shutil.rmtree(tmp_path / "a")
    second = _run(_bench(_spec(tmp_path, "b", threads="[1, 2]"), tmp_path / "b", db))
    assert second.returncode == 0, second.stderr[-3000:]
    assert (tmp_path / "b" / "checkpoints").is_dir()
    store = results.Store(db)
    assert store.runs().status.tolist() == ["finished", "finished"]
    assert sorted(store.query("SELECT threads FROM measurements WHERE status = 'ok'")
                  .threads.tolist()) == [1, 2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_only_a_missing_device_trains_nothing_it_cannot_use(tmp_path):
    """devices = ["cuda"] without a GPU: exit 0 with the note, not torch's driver error."""
    proc = _run(_bench(_spec(tmp_path, "c", devices='["cuda"]'), tmp_path / "c",
                       tmp_path / "r.duckdb"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "device cuda skipped: torch sees no CUDA GPU" in proc.stdout


def _start(spec: Path, out: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen(_bench(spec, out, db), cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(*procs: subprocess.Popen | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def test_second_sweep_of_the_same_spec_leaves_the_running_one_alone(tmp_path):
    """Point 14: the first sweep still runs, so the second must not mark it 'interrupted'."""
    db = tmp_path / "r.duckdb"
    spec = _spec(tmp_path, "long", epochs=50, subset=512)
    first, second = _start(spec, tmp_path / "one", db), None
    try:
        _wait_for_runs(db, 1, [first])
        second = _start(spec, tmp_path / "two", db)
        assert _wait_for_runs(db, 2, [first, second]) == ["running", "running"]
    finally:
        _stop(first, second)
    third = _start(spec, tmp_path / "three", db)  # both are dead now: those are stale
    try:
        assert _wait_for_runs(db, 3, [third]) == ["interrupted", "interrupted", "running"]
    finally:
        _stop(third)


def test_two_ctrl_c_in_a_row_end_the_run_as_interrupted(tmp_path):
    """Point 13: the second Ctrl-C lands in the cleanup of the first; the run is still
    closed as 'interrupted' and the command exits 130 with its one-line note."""
    db = tmp_path / "r.duckdb"
    proc = _start(_spec(tmp_path, "long", epochs=50, subset=512), tmp_path / "one", db)
    try:
        _wait_for_runs(db, 1, [proc])
        time.sleep(1.0)  # into the training
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode == 130, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("sparsebench: interrupted"), err[-3000:]
    assert results.Store(db).runs().status.tolist() == ["interrupted"]
