"""What every job shares: the context it runs in, the job-kind registry, job keys, and
``run_job``, which runs one job and hands back the rows it made.

A job never writes the database: it adds rows to its context and ``run_job`` returns them
as a ``JobOutput``. The sweep's executor (``harness.executors``) hands every output to the
one writer in the driver, whether the job ran in the same process or on a cluster node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.plan import LayerJob, ModelJob, TrainJob
from harness.spec import SweepSpec
from results.keys import measurement_key
from sparsebench.registry import Registry

Job = TrainJob | LayerJob | ModelJob


@dataclass
class JobOutput:
    """The rows one job made (not yet stored), its counts and its time inside timed calls."""

    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    timed_s: float = 0.0


@dataclass
class SweepContext:
    """What a job needs where it runs: the spec, the run, where checkpoints live, and the
    machine, software and backend builds of the process that runs it (its rows' keys).

    ``known`` maps a checkpoint key to its stored row's ``weights_hash`` and ``mask_hash``:
    a checkpoint file read back is checked against them (see ``train_jobs``).
    """

    spec: SweepSpec
    run_id: str
    out_dir: Path
    machine_id: str
    software_id: str
    build_info: dict[str, dict[str, Any]]
    known: dict[str, dict[str, str]] = field(default_factory=dict)
    timed_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def add_measurement(self, row: dict[str, Any]) -> None:
        """A measurement made here: it records this process's machine and software."""
        self.measurements.append({**row, "machine_id": self.machine_id,
                                  "software_id": self.software_id})

    def add_checkpoint(self, row: dict[str, Any]) -> None:
        self.checkpoints.append(row)

    def take(self) -> JobOutput:
        """The rows, counts and timed seconds gathered since the last call; resets them."""
        output = JobOutput(self.checkpoints, self.measurements, self.counts, self.timed_s)
        self.checkpoints, self.measurements, self.counts, self.timed_s = [], [], {}, 0.0
        return output


JobFunction = Callable[[Any, SweepContext], None]
EXECUTORS: Registry[type, JobFunction] = Registry("job type")


def executor(job_type: type) -> Callable[[JobFunction], JobFunction]:
    """Register the function that runs jobs of ``job_type``."""
    return EXECUTORS.register(job_type)


def utc_now() -> datetime:
    """Now in UTC, without a zone (how the results schema stores times)."""
    return datetime.now(UTC).replace(tzinfo=None)


def run_job(job: Job, ctx: SweepContext) -> JobOutput:
    """Run one job here; its rows carry the UTC times the job started and ended."""
    ctx.take()  # nothing left over from a job that raised
    started = utc_now()
    EXECUTORS[type(job)](job, ctx)
    output = ctx.take()
    ended = utc_now()
    for row in (*output.checkpoints, *output.measurements):
        row.update(started_at=started, ended_at=ended)
    return output


def job_key(job: Job, ctx: SweepContext) -> str:
    """The store key of a job's row, known before it runs: a checkpoint's training job
    key, or ``results.keys.measurement_key`` of the configuration the row will record (so
    a row measured by the sweep, ``kernels --db`` or ``models`` has one key)."""
    if isinstance(job, TrainJob):
        return job.key
    return measurement_key(job_configuration(job, ctx))


def job_configuration(job: LayerJob | ModelJob, ctx: SweepContext) -> dict[str, Any]:
    """The key columns of the row a latency job makes, on ``ctx``'s machine and software."""
    source = job.source
    weights = source or job  # a model job always measures a checkpoint
    return {
        "scope": "layer" if isinstance(job, LayerJob) else "model",
        "model": weights.model, "layer": getattr(job, "layer", None),
        "backend": job.backend, "device": job.device, "threads": job.threads,
        "batch": job.batch, "checkpoint_key": source.key if source else None,
        "pattern": weights.pattern, "pattern_params": weights.params_json,
        "requested_sparsity": weights.requested_sparsity,
        "kernel_source_hash": ctx.build_info.get(job.backend, {}).get("source_hash"),
        "machine_id": ctx.machine_id, "software_id": ctx.software_id,
    }  # fmt: skip
