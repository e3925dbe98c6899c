"""A sweep as an executor sees it, and the one writer that stores what its jobs return.

Only the driver process writes DuckDB. Jobs hand back ``JobOutput``s wherever they ran;
``RowWriter`` stores each checkpoint row at once and batches measurement rows into one
transaction every few seconds (a kill loses at most those jobs, which a rerun redoes).
Rows are keyed by content hashes, so storing the same job twice adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.context import Job, JobOutput, SweepContext, job_key
from harness.plan import Plan, TrainJob, expand
from harness.progress import Progress
from harness.spec import SweepSpec
from harness.train_jobs import checkpoint_path


class RowWriter:
    """Stores job outputs for one run and tallies counts, timed seconds and failures."""

    FLUSH_EVERY_S = 5.0

    def __init__(self, store: Any, run_id: str, known: dict[str, dict[str, str]]) -> None:
        self.store = store
        self.run_id = run_id
        self.known = known  # checkpoint key -> its hashes, updated as checkpoints arrive
        self.counts: dict[str, int] = {}
        self.timed_s = 0.0
        self.failures: list[dict[str, str]] = []
        self._pending: list[dict[str, Any]] = []
        self._flushed_at = time.monotonic()

    def count(self, what: str, n: int = 1) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    def add(self, output: JobOutput) -> None:
        for what, n in output.counts.items():
            self.count(what, n)
        self.timed_s += output.timed_s
        if output.checkpoints:  # training jobs are few and long: store each at once
            self.store.add_rows(self.run_id, checkpoints=output.checkpoints)
            for row in output.checkpoints:
                self.known[row["checkpoint_key"]] = hashes(row)
        self._pending.extend(output.measurements)
        if time.monotonic() - self._flushed_at > self.FLUSH_EVERY_S:
            self.flush()

    def failed(self, what: str, reason: str, jobs: int = 1) -> None:
        """Jobs that ended without rows (after their retries): kept for the run's notes."""
        self.failures.append({"job": what, "reason": reason})
        self.count("failed", jobs)

    def add_environment(self, machine: Mapping[str, Any], software: Mapping[str, Any]) -> None:
        """A cluster node's machine and software, stored before rows that point at them."""
        self.store.add_environment(machine, software)

    def flush(self) -> None:
        if self._pending:
            self.store.add_rows(self.run_id, measurements=self._pending)
            self._pending = []
        self._flushed_at = time.monotonic()


def hashes(row: Mapping[str, Any]) -> dict[str, str]:
    """What a checkpoint file read back must match: its weights and mask hashes."""
    return {"weights_hash": row["weights_hash"], "mask_hash": row["mask_hash"]}


@dataclass
class Sweep:
    """The jobs of one run and everything an executor needs to run and store them.

    ``ctx`` is the driver's context (its machine, software and builds); ``usable`` the
    backends that run in the driver; ``done`` the keys already stored (skipped).
    """

    spec: SweepSpec
    ctx: SweepContext
    usable: frozenset[str]
    layer_names: dict[str, list[str]]
    done: set[str]
    writer: RowWriter
    progress: Progress

    def plan(self, usable: Iterable[str] | None = None) -> Plan:
        """Every job of the spec, latency jobs for ``usable`` backends (default: the
        driver's)."""
        return expand(self.spec, self.layer_names,
                      set(self.usable if usable is None else usable))

    def split(self, jobs: Iterable[Job], ctx: SweepContext) -> list[Job]:
        """The jobs of ``jobs`` not stored yet (keyed for ``ctx``'s machine); the stored
        ones are counted as skipped and shown as such by the progress bars."""
        todo, stored = [], []
        for job in jobs:
            (stored if self._stored(job, ctx) else todo).append(job)
        self.writer.count("skipped", len(stored))
        self.progress.add(todo, stored)
        return todo

    def _stored(self, job: Job, ctx: SweepContext) -> bool:
        """Stored, and for a checkpoint its file still there: a checkpoint whose row is
        stored but whose file is gone (another --out, a deleted folder, a database merged
        from elsewhere) is trained again, before the jobs that need it."""
        if job_key(job, ctx) not in self.done:
            return False
        return not isinstance(job, TrainJob) or checkpoint_path(job, ctx).is_file()
