"""Capture the machine a measurement was made on, and open the run record every command
that writes results starts with (``begin_run``).

``capture_machine()`` returns a flat JSON-ready dict whose keys match the columns of the
results table ``machines`` (extra keys are kept by the store under ``details``); the
software and the code come from ``sparsebench.provenance``. Nothing here imports torch
except the GPU fallback when ``nvidia-smi`` is missing.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from pathlib import Path
from typing import Any

from sparsebench.provenance import code_state, command_output, software_versions

# /proc/cpuinfo flags that name a SIMD / matrix ISA extension (x86 "flags", ARM "Features")
_ISA_FLAG = re.compile(r"^(sse\d?|ssse\d|sse4_\d|sse4a|avx\w*|fma\d?|f16c|amx\w*|asimd\w*|sve\w*)$")
_NVIDIA_DEVICE_FILES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0")


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """CPU model, ISA flags and physical core count from the text of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    cores_per_package: dict[str, int] = {}
    package = "0"
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name, value = name.strip(), value.strip()
        fields.setdefault(name, value)
        if name == "physical id":
            package = value
        elif name == "cpu cores":
            cores_per_package[package] = int(value)
    flags = fields.get("flags") or fields.get("Features") or ""
    isa = sorted({f for f in flags.split() if _ISA_FLAG.match(f)})
    return {
        "cpu_model": fields.get("model name") or fields.get("Model") or None,
        "isa_flags": " ".join(isa) or None,
        "physical_cores": sum(cores_per_package.values()) or None,
    }


def parse_meminfo(text: str) -> int | None:
    """Total memory in bytes from the text of /proc/meminfo."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def parse_nvidia_smi(text: str) -> dict[str, Any]:
    """GPU name, driver and memory from ``nvidia-smi --query-gpu=name,driver_version,
    memory.total --format=csv,noheader,nounits`` (one line per GPU; the first is kept)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    name, driver, memory_mib = (part.strip() for part in lines[0].split(",")[:3])
    return {
        "gpu_name": name,
        "gpu_driver": driver,
        "gpu_memory_bytes": int(float(memory_mib) * 1024 * 1024),
        "gpu_count": len(lines),
    }


def _gpu() -> dict[str, Any]:
    query = "--query-gpu=name,driver_version,memory.total"
    smi = command_output(["nvidia-smi", query, "--format=csv,noheader,nounits"])
    if smi:
        return parse_nvidia_smi(smi)
    if not any(Path(p).exists() for p in _NVIDIA_DEVICE_FILES):
        return {}  # no NVIDIA driver: skip importing torch (seconds) just to learn that
    try:
        import torch
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        return {}
    props = torch.cuda.get_device_properties(0)
    return {
        "gpu_name": props.name,
        "gpu_driver": None,
        "gpu_memory_bytes": int(props.total_memory),
        "gpu_count": torch.cuda.device_count(),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release()["PRETTY_NAME"]
    except (OSError, KeyError):
        return platform.platform(terse=True)


def capture_machine() -> dict[str, Any]:
    """The machine: host, CPU (model, cores, ISA flags), memory, OS, kernel and GPU."""
    machine: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "cpu_model": platform.processor() or None,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "isa_flags": None,
        "memory_bytes": parse_meminfo(_read("/proc/meminfo")),
        "os": _os_name(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "gpu_name": None,
        "gpu_driver": None,
        "gpu_memory_bytes": None,
        "gpu_count": 0,
    }
    cpu = parse_cpuinfo(_read("/proc/cpuinfo"))
    machine.update({k: v for k, v in cpu.items() if v is not None})
    machine.update(_gpu())
    return machine


def openmp_env() -> dict[str, str]:
    """OpenMP settings of this process (wait policy, affinity): they change multi-thread
    timings a lot, so every run records them."""
    return {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "KMP_"))}


def begin_run(store: Any, name: str, spec_text: str, notes: dict[str, Any]
              ) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Open a run of ``name`` in the results ``store`` recorded with this machine, this
    software and the code that runs -- the project's commit, dirty flag and source
    fingerprint (in the notes), never those of the current folder. (run_id, machine,
    software)."""
    machine, software, code = capture_machine(), software_versions(), code_state()
    run_id = store.begin_run(name, spec_text, machine, software, code.commit, code.dirty,
                             notes={**notes, "code_fingerprint": code.fingerprint})
    return run_id, machine, software
