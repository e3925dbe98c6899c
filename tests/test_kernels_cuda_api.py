"""kernels_cuda's API without a GPU: import without PyCUDA, availability, build_info and
the one-line ValueErrors of prepare/conv2d (checked before any GPU is needed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import kernels_cuda
import patterns

AVAILABLE, REASON = kernels_cuda.is_available()


def test_import_works_without_pycuda():
    code = textwrap.dedent("""
        import sys
        sys.modules["pycuda"] = None          # any import of pycuda now fails
        import kernels_cuda
        ok, reason = kernels_cuda.is_available()
        info = kernels_cuda.build_info()
        print(ok, "|", reason, "|", info["available"], info["device"])
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    ok, reason, rest = done.stdout.strip().split(" | ")
    assert ok == "False"
    assert "PyCUDA is not installed" in reason
    assert rest == "False None"


def test_is_available_is_a_pair_with_a_reason_when_false():
    assert isinstance(AVAILABLE, bool)
    assert AVAILABLE or REASON.strip()


def test_build_info_never_raises_and_names_the_compiler():
    info = kernels_cuda.build_info()
    assert info["compiler"] == "nvcc"
    assert info["flags"] == "-O3 -std=c++17"
    assert len(info["source_hash"]) == 16
    assert info["available"] is AVAILABLE
    assert (info["device"] is None) is not AVAILABLE


@pytest.mark.skipif(AVAILABLE, reason="this machine runs the kernels")
def test_prepare_without_a_gpu_says_why():
    p = patterns.make("nm", n=2, m=4)
    w = torch.randn(4, 8, 3, 3)
    with pytest.raises(RuntimeError, match="kernels_cuda is not available here"):
        kernels_cuda.prepare(w * p.mask(w), pattern=p)


def _masked(p, shape=(8, 16, 3, 3)):
    w = torch.randn(shape)
    return w * p.mask(w)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weight": torch.randn(8, 16, 3, 3)}, "non-zeros outside its nm"),
    ({"weight": torch.randn(8, 16)}, "weight must be 4-D"),
    ({"weight": torch.randn(8, 16, 3, 3).double()}, "float32 or float16"),
    ({"stride": 0}, "stride must be an int >= 1"),
    ({"stride": (1, 2, 3)}, "stride must be"),
    ({"padding": -1}, "padding must be an int >= 0"),
    ({"bias": torch.randn(7)}, r"bias must be a tensor of shape \(8,\)"),
    ({"bias": [0.0] * 8}, "bias must be a tensor"),
    ({"pattern": "nm"}, "no kernel for pattern None"),
    ({"weight": torch.zeros(8, 6, 3, 3)}, "not a multiple of"),
    ({"weight": torch.zeros(0, 8, 3, 3)}, "is empty"),
])
def test_bad_input_is_a_one_line_value_error(kwargs, message):
    p = patterns.make("nm", n=2, m=4)
    args = {"weight": _masked(p), "pattern": p, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        kernels_cuda.prepare(args.pop("weight"), **args)
    assert "\n" not in str(info.value)


def test_too_wide_staging_is_refused():
    p = patterns.make("nm", n=1, m=64)
    with pytest.raises(ValueError, match="m <= 32"):
        kernels_cuda.pack(_masked(p, (2, 64, 1, 1)), p)
    p = patterns.make("cs", k=64, d=1)
    with pytest.raises(ValueError, match="k <= 32"):
        kernels_cuda.pack(_masked(p, (2, 64, 1, 1)), p)


def test_every_pattern_has_a_kernel():
    assert kernels_cuda.supported_patterns() == sorted(patterns.available())
