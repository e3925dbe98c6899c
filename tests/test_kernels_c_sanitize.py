"""The correctness suite (reduced shape count) under AddressSanitizer + UBSan (-O0 build:
it compiles in seconds, and sanitizers see every access the source makes)."""

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
        "SPARSEBENCH_KC_SHAPES": "10",
        "LD_PRELOAD": libasan,
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    }
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(HERE)], env=env,
                          capture_output=True, text=True)
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode == 0, tail
    assert "sanitized suite ok" in proc.stdout, tail


# Runs inside the sanitized interpreter: the generated-shape suite on every pattern and ISA,
# then corrupted packed data and bad C arguments (error paths must stay clean under ASan).
SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import kernels_c
import test_kernels_c_correctness as correctness
import test_kernels_c_api as api
import test_kernels_c_depthwise as depthwise
assert "-fsanitize=address,undefined" in kernels_c.build_info()["flags"]
correctness.test_forced_layouts_agree("im2col")
for name in ["dense", "unstructured", "nm", "block", "cs", "filter"]:
    correctness.test_matches_torch_on_generated_shapes(name)
for name, params in [("dense", {}), ("block", {"n": 4, "sparsity": 0.5})]:
    correctness.test_one_pixel_tails_and_49_pixel_tiles_match_torch(name, params)
for case in [("unstructured", {"sparsity": 0.5}, "lidx", 200, "out of range"),
             ("cs", {"k": 4}, "lidx", 200, "cs row index")]:
    api.test_corrupted_packed_data_is_caught(*case)
api.test_c_side_rejects_bad_arguments()
for isa in kernels_c.available_isas():
    depthwise.test_depthwise_kernel_equals_torch_on_generated_shapes(isa, 20)
depthwise.test_depthwise_c_validates_its_arguments()
print("sanitized suite ok")
"""
