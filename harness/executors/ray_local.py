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
STOP_TIMEOUT_S = 30.0
OBJECT_STORE_BYTES = 80 * 2**20  # Ray's floor is 75 MiB
_STARTED = "Ray runtime started"
_ADDRESS = re.compile(r"ray start --address='([^']+)'")
# each node's own ports, so that two clusters (or two nodes) never collide
_PORT_OPTIONS = ("--node-manager-port", "--object-manager-port", "--metrics-export-port",
                 "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                 "--runtime-env-agent-port")
_HEAD_PORT_OPTIONS = ("--port", "--ray-client-server-port", "--dashboard-port")
WORKER_PORTS = 40  # worker processes of one node bind in a range of this size
# A throwaway cluster of this machine: no usage reports, no token (a driver needs the same
# settings to connect: pass CLIENT_ENV to its environment)
CLIENT_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


@dataclass(frozen=True)
class NodeSpec:
    """One node: its CPUs and whether it may measure latency."""

    cpus: int = 1
    latency: bool = True


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free right now on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _free_range(size: int) -> int:
    """The first port of ``size`` consecutive ports that are free right now."""
    for _ in range(50):
        first = free_ports(1)[0]
        if first + size > 65535:
            continue
        try:
            probes = [socket.create_server(("127.0.0.1", p)) for p in range(first, first + size)]
        except OSError:
            continue
        for probe in probes:
            probe.close()
        return first
    raise RuntimeError(f"no {size} consecutive free ports found")


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
        head = index == 0
        options = _PORT_OPTIONS + (_HEAD_PORT_OPTIONS if head else ())
        ports = free_ports(len(options))
        first_worker = _free_range(WORKER_PORTS)
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
                raise RuntimeError(f"ray start exited {proc.returncode}: {text[-2000:]}")
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
