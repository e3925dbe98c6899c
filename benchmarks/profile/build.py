"""The C kernels' shared object to profile: the same sources and flags as the one the
benchmarks load, plus ``-g`` for line tables (GCC emits the same code with or without
``-g``; ``same_text`` checks it), built once into its own cache folder."""

from __future__ import annotations

import subprocess
from pathlib import Path
from unittest import mock

DEBUG_FLAG = "-g"


def _shared_object(folder: Path) -> Path:
    from kernels_c import _build

    return next(folder.glob(f"{_build.MODULE_NAME}*.so"))


def production_object() -> Path:
    """The extension this process's kernels_c loads (built first if needed)."""
    from kernels_c import _build

    _build.load()
    return _shared_object(_build.cache_dir())


def debug_object() -> Path:
    """The extension built with the production flags plus ``-g`` (cached by its own hash)."""
    from kernels_c import _build

    with mock.patch.object(_build, "BASE_FLAGS", [*_build.BASE_FLAGS, DEBUG_FLAG]):
        dest = _build.cache_dir()
        if not any(dest.glob(f"{_build.MODULE_NAME}*.so")):
            _build._compile(dest)
    return _shared_object(dest)


def _text(so: Path) -> bytes:
    cmd = ["objcopy", "-O", "binary", "--only-section=.text", str(so), "/dev/stdout"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def same_text(a: Path, b: Path) -> bool:
    """True when the two objects carry byte-identical machine code (.text)."""
    return _text(a) == _text(b)
