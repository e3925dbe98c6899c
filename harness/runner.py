"""Run a sweep: every job of the plan, each correctness-checked, timed and stored.

Jobs whose rows are already in the store are skipped, so a sweep that was interrupted
(Ctrl-C, SIGKILL, a crash) resumes where it stopped when the same command runs again.
Each job's rows go to the store in one transaction: nothing half-written survives a kill.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import measure, train_jobs  # noqa: F401  (registers the job executors)
from harness.backends import BACKENDS, available_backends, available_devices
from harness.context import EXECUTORS, SweepContext, job_key
from harness.interrupts import is_interrupt, process_alive, sigint_deferred, this_process
from harness.plan import LayerJob, ModelJob, Plan, TrainJob, expand
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

    @property
    def overhead_fraction(self) -> float:
        """Share of the latency phase's wall time spent outside timed calls."""
        return 1.0 - self.timed_s / self.latency_wall_s if self.latency_wall_s else 0.0


def prunable_layers(model_name: str) -> list[str]:
    """Names of the convs the default layer policy prunes (stem and depthwise excluded)."""
    from harness.layers import conv_layers
    from harness.measure import input_spec
    from patterns.models import create_model

    channels, size, classes = input_spec(model_name)
    model = create_model(model_name, num_classes=classes, in_channels=channels)
    return [layer.name for layer in conv_layers(model, size, in_channels=channels)
            if layer.groups == 1 and not layer.is_stem]


def run_sweep(spec: SweepSpec, spec_text: str, *, db_path: Path, out_dir: Path,
              progress: bool = True) -> SweepSummary:
    """Run every job of ``spec`` not already stored; returns what was done and how long."""
    import results
    from harness.environment import capture_machine, capture_software, git_state, openmp_env

    out_dir.mkdir(parents=True, exist_ok=True)
    store = results.Store(db_path)
    machine, software = capture_machine(), capture_software()
    commit, dirty = git_state(Path(__file__).parent)  # the code measured, not the cwd
    status = available_backends()
    devices = available_devices(spec.devices)
    notes = tuple([*(f"backend {name} skipped: {why}" for name, why in status.items()
                     if name in spec.backends and why),
                   *(f"device {name} skipped: {why}" for name, why in devices.items() if why)])
    usable = {name for name, why in status.items() if not why}
    models = dict.fromkeys([*spec.models, *spec.latency.shape_models])
    runnable = replace(spec, devices=tuple(name for name, why in devices.items() if not why))
    plan = expand(runnable, {m: prunable_layers(m) for m in models}, usable)

    _close_stale_runs(store, spec_text)
    run_id = store.begin_run(spec.name, spec_text, machine, software, commit, dirty,
                             notes={"notes": list(notes), "openmp_env": openmp_env(),
                                    **this_process()})
    ctx = SweepContext(spec, store, run_id, out_dir, results.machine_id(machine),
                       results.software_id(software),
                       {name: BACKENDS[name].build_info() for name in usable})
    done = _stored_keys(store)
    started = time.perf_counter()
    latency_started = started
    try:
        for job in _progress(plan, progress):
            if isinstance(job, LayerJob | ModelJob) and latency_started == started:
                latency_started = time.perf_counter()
            if job_key(job, ctx) in done:
                ctx.count("skipped")
                continue
            train_jobs.ensure_trained(job.parent if isinstance(job, TrainJob) else job.source,
                                      ctx)
            EXECUTORS[type(job)](job, ctx)
        ctx.flush()
    except BaseException as exc:
        with sigint_deferred():  # a second Ctrl-C must not leave the run 'running'
            ctx.flush()
            store.end_run(run_id, "interrupted" if is_interrupt(exc) else "failed")
        raise
    store.end_run(run_id, "finished")
    ended = time.perf_counter()
    return SweepSummary(run_id, db_path, ended - started, ctx.timed_s, ended - latency_started,
                        ctx.counts, notes)


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


def _progress(plan: Plan, enabled: bool) -> Iterator[TrainJob | LayerJob | ModelJob]:
    from tqdm import tqdm

    jobs = plan.in_order()
    bar = tqdm(jobs, desc="sweep", unit="job", disable=not enabled, dynamic_ncols=True)
    for job in bar:
        bar.set_postfix_str(job.label[:60], refresh=False)
        yield job


