"""GPU timing with CUDA events: warm up, then repeat until the estimate is tight.

Host timers measure launch overhead as much as the kernel; CUDA events bracket the GPU
work itself.  A sample times ``calls`` back-to-back calls (enough for ~1 ms), so that a
microsecond kernel is not drowned by the event resolution; the result is per call.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    """Per-call GPU seconds; fields as harness.timing.Timing, plus calls per sample."""

    median_s: float
    min_s: float
    p90_s: float
    stdev_s: float
    repeats: int
    warmup: int
    timed_s: float
    calls_per_repeat: int


def _elapsed_s(fn: Callable[[], object], calls: int) -> float:
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def cuda_measure(fn: Callable[[], object], *, warmup: int = 3, min_repeats: int = 5,
                 max_repeats: int = 100, budget_s: float = 1.0, target_rel_ci: float = 0.02,
                 min_sample_s: float = 1e-3) -> Timing:
    """Time ``fn()`` (which queues GPU work on torch's current stream) per call."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    once = max(_elapsed_s(fn, 1), 1e-7)
    calls = max(1, min(1000, math.ceil(min_sample_s / once)))
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_repeats:
        samples.append(_elapsed_s(fn, calls) / calls)
        if len(samples) < min_repeats:
            continue
        median = statistics.median(samples)
        ci = 1.96 * statistics.stdev(samples) / math.sqrt(len(samples))
        if ci <= target_rel_ci * median or time.perf_counter() - started > budget_s:
            break
    ordered = sorted(samples)
    return Timing(
        median_s=statistics.median(ordered),
        min_s=ordered[0],
        p90_s=ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)],
        stdev_s=statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        repeats=len(ordered),
        warmup=warmup,
        timed_s=sum(ordered) * calls,
        calls_per_repeat=calls,
    )
