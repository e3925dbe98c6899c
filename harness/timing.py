"""The one timing routine: warm up, then repeat until the median is known — on any clock.

``measure`` repeats a zero-argument callable until the 95 % confidence interval of the
median (distribution-free, from order statistics) is within ``target_rel_ci`` of the
median, or the time budget / ``max_repeats`` ends; ``min_repeats`` always run. What a
sample is comes from the ``Clock``: ``HostClock`` brackets one call with
``perf_counter_ns``; the CUDA-events clock (``harness.cuda_clock``) brackets back-to-back
calls with CUDA events. It records the summary statistics the results store keeps (median
and its 95 % interval, min, p90, p99, stdev, repeats) and ``timed_s``, the time spent
inside timed calls, so a caller can report its own overhead. ``pinned_threads`` fixes
torch's intra-op thread count for the measured call.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Protocol

Z95 = 1.959964  # two-sided 95 % normal quantile
MAX_CALLS_PER_SAMPLE = 1000


class Clock(Protocol):
    """What a sample is: the seconds ``calls`` back-to-back calls of ``fn`` take.

    ``min_sample_s``: a sample lasts at least this long (``measure`` picks the calls per
    sample from one timed call), so that a clock's resolution does not drown a short call.
    """

    name: str
    min_sample_s: float

    def elapsed_s(self, fn: Callable[[], object], calls: int) -> float: ...


class HostClock:
    """Wall time on the host (``time.perf_counter_ns``), one call per sample."""

    name = "host"
    min_sample_s = 0.0

    def elapsed_s(self, fn: Callable[[], object], calls: int) -> float:
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        return (time.perf_counter_ns() - start) * 1e-9


HOST = HostClock()


@dataclass(frozen=True)
class TimingSettings:
    """Warm-up and repeat policy of one ``measure`` call (the sweep's ``[timing]`` table
    has the same fields)."""

    warmup: int = 3
    min_repeats: int = 5
    max_repeats: int = 200
    budget_s: float = 1.0
    target_rel_ci: float = 0.02


@dataclass(frozen=True)
class Timing:
    """Summary of one ``measure`` call; times in seconds per call."""

    median_s: float
    min_s: float
    p90_s: float
    p99_s: float
    stdev_s: float
    repeats: int
    warmup: int
    median_lo_s: float  # the median's distribution-free 95 % confidence interval
    median_hi_s: float
    timed_s: float
    rel_ci: float  # half-width of the median's 95 % CI / median (inf if not estimable)
    stopped_by: str  # 'ci' | 'budget' | 'max_repeats'
    clock: str = HOST.name
    calls_per_repeat: int = 1

    def as_row(self) -> dict[str, float | int]:
        """The measurement-table columns this timing fills."""
        row = asdict(self)
        for extra in ("timed_s", "rel_ci", "stopped_by", "clock", "calls_per_repeat"):
            row.pop(extra)
        return row


def median_ci(samples: list[float], z: float = Z95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics.

    Uses the normal approximation of the binomial: ranks ``n/2 -/+ z*sqrt(n)/2``. With few
    samples the ranks clip to the extremes, so the interval is conservative, never narrow.
    """
    ordered = sorted(samples)
    n = len(ordered)
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2 + half))
    return ordered[lo], ordered[hi]


def relative_ci(samples: list[float]) -> float:
    """Half-width of the median's 95 % CI divided by the median (inf when undefined)."""
    if len(samples) < 2:
        return math.inf
    med = statistics.median(samples)
    if med <= 0:
        return math.inf
    lo, hi = median_ci(samples)
    return (hi - lo) / 2 / med


