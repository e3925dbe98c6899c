"""The correctness suite (reduced shape count) under AddressSanitizer + UBSan."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _libasan() -> str | None:
    try:
        out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out if os.path.isabs(out) and os.path.exists(out) else None


@pytest.mark.timeout(300)
def test_correctness_suite_passes_with_asan_and_ubsan() -> None:
    libasan = _libasan()
    if libasan is None:
        pytest.skip("gcc's libasan.so not found")
    env = {
        **os.environ,
        "SPARSEBENCH_SANITIZE": "1",
        "SPARSEBENCH_KC_SHAPES": "12",
        "LD_PRELOAD": libasan,
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    }
    tests = [str(HERE / "test_kernels_c_correctness.py"),
             str(HERE / "test_kernels_c_api.py") + "::test_corrupted_packed_data_is_caught",
             str(HERE / "test_kernels_c_api.py") + "::test_c_side_rejects_bad_arguments"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           *tests], env=env, capture_output=True, text=True)
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode == 0, tail
    assert "passed" in proc.stdout and "AddressSanitizer" not in tail
    check = "import kernels_c; print(kernels_c.build_info()['flags'])"
    flags = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True,
                           text=True, check=True).stdout
    assert "-fsanitize=address,undefined" in flags
