"""The Ray tasks of the ``ray`` executor: what runs on a cluster node (imports Ray).

Each task builds a ``SweepContext`` from its own node's machine, software and backend
builds, runs jobs with ``run_job`` and returns their ``JobOutput``s to the driver; it
never opens the database. Checkpoints are files under the sweep's ``OUT`` folder, which
every node must see (docs/executors.md); a task checks each one it reads against the
hashes its training job returned.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from harness.context import JobOutput, SweepContext, run_job
from harness.plan import LayerJob, ModelJob, TrainJob
from harness.spec import SweepSpec


@dataclass(frozen=True)
class TaskSettings:
    """What every task of one run shares (put in the object store once)."""

    spec: SweepSpec
    run_id: str
    out_dir: Path


@dataclass(frozen=True)
class NodeEnvironment:
    """A node's machine and software (as ``sparsebench env`` captures them) and the
    backends that run there with their build info: the identity of its latency rows."""

    machine: dict[str, Any]
    software: dict[str, Any]
    machine_id: str
    software_id: str
    usable: frozenset[str]
    build_info: dict[str, dict[str, Any]]


@functools.cache
def _captured() -> tuple[dict[str, Any], dict[str, Any], str, str]:
    import results
    from harness.environment import capture_machine
    from sparsebench.provenance import software_versions

    machine, software = capture_machine(), software_versions()
    return machine, software, results.machine_id(machine), results.software_id(software)


@functools.cache
def node_environment() -> NodeEnvironment:
    """This node's environment, captured once per worker process."""
    from harness.backends import BACKENDS, available_backends

    usable = frozenset(name for name, why in available_backends().items() if not why)
    return NodeEnvironment(*_captured(), usable,
                           {name: BACKENDS[name].build_info() for name in usable})


def _context(settings: TaskSettings, build_info: dict[str, dict[str, Any]],
             known: dict[str, dict[str, str]]) -> SweepContext:
    from harness import measure, train_jobs  # noqa: F401  (registers the job kinds)

    _, _, machine_id, software_id = _captured()
    return SweepContext(settings.spec, settings.run_id, settings.out_dir, machine_id,
                        software_id, build_info, known)


@ray.remote(num_cpus=0)
def code_task() -> tuple[str, str]:
    """(IP address, fingerprint of the sparsebench code) of the node this runs on."""
    from sparsebench.provenance import code_fingerprint

    return ray.util.get_node_ip_address(), code_fingerprint()


@ray.remote(num_cpus=0)
def probe_task() -> tuple[str, NodeEnvironment]:
    """(node id, environment) of the node this runs on."""
    return ray.get_runtime_context().get_node_id(), node_environment()


@ray.remote
def train_task(settings: TaskSettings, job: TrainJob, parent: JobOutput | None) -> JobOutput:
    """Train one checkpoint; ``parent`` (resolved by Ray once the dense parent's task has
    finished) carries the hashes the parent's file must have."""
    from harness.executors.sweep import hashes

    known = {row["checkpoint_key"]: hashes(row) for row in parent.checkpoints} \
        if parent else {}
    return run_job(job, _context(settings, {}, known))  # training needs no kernel builds


@ray.remote
def measure_task(settings: TaskSettings, jobs: list[LayerJob | ModelJob],
            known: dict[str, dict[str, str]]) -> list[JobOutput]:
    """Latency jobs that measure the same weights, one after another on this node."""
    ctx = _context(settings, node_environment().build_info, known)
    return [run_job(job, ctx) for job in jobs]
