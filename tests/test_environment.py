"""Environment capture: machine, software and git state, on this machine and from real
/proc and nvidia-smi texts."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from importlib import metadata

import pytest

import results
from harness import environment

X86_CPUINFO = """\
processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B45
physical id\t: 0
cpu cores\t: 2
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512bw avx512_vnni \
avx512_bf16 rdrand

processor\t: 1
model name\t: AMD EPYC 9B45
physical id\t: 0
cpu cores\t: 2
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512bw avx512_vnni \
avx512_bf16 rdrand
"""
ARM_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp sve sve2
CPU implementer\t: 0x41
"""
NVIDIA_SMI = "NVIDIA H100 80GB HBM3, 550.54.15, 81559\nNVIDIA H100 80GB HBM3, 550.54.15, 81559\n"


def test_parse_x86_cpuinfo():
    cpu = environment.parse_cpuinfo(X86_CPUINFO)
    assert cpu["cpu_model"] == "AMD EPYC 9B45"
    assert cpu["physical_cores"] == 2
    assert cpu["isa_flags"].split() == sorted(
        ["avx", "avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "f16c", "fma",
         "sse", "sse2", "sse4_1", "sse4_2", "ssse3"])  # fmt: skip


def test_parse_arm_cpuinfo():
    cpu = environment.parse_cpuinfo(ARM_CPUINFO)
    assert cpu["isa_flags"] == "asimd asimddp asimdhp sve sve2"
    assert cpu["cpu_model"] is None and cpu["physical_cores"] is None


def test_parse_meminfo_and_nvidia_smi():
    assert environment.parse_meminfo("MemTotal:       24684092 kB\nMemFree: 1 kB\n") == (
        24684092 * 1024
    )
    assert environment.parse_meminfo("") is None
    gpu = environment.parse_nvidia_smi(NVIDIA_SMI)
    assert gpu == {"gpu_name": "NVIDIA H100 80GB HBM3", "gpu_driver": "550.54.15",
                   "gpu_memory_bytes": 81559 * 2**20, "gpu_count": 2}  # fmt: skip
    assert environment.parse_nvidia_smi("\n") == {}


def test_capture_machine_here():
    machine = environment.capture_machine()
    assert machine["cores"] == os.cpu_count()
    assert machine["memory_bytes"] > 2**28
    assert machine["kernel"] == os.uname().release
    assert machine["os"] and machine["hostname"]
    if machine["arch"] == "x86_64":
        assert "sse2" in machine["isa_flags"].split()
    if shutil.which("nvidia-smi") is None and not os.path.exists("/proc/driver/nvidia"):
        assert machine["gpu_name"] is None and machine["gpu_count"] == 0
    json.dumps(machine)  # JSON-ready
    assert results.machine_id(machine) == results.machine_id(environment.capture_machine())


@pytest.mark.gpu
def test_capture_machine_sees_the_gpu():
    if shutil.which("nvidia-smi") is None:
        pytest.skip("no nvidia-smi: no NVIDIA GPU on this machine")
    machine = environment.capture_machine()
    assert machine["gpu_name"] and machine["gpu_driver"] and machine["gpu_memory_bytes"] > 2**30


def test_capture_software_here():
    software = environment.capture_software()
    assert software["python"] == platform.python_version()
    for package in ("torch", "numpy", "duckdb"):
        assert software[package] == metadata.version(package)
    if shutil.which("gcc"):
        assert software["compiler"].startswith("gcc ")
    json.dumps(software)


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_state(tmp_path):
    assert environment.git_state(tmp_path) == (None, None)
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    commit, dirty = environment.git_state(tmp_path)
    assert len(commit) == 40 and dirty is False
    (tmp_path / "untracked.txt").write_text("x")
    assert environment.git_state(tmp_path) == (commit, False)
    (tmp_path / "a.txt").write_text("two")
    assert environment.git_state(tmp_path) == (commit, True)
