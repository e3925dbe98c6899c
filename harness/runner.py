"""Run a sweep: every job of the plan, each correctness-checked, timed and stored.

Jobs whose rows are already in the store are skipped, so a sweep that was interrupted
(Ctrl-C, SIGKILL, a crash) resumes where it stopped when the same command runs again.
Where the jobs run is the executor's business (``harness.executors``: this process, or a
Ray cluster); their rows come back here and only this process writes the store, each
job's rows in one transaction, so nothing half-written survives a kill.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import executors, measure, train_jobs  # noqa: F401  (registers the job kinds)
from harness.backends import BACKENDS, available_backends, available_devices
from harness.context import SweepContext
from harness.executors.sweep import RowWriter, Sweep, hashes
from harness.interrupts import is_interrupt, process_alive, sigint_deferred, this_process
from harness.progress import Progress
from harness.spec import SweepSpec


@dataclass(frozen=True)
class SweepSummary:
    run_id: str
    db_path: Path
    wall_s: float
    timed_s: float
    latency_wall_s: float
    counts: dict[str, int]
    notes: tuple[str, ...]
    failures: tuple[dict[str, str], ...] = ()

    @property
    def overhead_fraction(self) -> float:
        """Share of the latency phase's wall time spent outside timed calls."""
        return 1.0 - self.timed_s / self.latency_wall_s if self.latency_wall_s else 0.0


def run_sweep(spec: SweepSpec, spec_text: str, *, db_path: Path, out_dir: Path,
              progress: bool = True) -> SweepSummary:
    """Run every job of ``spec`` not already stored with ``spec.executor``; returns what
    was done and how long. Jobs that failed after their retries are in ``failures`` (and
    the run's notes, status 'failed')."""
    sweep_executor = executors.create(spec.executor)
    sweep_executor.connect(spec)  # refuses a cluster that cannot run the spec, before work
    try:
        return _run(spec, spec_text, sweep_executor, db_path, out_dir.resolve(), progress)
    finally:
        sweep_executor.close()


def _run(spec: SweepSpec, spec_text: str, sweep_executor: executors.SweepExecutor,
         db_path: Path, out_dir: Path, progress: bool) -> SweepSummary:
    import results
    from harness.environment import begin_run, openmp_env

    out_dir.mkdir(parents=True, exist_ok=True)
    store = results.Store(db_path)
    status = available_backends()
    devices = available_devices(spec.devices)
    notes = tuple([*(f"backend {name} skipped: {why}" for name, why in status.items()
                     if name in spec.backends and why),
                   *(f"device {name} skipped: {why}" for name, why in devices.items() if why)])
    usable = frozenset(name for name, why in status.items() if not why)
    models = dict.fromkeys([*spec.models, *spec.latency.shape_models])
    runnable = replace(spec, devices=tuple(name for name, why in devices.items() if not why))

    _close_stale_runs(store, spec_text)
    run_id, machine, software = begin_run(
        store, spec.name, spec_text, {"notes": list(notes), "openmp_env": openmp_env(),
                                      "executor": sweep_executor.describe(), **this_process()})
    known = _stored_checkpoints(store)
    ctx = SweepContext(spec, run_id, out_dir, results.machine_id(machine),
                       results.software_id(software),
                       {name: BACKENDS[name].build_info() for name in usable}, known)
    writer = RowWriter(store, run_id, known)
    bars = Progress(progress)
    sweep = Sweep(runnable, ctx, usable, _layer_names(models),
                  _stored_keys(store), writer, bars)
    started = time.perf_counter()
    try:
        sweep_executor.run(sweep)
        writer.flush()
    except BaseException as exc:
        with sigint_deferred():  # a second Ctrl-C must not leave the run 'running'
            writer.flush()
            store.end_run(run_id, "interrupted" if is_interrupt(exc) else "failed",
                          _failure_notes(writer))
        raise
    finally:
        bars.close()
    store.end_run(run_id, "failed" if writer.failures else "finished", _failure_notes(writer))
    ended = time.perf_counter()
    latency_started = bars.latency_started()
    return SweepSummary(run_id, db_path, ended - started, writer.timed_s,
                        ended - latency_started if latency_started else 0.0, writer.counts,
                        notes, tuple(writer.failures))


def _layer_names(models: dict[str, None]) -> dict[str, list[str]]:
    """Model -> the convs its layer jobs time: the layer policy's list (patterns.policy)."""
    from harness.layers import zoo_prunable_layers

    return {m: [layer.name for layer in zoo_prunable_layers(m)] for m in models}


def _failure_notes(writer: RowWriter) -> dict[str, Any] | None:
    return {"failed_jobs": writer.failures} if writer.failures else None


def _stored_checkpoints(store: Any) -> dict[str, dict[str, str]]:
    """Checkpoint key -> the hashes its stored row records (what its file must match)."""
    found = store.query("SELECT checkpoint_key, weights_hash, mask_hash FROM checkpoints")
    return {row["checkpoint_key"]: hashes(row) for row in found.to_dict("records")}


def _stored_keys(store: Any) -> set[str]:
    """Keys of every checkpoint and measurement already stored (the jobs a rerun skips)."""
    found = store.query("SELECT checkpoint_key AS k FROM checkpoints "
                        "UNION ALL SELECT measurement_key FROM measurements")
    return set(found["k"])


def _close_stale_runs(store: Any, spec_text: str) -> None:
    """Runs of this spec still marked running whose process is gone were killed: mark them
    interrupted. A run whose process still runs (a second sweep of the same spec started
    beside it), or that ran on another host, is left alone."""
    runs = store.runs()
    stale = runs[(runs["status"] == "running") & (runs["spec_text"] == spec_text)]
    for run_id, notes in zip(stale["run_id"], stale["notes"], strict=True):
        if not process_alive(json.loads(notes) if isinstance(notes, str) else notes):
            store.end_run(run_id, "interrupted")