def percentile(samples: list[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def check_args(warmup: int, min_repeats: int, max_repeats: int, budget_s: float,
               target_rel_ci: float) -> None:
    """ValueError (one line) for a repeat policy ``measure`` cannot follow."""
    if warmup < 0:
        raise ValueError(f"warmup={warmup} is negative; pass 0 or more")
    if min_repeats < 1 or max_repeats < min_repeats:
        raise ValueError(
            f"repeats must satisfy 1 <= min_repeats <= max_repeats, got {min_repeats}, "
            f"{max_repeats}"
        )
    if budget_s <= 0 or target_rel_ci <= 0:
        raise ValueError(
            f"budget_s ({budget_s}) and target_rel_ci ({target_rel_ci}) must be positive"
        )


def _summary(samples: list[float], *, warmup: int, stopped_by: str, clock: str = HOST.name,
              calls_per_repeat: int = 1) -> Timing:
    """The ``Timing`` of per-call ``samples`` (seconds), each of ``calls_per_repeat`` calls."""
    median_lo_s, median_hi_s = median_ci(samples)
    return Timing(
        median_s=statistics.median(samples),
        min_s=min(samples),
        p90_s=percentile(samples, 90),
        p99_s=percentile(samples, 99),
        stdev_s=statistics.stdev(samples) if len(samples) > 1 else 0.0,
        repeats=len(samples),
        warmup=warmup,
        median_lo_s=median_lo_s,
        median_hi_s=median_hi_s,
        timed_s=math.fsum(samples) * calls_per_repeat,
        rel_ci=relative_ci(samples),
        stopped_by=stopped_by,
        clock=clock,
        calls_per_repeat=calls_per_repeat,
    )


def _calls_per_sample(fn: Callable[[], object], clock: Clock) -> int:
    """Back-to-back calls that make one sample last ``clock.min_sample_s`` (1 … 1000)."""
    if clock.min_sample_s <= 0:
        return 1
    once = max(clock.elapsed_s(fn, 1), 1e-9)
    return max(1, min(MAX_CALLS_PER_SAMPLE, math.ceil(clock.min_sample_s / once)))


def measure(
    fn: Callable[[], object],
    *,
    warmup: int = TimingSettings.warmup,
    min_repeats: int = TimingSettings.min_repeats,
    max_repeats: int = TimingSettings.max_repeats,
    budget_s: float = TimingSettings.budget_s,
    target_rel_ci: float = TimingSettings.target_rel_ci,
    clock: Clock = HOST,
) -> Timing:
    """Time ``fn()`` on ``clock``: ``warmup`` untimed calls, then samples until the median
    is tight.

    Stops after ``min_repeats`` as soon as the median's 95 % CI half-width is within
    ``target_rel_ci`` of the median, or when ``budget_s`` of host wall time (counted from
    the first timed call) or ``max_repeats`` is used up. The garbage collector is paused
    during timed calls, as in ``timeit``.
    """
    check_args(warmup, min_repeats, max_repeats, budget_s, target_rel_ci)
    for _ in range(warmup):
        fn()
    calls = _calls_per_sample(fn, clock)
    samples: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        stopped_by = "max_repeats"
        while len(samples) < max_repeats:
            samples.append(clock.elapsed_s(fn, calls) / calls)
            if len(samples) < min_repeats:
                continue
            if relative_ci(samples) <= target_rel_ci:
                stopped_by = "ci"
                break
            if (time.perf_counter_ns() - start) * 1e-9 >= budget_s:
                stopped_by = "budget"
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return _summary(samples, warmup=warmup, stopped_by=stopped_by, clock=clock.name,
                     calls_per_repeat=calls)


def measure_with(fn: Callable[[], object], settings: TimingSettings,
                 clock: Clock = HOST) -> Timing:
    """``measure`` under a settings object (``TimingSettings`` or the spec's ``TimingSpec``)."""
    return measure(fn, warmup=settings.warmup, min_repeats=settings.min_repeats,
                   max_repeats=settings.max_repeats, budget_s=settings.budget_s,
                   target_rel_ci=settings.target_rel_ci, clock=clock)


@contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(threads)``; restore the old count after."""
    import torch

    if threads < 1:
        raise ValueError(f"threads={threads}: pass a thread count of 1 or more")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
