"""The ``ray`` executor: a sweep's jobs as Ray tasks on a cluster (docs/executors.md).

Phase 1, training: every train job not stored becomes a task asking for the spec's
training threads as CPUs; a pruned child gets its dense parent's task as an argument, so
Ray starts it once the parent has finished and hands it the parent's hashes.
Phase 2, latency, once training is over: each node offering the ``sparsebench_latency``
resource reports its machine, software and kernel builds; latency jobs are keyed for each
kind of machine found, grouped by the weights they measure, and sent to a node of that
kind as one task holding the latency resource and every CPU and GPU of the node. One such
task runs per host at a time (nodes sharing an IP address share a machine), so no two
timings and no training ever overlap on a machine.

A task whose worker or node dies is retried up to ``max_retries`` times, then recorded as
failed with the reason; its rows are stored only from the attempt that returned, by the
driver alone. Ctrl-C cancels every outstanding task.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.context import Job, JobOutput, SweepContext
from harness.errors import BadInput
from harness.executors import sweep_executor
from harness.executors.sweep import Sweep
from harness.plan import LayerJob, ModelJob, TrainJob, content_hash
from harness.spec import ExecutorSpec, SweepSpec
from results.connection import first_line

CONNECT_TIMEOUT_S = 10.0
POLL_S = 0.5  # how often the driver wakes up while waiting (so Ctrl-C is seen at once)
LATENCY_RESOURCE = "sparsebench_latency"  # a node offering it (1 unit) may time latency
TASK_NAME_CHARS = 120


@dataclass
class _Kind:
    """One kind of latency node: same machine, software and kernel builds."""

    env: Any  # ray_tasks.NodeEnvironment
    ctx: SweepContext
    queue: deque[list[LayerJob | ModelJob]] = field(default_factory=deque)


@dataclass(frozen=True)
class _Node:
    node_id: str
    host: str
    cpus: float
    gpus: float


@sweep_executor("ray")
class RayExecutor:
    def __init__(self, options: ExecutorSpec) -> None:
        self.options = options
        self._outstanding: dict[Any, Job] = {}

    def describe(self) -> dict[str, object]:
        return {"name": "ray", "address": self.options.address,
                "max_retries": self.options.max_retries}

    # -- connecting --------------------------------------------------------------------
    def connect(self, spec: SweepSpec) -> None:
        try:
            import ray
        except ImportError:
            raise BadInput("executor 'ray' needs Ray: pip install 'sparsebench[ray]' "
                           "(or use --executor local)") from None
        address = self.options.address
        _check_reachable(address)
        try:
            if address is None:  # a Ray of this machine alone, measuring latency too
                ray.init(resources={LATENCY_RESOURCE: 1}, include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BadInput(f"cannot connect to the Ray cluster at {address}: "
                           f"{first_line(exc)}; start it with `ray start --head` "
                           "(docs/executors.md) or fix --ray-address") from None
        try:
            self._check_cluster(spec)
            self._check_code()
        except BadInput:
            ray.shutdown()
            raise

    def _check_cluster(self, spec: SweepSpec) -> None:
        nodes = _alive_nodes()
        most = max((n["Resources"].get("CPU", 0) for n in nodes), default=0)
        if spec.train.threads > most:
            raise BadInput(f"train.threads = {spec.train.threads} but the largest Ray node "
                           f"has {most:g} CPUs; lower train.threads or add a bigger node")
        if _has_latency(spec) and not _latency_nodes():
            raise BadInput(f"no Ray node offers the {LATENCY_RESOURCE} resource, so none may "
                           "measure latency; start nodes with --resources "
                           f"'{{\"{LATENCY_RESOURCE}\": 1}}' (docs/executors.md)")

    @staticmethod
    def _check_code() -> None:
        """Every node runs the driver's sparsebench code (row keys depend on it)."""
        import ray

        from harness.executors.ray_tasks import code_task
        from sparsebench.provenance import code_fingerprint

        ours = code_fingerprint()
        try:
            found = ray.get([code_task.options(scheduling_strategy=_on(n["NodeID"])).remote()
                             for n in _alive_nodes()])
        except ray.exceptions.RayError as exc:
            raise BadInput(f"a Ray node cannot run sparsebench: {first_line(exc)}; install "
                           "'sparsebench[ray]' on every node (docs/executors.md)") from None
        others = sorted({ip for ip, fingerprint in found if fingerprint != ours})
        if others:
            raise BadInput(f"Ray nodes at {', '.join(others)} run other sparsebench code than "
                           "this driver; install the same version (or commit) on every node")

    def close(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()

    # -- running ---------------------------------------------------------------------
    def run(self, sweep: Sweep) -> None:
        import ray

        from harness.executors.ray_tasks import TaskSettings

        spec = sweep.spec
        if spec.data_root is not None:  # workers start elsewhere: no relative paths
            spec = dataclasses.replace(spec, data_root=str(Path(spec.data_root).resolve()))
        settings = ray.put(TaskSettings(spec, sweep.ctx.run_id, sweep.ctx.out_dir))
        try:
            self._train(sweep, settings)
            self._measure(sweep, settings)
        except KeyboardInterrupt:
            for ref in self._outstanding:
                ray.cancel(ref, force=True)
            self._outstanding.clear()
            raise

    def _options(self, name: str, **resources: Any) -> dict[str, Any]:
        return {"max_retries": self.options.max_retries, "retry_exceptions": False,
                "name": name[:TASK_NAME_CHARS], **resources}

    def _train(self, sweep: Sweep, settings: Any) -> None:
        from harness.executors.ray_tasks import train_task

        refs: dict[str, Any] = {}
        for job in sweep.split(sweep.plan().train, sweep.ctx):  # parents before children
            parent = None if job.parent is None else (
                refs[job.parent.key] if job.parent.key in refs else _stored(sweep, job.parent))
            ref = train_task.options(**self._options(
                f"sparsebench-train {job.label}", num_cpus=sweep.spec.train.threads,
            )).remote(settings, job, parent)
            refs[job.key] = ref
            self._outstanding[ref] = job
            sweep.progress.start(job)
        for ref, outcome in self._completed():
            job = self._outstanding.pop(ref)
            if isinstance(outcome, JobOutput):
                sweep.writer.add(outcome)
            elif job.parent and job.parent.key in refs and _failed(refs[job.parent.key]):
                sweep.writer.failed(job.label, f"its parent failed ({job.parent.label})")
            else:
                sweep.writer.failed(job.label, self._reason(outcome))
            sweep.progress.finish(job)

    def _measure(self, sweep: Sweep, settings: Any) -> None:
        from harness.executors.ray_tasks import measure_task

        kinds, nodes = self._kinds(sweep)
        hosts: dict[str, list[_Node]] = {}
        for node in nodes.values():
            hosts.setdefault(node.host, []).append(node)
        running: dict[Any, tuple[_Node, list[LayerJob | ModelJob]]] = {}
        while True:
            busy = {node.host for node, _ in running.values()}
            for host, members in hosts.items():
                node = next((n for n in members if kinds[n.node_id].queue), None)
                if host in busy or node is None:
                    continue
                group = kinds[node.node_id].queue.popleft()
                ref = measure_task.options(**self._options(
                    f"sparsebench-latency {group[0].label}", num_cpus=node.cpus,
                    num_gpus=node.gpus, resources={LATENCY_RESOURCE: 1},
                    scheduling_strategy=_on(node.node_id),
                )).remote(settings, group, _known(sweep, group))
                running[ref] = (node, group)
                self._outstanding[ref] = group[0]
                sweep.progress.start(group[0])
            if not running:
                break
            ref, outcome = next(self._completed(stop_after=1))
            self._outstanding.pop(ref)
            node, group = running.pop(ref)
            if isinstance(outcome, BaseException):
                sweep.writer.failed(f"{len(group)} latency jobs from {group[0].label}",
                                    self._reason(outcome), len(group))
                if node.node_id not in {n["NodeID"] for n in _alive_nodes()}:
                    hosts[node.host].remove(node)
            else:
                for output in outcome:
                    sweep.writer.add(output)
            for job in group:
                sweep.progress.finish(job)
        for kind in kinds.values():  # left over: every node of their kind died
            for group in kind.queue:
                sweep.writer.failed(f"{len(group)} latency jobs from {group[0].label}",
                                    "no live node of their machine is left", len(group))

    def _kinds(self, sweep: Sweep) -> tuple[dict[str, _Kind], dict[str, _Node]]:
        """Each latency node's kind (its jobs queued once per kind), and the nodes."""
        import ray

        from harness.executors.ray_tasks import probe_task

        nodes = {n["NodeID"]: _Node(n["NodeID"], n["NodeManagerAddress"],
                                    n["Resources"].get("CPU", 0), n["Resources"].get("GPU", 0))
                 for n in _latency_nodes()}
        probes = [probe_task.options(scheduling_strategy=_on(node_id)).remote()
                  for node_id in nodes]
        by_id: dict[str, _Kind] = {}
        kinds: dict[str, _Kind] = {}
        for node_id, env in ray.get(probes):
            ident = content_hash([env.machine_id, env.software_id, env.build_info])
            if ident not in by_id:
                by_id[ident] = self._kind(sweep, env)
            kinds[node_id] = by_id[ident]
        return kinds, nodes

    @staticmethod
    def _kind(sweep: Sweep, env: Any) -> _Kind:
        sweep.writer.add_environment(env.machine, env.software)
        ctx = dataclasses.replace(sweep.ctx, machine_id=env.machine_id,
                                  software_id=env.software_id, build_info=env.build_info)
        plan = sweep.plan(env.usable)
        jobs = [job for job in plan.in_order() if not isinstance(job, TrainJob)]
        trained = [job for job in jobs
                   if job.source is None or job.source.key in sweep.writer.known]
        sweep.writer.count("not run (checkpoint missing)", len(jobs) - len(trained))
        return _Kind(env, ctx, deque(_groups(sweep.split(trained, ctx))))

    def _completed(self, stop_after: int | None = None) -> Iterator[tuple[Any, Any]]:
        """(ref, JobOutput or list of them, or the exception) for outstanding tasks as they
        finish; waits in short steps so that Ctrl-C reaches the driver at once."""
        import ray

        done = 0
        while self._outstanding and (stop_after is None or done < stop_after):
            ready, _ = ray.wait(list(self._outstanding), num_returns=1, timeout=POLL_S)
            for ref in ready:
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    outcome = exc
                done += 1
                yield ref, outcome

    def _reason(self, exc: BaseException) -> str:
        """One line: the job's own error, or the system failure after every retry."""
        import ray

        if isinstance(exc, ray.exceptions.RayTaskError):
            cause = exc.cause if exc.cause is not None else exc
            return f"{type(cause).__name__}: {first_line(cause)}"
        return (f"{type(exc).__name__} after {self.options.max_retries + 1} attempts: "
                f"{first_line(exc)}")


def _groups(jobs: list[Job]) -> Iterator[list[LayerJob | ModelJob]]:
    """Latency jobs grouped by the weights they measure (one load per group)."""
    groups: dict[Any, list[LayerJob | ModelJob]] = {}
    for job in jobs:
        assert isinstance(job, LayerJob | ModelJob)
        ident = job.source.key if job.source else (job.model, job.pattern, job.params_json)
        groups.setdefault(ident, []).append(job)
    yield from groups.values()


def _stored(sweep: Sweep, job: TrainJob) -> JobOutput:
    """A stored checkpoint as its training task would have returned it (its hashes)."""
    return JobOutput(checkpoints=[{"checkpoint_key": job.key, **sweep.writer.known[job.key]}])


def _known(sweep: Sweep, group: list[LayerJob | ModelJob]) -> dict[str, dict[str, str]]:
    source = group[0].source
    return {source.key: sweep.writer.known[source.key]} if source else {}


def _failed(ref: Any) -> bool:
    import ray

    try:
        ray.get(ref, timeout=0)
    except ray.exceptions.RayError:
        return True
    return False


def _on(node_id: str) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id, soft=False)


def _alive_nodes() -> list[dict[str, Any]]:
    import ray

    return [n for n in ray.nodes() if n["Alive"]]


def _latency_nodes() -> list[dict[str, Any]]:
    return [n for n in _alive_nodes() if n["Resources"].get(LATENCY_RESOURCE, 0) >= 1]


def _check_reachable(address: str | None) -> None:
    """A host:port address must accept a connection (Ray itself waits for minutes)."""
    host, sep, port = (address or "").rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return  # none, "auto", "ray://...": Ray resolves those itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise BadInput(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start "
                       "one with `ray start --head` (docs/executors.md) or fix --ray-address"
                       ) from None


def _has_latency(spec: SweepSpec) -> bool:
    return bool(spec.latency.layers or spec.latency.model or spec.latency.shape_models)
