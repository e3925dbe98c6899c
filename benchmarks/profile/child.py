"""Run one prepared C convolution once: the process valgrind profiles.

Imports only the standard library and the cffi extension (no torch: under valgrind its
import alone takes a minute).  ``job.py`` in the parent wrote the packed weight's struct
fields and arrays, the input, and the arguments ``kernels_c.PreparedConv`` passes to
``sb_conv2d`` (numbers, NULLs and the names of the buffers); this script rebuilds the
``sb_packed`` struct and the buffers, makes that one call and writes the output and what
ran back.  Usage: ``python child.py JOB_DIR EXTENSION.so``; ``python child.py --isa-mask
EXTENSION.so`` prints the ISAs the (possibly emulated) CPU runs, as ``sb_isa_mask``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path


def load_extension(so: Path):  # noqa: ANN201 - a cffi module
    spec = importlib.util.spec_from_file_location(so.name.split(".")[0], so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def packed_struct(ffi, job: dict, folder: Path, keep: list):  # noqa: ANN001, ANN201
    """The ``sb_packed`` of the job: integer fields as given, pointer fields from files."""
    struct = ffi.new("sb_packed *")
    for name, field in ffi.typeof("sb_packed").fields:
        if field.type.kind == "pointer":
            if name in job["arrays"]:
                keep.append(bytearray((folder / f"{name}.bin").read_bytes()))
                setattr(struct, name, ffi.from_buffer(field.type, keep[-1]))
        else:
            setattr(struct, name, job["scalars"][name])
    return struct


def main(folder: Path, so: Path) -> None:
    module = load_extension(so)
    ffi, lib = module.ffi, module.lib
    job = json.loads((folder / "job.json").read_text())
    keep: list = []
    x, y = bytearray((folder / "x.bin").read_bytes()), bytearray(4 * job["out_numel"])
    ran = ffi.new("sb_ran *")
    buffers = {"packed": packed_struct(ffi, job, folder, keep), "ran": ran,
               "x": ffi.from_buffer("float *", x), "y": ffi.from_buffer("float *", y),
               "err": ffi.new("char[]", job["errlen"])}
    args = [ffi.NULL if a is None else buffers[a] if isinstance(a, str) else a
            for a in job["args"]]
    rc = lib.sb_conv2d(*args)
    if rc:
        raise SystemExit(f"sb_conv2d failed ({rc}): {ffi.string(buffers['err']).decode()}")
    (folder / "y.bin").write_bytes(bytes(y))
    kernel = ffi.string(lib.sb_kernel_name(ran.kernel)).decode()
    (folder / "ran.json").write_text(json.dumps({"threads": ran.threads, "layout": ran.layout,
                                                 "kernel": kernel}))


if __name__ == "__main__":
    if sys.argv[1] == "--isa-mask":
        print(load_extension(Path(sys.argv[2])).lib.sb_isa_mask())
    else:
        main(Path(sys.argv[1]), Path(sys.argv[2]))
