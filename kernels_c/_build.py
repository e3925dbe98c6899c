"""Build and load the C kernels: cffi API mode, compiled on first import, cached.

The extension is keyed by sha256(sources + cdef + flags + compiler version + Python ABI)
and lives in ``<root>/kernels_c/<hash>/`` with ``<root>`` = ``$SPARSEBENCH_CACHE`` or
``~/.cache/sparsebench``.  A build goes to a temporary sibling directory that is renamed
into place atomically, so concurrent first imports cannot leave a half-written module.
``SPARSEBENCH_SANITIZE=1`` selects a separate AddressSanitizer + UBSan variant; it loads only
with ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)`` (``load`` says so in one line).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
from functools import cache
from pathlib import Path
from types import ModuleType

SRC_DIR = Path(__file__).with_name("src")
MODULE_NAME = "_sparsebench_kernels"
SOURCES = ["conv.c", "validate.c", "probe.c", "kernels_avx512.c", "kernels_avx2.c",
           "kernels_scalar.c", "epilogue.c", "depthwise.c", "pool.c"]
# the public API: the cffi cdef is read from these, plus what the kernel table generates
HEADERS = ["sb.h", "epilogue.h", "depthwise.h", "pool.h"]
TABLE_HEADER = "kernel_table.h"  # the one table of ISAs, layouts, formats and micro-kernels
KERNELS_HEADER = "kernels.h"  # the micro-kernels' signature (sb_kernel_fn)
BASE_FLAGS = ["-O3", "-fopenmp", "-march=x86-64-v2", "-std=gnu11", "-fno-strict-aliasing"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "-O0", "-g"]
# table -> the prefix of the C enum constant its rows become (kernel_table.h)
TABLE_PREFIX = {"ISA": "SB_ISA_", "LAYOUT": "SB_LAYOUT_", "FORMAT": "SB_FMT_",
                "FAMILY": "SB_FAMILY_"}


@cache
def kernel_table(name: str) -> tuple[tuple[str, ...], ...]:
    """The rows of ``SB_<name>_TABLE(X)`` in kernel_table.h, each ``X(a, b, ...)`` as a tuple
    of its fields, in table order (e.g. ``kernel_table("LAYOUT")[1] == ("DIRECT", "1")``)."""
    text = (SRC_DIR / TABLE_HEADER).read_text()
    match = re.search(rf"^#define SB_{name}_TABLE\(X\)((?:.*\\\n)*.*)$", text, flags=re.M)
    if not match:
        raise KeyError(f"{TABLE_HEADER} has no SB_{name}_TABLE")
    return tuple(tuple(field.strip() for field in row.split(","))
                 for row in re.findall(r"\bX\(([^)]*)\)", match.group(1)))


def table_codes(name: str) -> dict[str, int]:
    """Lower-case row name -> code of an enumerated table (ISA, LAYOUT, FORMAT, FAMILY)."""
    return {row[0].lower(): int(row[1]) for row in kernel_table(name)}


def micro_kernels() -> tuple[str, ...]:
    """Every micro-kernel function of the table, in table order (= its SB_KERNEL_* code)."""
    return tuple(row[0] for row in kernel_table("MICROKERNEL"))


def _table_cdef() -> str:
    """What the kernel table adds to the cdef: its enum constants and the micro-kernels'
    declarations, so every table name is an attribute of the compiled cffi lib."""
    lines = [f"#define {prefix}{row[0]} {int(row[1])}"
             for table, prefix in TABLE_PREFIX.items() for row in kernel_table(table)]
    lines += [f"#define SB_{table}S {len(kernel_table(table))}" for table in ("ISA", "LAYOUT")]
    lines.append(f"#define SB_KERNELS {len(micro_kernels())}")
    signature = re.search(r"typedef void \(\*sb_kernel_fn\)\((.*?)\);",
                          (SRC_DIR / KERNELS_HEADER).read_text(), flags=re.S)
    params = " ".join(signature.group(1).split())
    lines += [f"void {fn}({params});" for fn in micro_kernels()]
    return "\n".join(lines)


def _cdef() -> str:
    """The public declarations of HEADERS (the headers themselves, minus preprocessor lines)
    and of the kernel table."""
    text = "\n".join((SRC_DIR / name).read_text() for name in HEADERS)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = []
    for line in text.splitlines():
        match = re.match(r"#define (SB_\w+) (-?\d+)", line)
        if match:
            lines.append(f"#define {match.group(1)} {match.group(2)}")
        elif not line.startswith("#"):
            lines.append(line)
    return "\n".join(lines) + "\n" + _table_cdef()


@cache
def constant(name: str) -> int:
    """The value of C constant ``name`` (``#define name N`` in a header, or a kernel-table
    enum), read without compiling anything."""
    match = re.search(rf"^#define {name} (-?\d+)", _cdef(), flags=re.M)
    if not match:
        raise KeyError(f"the C headers define no {name}")
    return int(match.group(1))


def sanitize() -> bool:
    """True when SPARSEBENCH_SANITIZE asks for the ASan/UBSan variant."""
    return os.environ.get("SPARSEBENCH_SANITIZE", "") not in ("", "0")


def flags() -> list[str]:
    """Compile flags of the variant this process uses."""
    return BASE_FLAGS + (SANITIZE_FLAGS if sanitize() else [])


@cache
def compiler() -> tuple[str, str]:
    """(compiler command, first line of its --version)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=True)
        return cc, out.stdout.splitlines()[0].strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"kernels_c needs a C compiler; {cc!r} failed: {exc}") from exc


