"""Hand one prepared convolution to ``child.py`` under callgrind and read back what it did.

The parent (with torch) packs the weight; ``write_job`` puts the ``sb_packed`` fields,
arrays and the input in a folder; ``run_callgrind`` runs the child under
``valgrind --tool=callgrind`` collecting only inside ``sb_conv2d`` (Python start-up and
the file reads are excluded); ``read_output`` returns the output the profiled call wrote,
so it can be checked against the reference like every timed call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

CHILD = Path(__file__).with_name("child.py")
COLLECT_FN = "sb_conv2d"


def write_job(conv: Any, x: torch.Tensor, stride: int, padding: int, folder: Path) -> None:
    """Write ``conv`` (a kernels_c.PreparedConv) and batch-1 input ``x`` to ``folder``."""
    from kernels_c.api import _lib

    ffi, _ = _lib()
    scalars = {name: int(getattr(conv._struct, name))
               for name, field in ffi.typeof("sb_packed").fields
               if field.type.kind != "pointer"}
    arrays = [name for name, array in conv.packed.arrays.items() if array.size]
    for name in arrays:
        (folder / f"{name}.bin").write_bytes(conv.packed.arrays[name].tobytes())
    (folder / "x.bin").write_bytes(x.contiguous().numpy().tobytes())
    out_numel = 1
    for size in conv.out_shape(tuple(x.shape)):
        out_numel *= size
    call = {"h": x.shape[2], "w": x.shape[3], "stride": stride, "padding": padding}
    (folder / "job.json").write_text(json.dumps({"scalars": scalars, "arrays": arrays,
                                                 "call": call, "out_numel": out_numel}))


def valgrind_missing() -> str | None:
    """Why callgrind cannot run here, or None."""
    return None if shutil.which("valgrind") else "valgrind is not installed"


def run_callgrind(folder: Path, so: Path) -> Path:
    """Run the job in ``folder`` under callgrind with per-instruction and per-jump counts;
    the out file."""
    out = folder / "callgrind.out"
    cmd = ["valgrind", "--tool=callgrind", "--dump-instr=yes", "--collect-jumps=yes",
           "--collect-atstart=no",
           f"--toggle-collect={COLLECT_FN}", f"--callgrind-out-file={out}",
           sys.executable, str(CHILD), str(folder), str(so)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"callgrind run failed ({done.returncode}): {done.stderr[-2000:]}")
    return out


def read_output(folder: Path, shape: tuple[int, ...]) -> torch.Tensor:
    """The output the profiled call wrote."""
    data = bytearray((folder / "y.bin").read_bytes())
    return torch.frombuffer(data, dtype=torch.float32).reshape(shape)


def read_ran(folder: Path) -> dict[str, Any]:
    """What the profiled call reports it ran: threads, layout, micro-kernel function."""
    return json.loads((folder / "ran.json").read_text())
