"""Capture the machine and software a measurement was made on (stored with every run).

``capture_machine()`` and ``capture_software()`` return flat JSON-ready dicts whose keys
match the columns of the results tables ``machines`` and ``software`` (extra keys are kept
by the store under ``details``); ``git_state()`` gives the commit and dirty flag. Nothing
here imports torch except the GPU fallback when ``nvidia-smi`` is missing.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# /proc/cpuinfo flags that name a SIMD / matrix ISA extension (x86 "flags", ARM "Features")
_ISA_FLAG = re.compile(r"^(sse\d?|ssse\d|sse4_\d|sse4a|avx\w*|fma\d?|f16c|amx\w*|asimd\w*|sve\w*)$")
_PACKAGES = ("torch", "torchvision", "numpy", "duckdb", "pandas", "pyarrow", "cffi")
_COMMAND_TIMEOUT_S = 10
_NVIDIA_DEVICE_FILES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0")


def _run(command: list[str], cwd: str | Path | None = None) -> str | None:
    """stdout of a command, or None when it is missing, fails or hangs."""
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


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
    smi = _run(["nvidia-smi", query, "--format=csv,noheader,nounits"])
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


def _torch_cuda() -> str | None:
    """The CUDA version torch was built with, read from torch/version.py without importing
    torch (seconds of start-up)."""
    try:
        text = Path(metadata.distribution("torch").locate_file("torch/version.py")).read_text()
    except (metadata.PackageNotFoundError, OSError):
        return None
    match = re.search(r"^cuda\b.*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return match.group(1) if match else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _compiler() -> str | None:
    compiler = os.environ.get("CC", "gcc")
    version = _run([compiler, "-dumpfullversion", "-dumpversion"])
    return f"{Path(compiler).name} {version.strip()}" if version else None


def _nvcc() -> str | None:
    text = _run(["nvcc", "--version"])
    match = re.search(r"release ([\d.]+)", text or "")
    return match.group(1) if match else None


def capture_software() -> dict[str, Any]:
    """Versions: Python, torch, torchvision, numpy, duckdb (+ pandas, pyarrow, cffi), the C
    compiler, the CUDA toolkit (nvcc) and torch's CUDA, and sparsebench itself."""
    software: dict[str, Any] = {"python": platform.python_version()}
    software.update({package: _version(package) for package in _PACKAGES})
    software.update(
        {
            "compiler": _compiler(),
            "cuda": _nvcc(),
            "torch_cuda": _torch_cuda(),
            "sparsebench": _version("sparsebench"),
            "python_implementation": platform.python_implementation(),
        }
    )
    return software


def git_state(path: str | Path = ".") -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout at ``path``; (None, None) outside git.

    Dirty means tracked files differ from the commit; untracked files do not count.
    """
    commit = _run(["git", "-C", str(path), "rev-parse", "HEAD"])
    if commit is None:
        return None, None
    status = _run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"])
    return commit.strip(), bool(status and status.strip())


def openmp_env() -> dict[str, str]:
    """OpenMP settings of this process (wait policy, affinity): they change multi-thread
    timings a lot, so every run records them."""
    return {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "GOMP_", "KMP_"))}
