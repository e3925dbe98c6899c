"""Run one prepared C convolution once: the process valgrind profiles.

Imports only the standard library and the cffi extension (no torch: under valgrind its
import alone takes a minute).  ``job.py`` in the parent wrote the packed weight's struct
fields, its arrays and the input to a job folder; this script rebuilds the ``sb_packed``
struct from them, calls ``sb_conv2d`` once on one thread with the widest ISA the CPU
(as valgrind emulates it) runs, and writes the output and what
ran back.  Usage: ``python child.py JOB_DIR EXTENSION.so``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ERRLEN = 512


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
    struct = packed_struct(ffi, job, folder, keep)
    x = bytearray((folder / "x.bin").read_bytes())
    y = bytearray(4 * job["out_numel"])
    ran, err = ffi.new("sb_ran *"), ffi.new("char[]", ERRLEN)
    call = job["call"]
    isa = lib.sb_isa_mask().bit_length() - 1  # the widest ISA this (emulated) CPU runs
    rc = lib.sb_conv2d(struct, ffi.from_buffer("float *", x), 1, call["h"], call["w"],
                       call["stride"], call["stride"], call["padding"], call["padding"],
                       ffi.NULL, ffi.from_buffer("float *", y), 1, isa,
                       lib.SB_LAYOUT_AUTO, ran, err, ERRLEN)
    if rc:
        raise SystemExit(f"sb_conv2d failed ({rc}): {ffi.string(err).decode()}")
    (folder / "y.bin").write_bytes(bytes(y))
    kernel = ffi.string(lib.sb_kernel_name(ran.kernel)).decode()
    (folder / "ran.json").write_text(json.dumps({"threads": ran.threads, "layout": ran.layout,
                                                 "kernel": kernel}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
