"""What every job executor shares: the sweep context, the executor registry, job keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.plan import LayerJob, ModelJob, TrainJob, content_hash
from harness.spec import SweepSpec


@dataclass
class SweepContext:
    """What every job executor needs: the store, the run, where files go, the environment."""

    spec: SweepSpec
    store: Any
    run_id: str
    out_dir: Path
    machine_id: str
    software_id: str
    build_info: dict[str, dict[str, Any]]
    timed_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    flushed_at: float = field(default_factory=time.monotonic)

    FLUSH_EVERY_S = 5.0

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def add_measurement(self, row: dict[str, Any]) -> None:
        """Queue a measurement; queued rows reach the store in one transaction every
        few seconds (a kill loses at most those jobs, which a rerun redoes)."""
        self.pending.append(row)
        if time.monotonic() - self.flushed_at > self.FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.store.add_rows(self.run_id, measurements=self.pending)
            self.pending = []
        self.flushed_at = time.monotonic()


Executor = Callable[[Any, SweepContext], None]
EXECUTORS: dict[type, Executor] = {}


def executor(job_type: type) -> Callable[[Executor], Executor]:
    """Register the function that runs jobs of ``job_type``."""

    def register(fn: Executor) -> Executor:
        EXECUTORS[job_type] = fn
        return fn

    return register


def job_key(job: TrainJob | LayerJob | ModelJob, ctx: SweepContext) -> str:
    """The store key of a job's row: its configuration on this machine and software."""
    if isinstance(job, TrainJob):
        return job.key
    return content_hash({"job": repr(job), "machine": ctx.machine_id,
                         "software": ctx.software_id,
                         "build": ctx.build_info.get(job.backend, {}).get("source_hash")})


