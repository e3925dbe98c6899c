"""A throwaway Ray cluster on this machine: a head and more nodes started with ``ray start``.

For tests, benchmarks and trying ``--executor ray`` out: every node gets its own resources
(CPUs, the latency resource), its own ports and a small object store, all under one
temporary folder. Each ``ray start --block`` process is stopped by its PID (SIGTERM, which
makes it stop the Ray processes it started), never with ``ray stop``, which would stop every
Ray of this user on the machine.

    with LocalCluster([NodeSpec(cpus=1), NodeSpec(cpus=1)]) as cluster:
        run ... --executor ray --ray-address cluster.address
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.executors.ray_cluster import LATENCY_RESOURCE

START_TIMEOUT_S = 180.0
START_ATTEMPTS = 3  # a port taken by another program between the probe and Ray's bind
STOP_TIMEOUT_S = 30.0
OBJECT_STORE_BYTES = 80 * 2**20  # Ray's floor is 75 MiB
_STARTED = "Ray runtime started"
_ADDRESS = re.compile(r"ray start --address='([^']+)'")
_CLASH = re.compile(r"port .*(used by other components|already in use)|Address already in use",
                    re.IGNORECASE)
# each node's own ports, so that two clusters (or two nodes) never collide
_PORT_OPTIONS = ("--node-manager-port", "--object-manager-port", "--metrics-export-port",
                 "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                 "--runtime-env-agent-port")
_HEAD_PORT_OPTIONS = ("--port", "--ray-client-server-port", "--dashboard-port")
WORKER_PORTS = 40  # worker processes of one node bind in a range of this size
# A throwaway cluster of this machine: no usage reports, no token (a driver needs the same
# settings to connect: pass CLIENT_ENV to its environment)
CLIENT_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


class _PortClash(RuntimeError):
    """``ray start`` stopped because a port it was given is taken."""


@dataclass(frozen=True)
class NodeSpec:
    """One node: its CPUs and whether it may measure latency."""

    cpus: int = 1
    latency: bool = True


def _ephemeral_low() -> int:
    """The first port the kernel hands out to outgoing connections (32768 if unknown)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_block(size: int, avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """The first port of ``size`` consecutive ports free right now, below the kernel's
    ephemeral range (there, Ray's own outgoing connections could take one between this
    probe and the node's bind) and outside ``avoid``."""
    high = _ephemeral_low() - size
    rng = random.SystemRandom()
    for _ in range(200):
        first = rng.randrange(10000, high)
        if avoid.intersection(range(first, first + size)):
            continue
        try:
            probes = [socket.create_server(("127.0.0.1", p)) for p in range(first, first + size)]
        except OSError:
            continue
        for probe in probes:
            probe.close()
        return first
    raise RuntimeError(f"no {size} consecutive free ports found below {high + size}")


class LocalCluster:
    """Start the nodes on entry (the first is the head), stop them by PID on exit.

    ``env`` is added to every node's environment (the workers inherit it), e.g. a
    PYTHONPATH holding the project; ``marker`` is set there too, so that the cluster's own
    processes can be told from any other Ray on the machine (``processes``).
    """

    def __init__(self, nodes: list[NodeSpec], env: dict[str, str] | None = None) -> None:
        self.nodes = nodes
        self.root = Path(tempfile.mkdtemp(prefix="sbray-", dir="/tmp"))  # socket paths: short
        self.marker = f"SPARSEBENCH_CLUSTER={self.root}"
        self.env = {**os.environ, **(env or {}), "SPARSEBENCH_CLUSTER": str(self.root),
                    **CLIENT_ENV}
        self.address = ""
        self._procs: list[subprocess.Popen] = []
        self._taken: set[int] = set()

    def __enter__(self) -> LocalCluster:
        try:
            for index, node in enumerate(self.nodes):
                self._start(index, node)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, index: int, node: NodeSpec) -> None:
        """Start one node on a block of ports of its own; on a port clash (another
        program bound one after the probe) start it again on a fresh block."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_once(index, node)
                return
            except _PortClash:
                if attempt == START_ATTEMPTS:
                    raise
                shutil.rmtree(self.root / f"node{index}", ignore_errors=True)

    def _start_once(self, index: int, node: NodeSpec) -> None:
        head = index == 0
        options = _PORT_OPTIONS + (_HEAD_PORT_OPTIONS if head else ())
        # one block per node: its own ports, then its workers' range; blocks of earlier
        # nodes are avoided even where nothing is bound yet (workers bind lazily)
        first = free_block(len(options) + WORKER_PORTS, self._taken)
        self._taken.update(range(first, first + len(options) + WORKER_PORTS))
        ports = range(first, first + len(options))
        first_worker = first + len(options)
        resources = {LATENCY_RESOURCE: 1} if node.latency else {}
        command = [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
            "--node-ip-address", "127.0.0.1", "--num-cpus", str(node.cpus), "--num-gpus", "0",
            "--resources", json.dumps(resources), "--object-store-memory",
            str(OBJECT_STORE_BYTES), "--temp-dir", str(self.root / f"node{index}"),
            "--min-worker-port", str(first_worker),
            "--max-worker-port", str(first_worker + WORKER_PORTS - 1),
            "--disable-usage-stats",
            *(arg for pair in zip(options, map(str, ports), strict=True) for arg in pair),
            *(["--head", "--include-dashboard", "false"] if head
              else ["--address", self.address]),
        ]
        log = self.root / f"node{index}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                    start_new_session=True)
        self._procs.append(proc)
        text = self._wait_started(proc, log)
        if head:
            found = _ADDRESS.search(text)
            if found is None:
                raise RuntimeError(f"ray start printed no address; see {log}")
            self.address = found.group(1)

    @staticmethod
    def _wait_started(proc: subprocess.Popen, log: Path) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = log.read_text()
            if _STARTED in text:
                return text
            if proc.poll() is not None:
                error = _PortClash if _CLASH.search(text) else RuntimeError
                raise error(f"ray start exited {proc.returncode}: {text[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"ray start did not start within {START_TIMEOUT_S:.0f} s; see {log}")

    def processes(self, title_prefix: str = "") -> list[int]:
        """PIDs of this cluster's processes (found by the marker in their environment)
        whose command line starts with ``title_prefix`` (e.g. a task's ``ray::name``)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if self.marker.encode() in environ.split(b"\0") and \
                    cmdline.startswith(title_prefix):
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """SIGTERM each ``ray start --block`` (nodes first, head last), then SIGKILL what
        is left of this cluster's processes; remove the temporary folder."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for pid in self.processes():
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)
