"""The CUDA-events clock (harness.cuda_clock) under the one timing routine, and the
verify-and-time path timing a GPU case with it. Skips without PyCUDA or a GPU."""

from __future__ import annotations

import pytest
import torch

import kernels_cuda

pytest.importorskip("pycuda.driver", reason="the CUDA-events clock needs PyCUDA")
AVAILABLE, REASON = kernels_cuda.is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not AVAILABLE, reason=REASON)]


def test_events_time_gpu_work_in_batches_of_calls():
    from harness.cuda_clock import CudaEventClock
    from harness.timing import measure

    a = torch.randn(1024, 1024, device="cuda")
    t = measure(lambda: a @ a, warmup=2, min_repeats=5, max_repeats=20, budget_s=2.0,
                clock=CudaEventClock())
    assert t.clock == "cuda-events" and t.calls_per_repeat >= 1
    # a 1024³ fp32 GEMM is 2.1 GFLOP: faster than 10 ms, slower than 1 µs on any GPU
    assert 1e-6 < t.min_s <= t.median_s < 1e-2


def test_a_cuda_layer_case_is_verified_and_timed_with_events():
    import patterns
    from harness.kernel_bench import make_case
    from harness.layers import ConvLayer
    from harness.verified import measure_case

    layer = ConvLayer("small", 64, 64, 3, 3, stride=1, padding=1, groups=1, height=14,
                      width=14)
    case = make_case(layer, patterns.make("dense"), batch=1)
    for backend in ("torch", "cuda"):
        measured = measure_case(case, backend, threads=1, device="cuda")
        assert measured.status == "ok", measured.row["message"]
        assert measured.timing.clock == "cuda-events"
        assert measured.row["max_rel_error"] <= 1e-4 and measured.row["median_s"] > 0
