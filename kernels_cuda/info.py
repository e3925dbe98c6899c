"""``is_available`` and ``build_info``: what the CUDA backend can do here, without raising.

Both work on a machine with no GPU and no PyCUDA (they then say why), so the harness can
record the reason instead of crashing.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import torch

from kernels_cuda import build, runtime


def is_available() -> tuple[bool, str]:
    """(True, '') when the kernels can run on this machine, else (False, the reason)."""
    reason = runtime.unavailable_reason()
    return (True, "") if reason is None else (False, reason)


def _pycuda_version() -> str | None:
    try:
        return metadata.version("pycuda")
    except metadata.PackageNotFoundError:
        return None


def build_info() -> dict[str, Any]:
    """Compiler, flags, source hash and (when a GPU runs them) device, capability, driver."""
    ok, reason = is_available()
    info: dict[str, Any] = {
        "backend": "cuda",
        "compiler": "nvcc",
        "compiler_version": build.nvcc_version(),
        "nvcc": build.nvcc_path(),
        "flags": " ".join(build.FLAGS),
        "source_hash": build.source_hash(),
        "torch_cuda": torch.version.cuda,
        "pycuda": _pycuda_version(),
        "available": ok,
        "reason": reason,
        "device": None,
        "compute_capability": None,
        "arch": None,
        "driver": None,
    }
    if ok:
        rt = runtime.runtime(torch.cuda.current_device())
        major, minor = divmod(rt.driver_version // 10, 100)
        info.update(device=rt.name, compute_capability=rt.compute_capability, arch=rt.arch,
                    driver=f"{major}.{minor}")
    return info
