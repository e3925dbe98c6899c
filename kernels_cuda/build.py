"""nvcc side of the CUDA kernels: compile each ``src/*.cu`` to a cubin, cached by hash + arch.

Needs only nvcc (no GPU, no PyCUDA), so CI compiles every kernel for sm_80 and sm_90 on
machines without a GPU, and ``ptxas_usage`` reads ptxas' register / shared-memory report.
The cache key covers every source file, the flags and the nvcc version, so an edited
kernel or a new toolkit never loads a stale cubin.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SRC_DIR = Path(__file__).with_name("src")
FLAGS: tuple[str, ...] = ("-O3", "-std=c++17")
"""Flags for every compile (besides -arch/-cubin); recorded with every result."""


def sources() -> list[Path]:
    """The kernel translation units, one kernel family per file."""
    return sorted(SRC_DIR.glob("*.cu"))


def family_source(family: str) -> Path:
    """``src/<family>.cu``; ValueError naming the families if there is none."""
    path = SRC_DIR / f"{family}.cu"
    if not path.is_file():
        names = ", ".join(p.stem for p in sources())
        raise ValueError(f"no CUDA kernel family {family!r}; families: {names}")
    return path


def nvcc_path() -> str | None:
    """nvcc on PATH, else under $CUDA_HOME / $CUDA_PATH, else None."""
    found = shutil.which("nvcc")
    if found:
        return found
    for var in ("CUDA_HOME", "CUDA_PATH"):
        root = os.environ.get(var)
        if root and (Path(root) / "bin" / "nvcc").is_file():
            return str(Path(root) / "bin" / "nvcc")
    return None


@functools.cache
def nvcc_version() -> str | None:
    """nvcc's release, e.g. ``'13.0.88'`` (None without nvcc)."""
    nvcc = nvcc_path()
    if nvcc is None:
        return None
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"V(\d+\.\d+\.\d+)", out.stdout)
    return match.group(1) if match else out.stdout.strip().splitlines()[-1]


def source_hash() -> str:
    """sha256 over every source and header, the flags and the nvcc version (16 hex digits)."""
    digest = hashlib.sha256()
    for path in sorted([*SRC_DIR.glob("*.cu"), *SRC_DIR.glob("*.cuh")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(" ".join(FLAGS).encode() + b"\0" + str(nvcc_version()).encode())
    return digest.hexdigest()[:16]


def compile_command(source: Path, arch: str, out: Path, *, verbose: bool = False) -> list[str]:
    """The nvcc command line that turns ``source`` into a cubin for ``arch`` (e.g. sm_90)."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise RuntimeError("nvcc not found on PATH or in $CUDA_HOME; install the CUDA toolkit")
    cmd = [nvcc, f"-arch={arch}", "-cubin", *FLAGS, "-I", str(SRC_DIR), "-o", str(out)]
    if verbose:
        cmd += ["-Xptxas", "-v"]
    return [*cmd, str(source)]


def compile_cubin(source: Path, arch: str, out: Path, *, verbose: bool = False) -> str:
    """Compile ``source`` to ``out``; returns nvcc's output (ptxas report when verbose)."""
    done = subprocess.run(compile_command(source, arch, out, verbose=verbose),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"nvcc failed on {source.name} for {arch}: {tail}")
    return done.stdout + done.stderr


def cache_dir() -> Path:
    """Where cubins are cached: $SPARSEBENCH_CACHE or ~/.cache/sparsebench, per source hash."""
    root = Path(os.environ.get("SPARSEBENCH_CACHE", Path.home() / ".cache" / "sparsebench"))
    return root / "kernels_cuda" / source_hash()


def cached_cubin(family: str, arch: str) -> Path:
    """The cubin of ``family`` for ``arch``, compiled on first use (atomic rename)."""
    target = cache_dir() / f"{family}_{arch}.cubin"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            scratch = Path(tmp) / target.name
            compile_cubin(family_source(family), arch, scratch)
            os.replace(scratch, target)
    return target


@dataclass(frozen=True)
class KernelUsage:
    """What ptxas reports for one entry point."""

    name: str
    arch: str
    registers: int
    shared_bytes: int
    spill_bytes: int  # spill stores + spill loads


_ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(\w+)'")
_SPILL = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")


def ptxas_usage(log: str) -> list[KernelUsage]:
    """Parse the ``-Xptxas -v`` report of one compile into one record per entry point."""
    usages: list[KernelUsage] = []
    blocks = _ENTRY.split(log)
    # split() gives [prefix, name, arch, body, name, arch, body, ...]
    for name, arch, body in zip(blocks[1::3], blocks[2::3], blocks[3::3], strict=True):
        regs, spill, smem = _REGS.search(body), _SPILL.search(body), _SMEM.search(body)
        usages.append(KernelUsage(
            name=name, arch=arch,
            registers=int(regs.group(1)) if regs else 0,
            shared_bytes=int(smem.group(1)) if smem else 0,
            spill_bytes=int(spill.group(1)) + int(spill.group(2)) if spill else 0,
        ))
    return usages
