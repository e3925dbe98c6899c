"""Machine capture, on this machine and from real /proc and nvidia-smi texts (the software
and git state: tests/test_provenance.py)."""

from __future__ import annotations

import json
import os
import shutil

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
