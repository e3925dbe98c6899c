"""Sweep executors: where a sweep's jobs run. One registry entry each (docs/executors.md).

``local`` runs every job in this process, one after another; ``ray`` fans training out
over a Ray cluster and measures latency on each node alone. Either way the driver alone
writes the database. An executor is made from the spec's ``ExecutorSpec``; ``connect``
checks, before any work, that it can run the sweep (``BadInput`` when not); ``run`` runs
the ``Sweep``'s jobs not stored yet; ``close`` lets go of what ``connect`` took.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from harness.executors.sweep import Sweep
from harness.spec import ExecutorSpec, SweepSpec
from sparsebench.registry import Registry


class SweepExecutor(Protocol):
    def connect(self, spec: SweepSpec) -> None: ...

    def run(self, sweep: Sweep) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, object]: ...


Factory = Callable[[ExecutorSpec], SweepExecutor]
SWEEP_EXECUTORS: Registry[str, Factory] = Registry("executor")


def sweep_executor(name: str) -> Callable[[Factory], Factory]:
    """Register a sweep executor under ``name`` (the spec's ``executor.name``)."""
    return SWEEP_EXECUTORS.register(name)


def create(options: ExecutorSpec) -> SweepExecutor:
    return SWEEP_EXECUTORS[options.name](options)


from harness.executors import local, ray_cluster  # noqa: E402, F401  (register both)
