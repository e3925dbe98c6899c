"""The ``local`` executor: every job in this process, one after another (no Ray needed).

Training first, then the latency jobs grouped by the weights they measure (``Plan``'s
order), so each checkpoint is loaded once and no timing shares the machine with training.
"""

from __future__ import annotations

from harness.context import run_job
from harness.executors import sweep_executor
from harness.executors.sweep import Sweep
from harness.spec import ExecutorSpec, SweepSpec


@sweep_executor("local")
class LocalExecutor:
    def __init__(self, options: ExecutorSpec) -> None:
        self.options = options

    def connect(self, spec: SweepSpec) -> None:
        """Nothing to connect to."""

    def describe(self) -> dict[str, object]:
        return {"name": "local"}

    def run(self, sweep: Sweep) -> None:
        for job in sweep.split(sweep.plan().in_order(), sweep.ctx):
            sweep.progress.start(job)
            sweep.writer.add(run_job(job, sweep.ctx))
            sweep.progress.finish(job)

    def close(self) -> None:
        """Nothing to let go of."""