def source_hash() -> str:
    """sha256 over every C source/header, the cdef, the flags, compiler and Python ABI."""
    digest = hashlib.sha256()
    for path in sorted(SRC_DIR.glob("*.[ch]")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    extra = [_cdef(), " ".join(flags()), compiler()[1], sysconfig.get_config_var("EXT_SUFFIX")]
    digest.update("\0".join(map(str, extra)).encode())
    return digest.hexdigest()


CACHE_ENV = "SPARSEBENCH_CACHE"


def cache_dir() -> Path:
    """Directory holding the built extension for the current sources and flags."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sparsebench")
    return root / "kernels_c" / source_hash()[:32]


def _check_sanitizer_runtime() -> None:
    """The ASan build only loads when the ASan runtime is the first library of the process."""
    if sanitize() and "libasan" not in os.environ.get("LD_PRELOAD", ""):
        raise ValueError("SPARSEBENCH_SANITIZE=1 needs the ASan runtime loaded first: run with "
                         "LD_PRELOAD=$(gcc -print-file-name=libasan.so) "
                         "ASAN_OPTIONS=detect_leaks=0, or unset SPARSEBENCH_SANITIZE")


def _compile(dest: Path) -> None:
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(_cdef())
    link = ["-fopenmp"] + (["-fsanitize=address,undefined"] if sanitize() else [])
    ffi.set_source(
        MODULE_NAME,
        "".join(f'#include "{name}"\n' for name in [*HEADERS, KERNELS_HEADER]),
        sources=[str(SRC_DIR / name) for name in SOURCES],
        include_dirs=[str(SRC_DIR)],
        extra_compile_args=flags(),
        extra_link_args=link,
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=dest.parent))
    try:
        ffi.compile(tmpdir=str(tmp), verbose=False)
        for leftover in tmp.iterdir():  # keep only the shared object
            if not leftover.name.endswith(".so"):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.exists():  # lost a race only if the winner's directory is there
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@cache
def load() -> ModuleType:
    """The compiled cffi module (building it first if the cache has none)."""
    _check_sanitizer_runtime()
    dest = cache_dir()
    if not any(dest.glob(f"{MODULE_NAME}*.so")):
        try:
            with contextlib.suppress(FileExistsError):
                _compile(dest)
        except OSError as exc:  # the cache folder cannot be made or written
            raise ValueError(f"cannot build the C kernels in {dest.parent} "
                             f"({exc.strerror or exc}); set {CACHE_ENV} to a writable folder"
                             ) from None
    so = next(dest.glob(f"{MODULE_NAME}*.so"))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
