"""Hand one prepared convolution to ``child.py`` under callgrind and read back what it did.

The parent (with torch) packs the weight; ``write_job`` puts the ``sb_packed`` fields,
arrays, the input and the call's arguments in a folder (recorded from the real
``PreparedConv.__call__``, so the child follows its C signature without restating it);
``run_callgrind`` runs the child under ``valgrind --tool=callgrind`` collecting only
inside ``sb_conv2d`` (Python start-up and the file reads are excluded); ``read_output``
returns the output the profiled call wrote, so it can be checked against the reference
like every timed call.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import torch

CHILD = Path(__file__).with_name("child.py")
COLLECT_FN = "sb_conv2d"
ERRLEN = 512


class _Recorder:
    """Stands in for the cffi lib during one ``PreparedConv`` call: ``sb_conv2d`` keeps its
    arguments instead of running; every other name is the real lib's."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self.args: tuple = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    def sb_conv2d(self, *args: Any) -> int:
        self.args = args
        return 0


def recorded_args(conv: Any, x: torch.Tensor) -> list[Any]:
    """The arguments ``conv(x, threads=1)`` passes to ``sb_conv2d``, as JSON: numbers,
    None for NULL, and the names of the buffers the child makes (packed, x, y, ran, err)."""
    from kernels_c import api

    ffi, lib = api._lib()
    recorder = _Recorder(lib)
    with mock.patch.object(api, "_lib", return_value=(ffi, recorder)):
        conv(x, threads=1)
    named = []
    for arg in recorder.args:
        if not isinstance(arg, ffi.CData):
            named.append(arg)
        elif arg == ffi.NULL:
            named.append(None)
        else:
            named.append(_buffer_name(ffi, arg, x))
    return named


def _buffer_name(ffi: Any, arg: Any, x: torch.Tensor) -> str:
    kind = ffi.typeof(arg)
    structs = {ffi.typeof("sb_packed *"): "packed", ffi.typeof("sb_ran *"): "ran"}
    if kind in structs:
        return structs[kind]
    if kind.cname.startswith("char"):
        return "err"
    if kind == ffi.typeof("float *"):
        return "x" if int(ffi.cast("uintptr_t", arg)) == x.data_ptr() else "y"
    raise ValueError(f"sb_conv2d takes a {kind.cname} this profile does not know how to pass")


def write_job(conv: Any, x: torch.Tensor, folder: Path) -> None:
    """Write ``conv`` (a kernels_c.PreparedConv without bias) and its call on batch-1 input
    ``x`` to ``folder``."""
    from kernels_c.api import _lib

    ffi, _ = _lib()
    scalars = {name: int(getattr(conv._struct, name))
               for name, field in ffi.typeof("sb_packed").fields
               if field.type.kind != "pointer"}
    arrays = [name for name, array in conv.packed.arrays.items() if array.size]
    for name in arrays:
        (folder / f"{name}.bin").write_bytes(conv.packed.arrays[name].tobytes())
    x = x.contiguous()
    (folder / "x.bin").write_bytes(x.numpy().tobytes())
    args = recorded_args(conv, x)
    (folder / "job.json").write_text(json.dumps({
        "scalars": scalars, "arrays": arrays, "args": args, "errlen": ERRLEN,
        "out_numel": math.prod(conv.out_shape(tuple(x.shape)))}))


@functools.cache
def valgrind_isa(so: Path) -> str:
    """The widest ISA of ``so`` that runs under valgrind (which emulates no AVX-512)."""
    from kernels_c import ISAS

    done = subprocess.run(["valgrind", "--tool=none", "-q", sys.executable, str(CHILD),
                           "--isa-mask", str(so)], capture_output=True, text=True, check=True)
    return ISAS[int(done.stdout.split()[-1]).bit_length() - 1]


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
