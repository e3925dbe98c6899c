"""harness.timing: adaptive repeats stay bounded and the statistics are consistent."""

import math
import time

import pytest

from harness.timing import (
    Timing,
    measure,
    median_ci,
    percentile,
    pinned_threads,
    relative_ci,
)


def test_measure_fields_are_consistent_for_a_sleep():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.001)

    t = measure(fn, warmup=2, min_repeats=5, max_repeats=40, budget_s=0.5, target_rel_ci=0.5)
    assert isinstance(t, Timing)
    assert 5 <= t.repeats <= 40
    assert len(calls) == t.repeats + 2
    assert t.warmup == 2
    assert 0.001 <= t.min_s <= t.median_s <= t.p90_s <= t.p99_s
    assert t.stdev_s >= 0
    assert t.timed_s >= t.repeats * t.min_s
    assert t.stopped_by in {"ci", "budget", "max_repeats"}
    assert set(t.as_row()) == {"median_s", "min_s", "p90_s", "p99_s", "stdev_s", "repeats",
                               "warmup", "median_lo_s", "median_hi_s"}
    assert t.min_s <= t.median_lo_s <= t.median_s <= t.median_hi_s


def test_max_repeats_bounds_an_unreachable_target():
    t = measure(lambda: None, warmup=0, min_repeats=3, max_repeats=7, budget_s=10.0,
                target_rel_ci=1e-12)
    assert t.repeats == 7
    assert t.stopped_by == "max_repeats"


def test_budget_ends_the_repeats():
    t = measure(lambda: time.sleep(0.002), warmup=0, min_repeats=2, max_repeats=10_000,
                budget_s=0.05, target_rel_ci=1e-12)
    assert t.stopped_by == "budget"
    assert 2 <= t.repeats < 100


def test_min_repeats_always_run_even_past_the_budget():
    t = measure(lambda: time.sleep(0.01), warmup=0, min_repeats=4, budget_s=0.001)
    assert t.repeats == 4


def test_constant_samples_have_a_zero_width_interval():
    samples = [2.0] * 30
    assert median_ci(samples) == (2.0, 2.0)
    assert relative_ci(samples) == 0.0
    assert relative_ci([1.0]) == math.inf


def test_median_ci_brackets_the_median_and_narrows_with_n():
    small = [float(i) for i in range(10)]
    large = [float(i % 10) for i in range(1000)]
    lo, hi = median_ci(small)
    assert (lo, hi) == (0.0, 9.0)  # too few samples: the interval is the full range
    lo, hi = median_ci(large)
    assert lo <= 4.5 <= hi and hi - lo <= 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)


@pytest.mark.parametrize("kwargs", [{"warmup": -1}, {"min_repeats": 0},
                                    {"min_repeats": 5, "max_repeats": 4}, {"budget_s": 0}])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        measure(lambda: None, **kwargs)


def test_pinned_threads_restores_torch_threads():
    import torch

    before = torch.get_num_threads()
    with pinned_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError), pinned_threads(0):
        pass


class ScriptedClock:
    """A deterministic clock: each sample of ``calls`` calls lasts the next scripted
    per-call time (the pluggable interface ``measure`` times with)."""

    name = "scripted"

    def __init__(self, per_call_s: list[float], min_sample_s: float = 0.0) -> None:
        self.script = iter(per_call_s)
        self.min_sample_s = min_sample_s
        self.calls: list[int] = []

    def elapsed_s(self, fn, calls: int) -> float:
        for _ in range(calls):
            fn()
        self.calls.append(calls)
        return next(self.script) * calls


def test_a_scripted_clock_gives_the_known_median_ci_and_percentiles():
    runs = []
    clock = ScriptedClock([5.0, 1.0, 4.0, 2.0, 3.0])
    t = measure(lambda: runs.append(1), warmup=2, min_repeats=5, max_repeats=5,
                budget_s=1e9, target_rel_ci=1e-9, clock=clock)
    # n = 5: h = 1.96·√5/2 = 2.19, ranks clip to 0 and 4: the CI is the full range
    assert (t.median_s, t.min_s, t.median_lo_s, t.median_hi_s) == (3.0, 1.0, 1.0, 5.0)
    assert t.p90_s == pytest.approx(4.6) and t.p99_s == pytest.approx(4.96)
    assert t.stdev_s == pytest.approx(math.sqrt(2.5)) and t.rel_ci == pytest.approx(4 / 2 / 3)
    assert (t.repeats, t.warmup, t.stopped_by, t.clock) == (5, 2, "max_repeats", "scripted")
    assert t.timed_s == 15.0 and len(runs) == 2 + 5 and clock.calls == [1] * 5


def test_a_scripted_clock_stops_on_the_ci_rule_with_order_statistics():
    # 1 … 100 shuffled deterministically: the median is 50.5; n = 100, h = 9.8, so the CI
    # runs from rank 39 to rank 60 of the sorted samples: [40, 61]
    samples = [float((i * 37) % 100 + 1) for i in range(100)]
    t = measure(lambda: None, warmup=0, min_repeats=100, max_repeats=100, budget_s=1e9,
                target_rel_ci=0.25, clock=ScriptedClock(samples))
    assert (t.median_s, t.median_lo_s, t.median_hi_s) == (50.5, 40.0, 61.0)
    assert t.rel_ci == pytest.approx(21 / 2 / 50.5) and t.stopped_by == "ci"
    constant = measure(lambda: None, warmup=0, min_repeats=4, max_repeats=50, budget_s=1e9,
                       target_rel_ci=0.01, clock=ScriptedClock([2.0] * 50))
    assert (constant.repeats, constant.stopped_by, constant.median_s) == (4, "ci", 2.0)


def test_a_clock_with_a_minimum_sample_batches_calls():
    """One timed call picks the calls per sample (ceil(min_sample_s / once)); samples are
    per call and timed_s counts every call."""
    clock = ScriptedClock([0.01] + [0.02, 0.01, 0.03], min_sample_s=1.0)
    t = measure(lambda: None, warmup=0, min_repeats=3, max_repeats=3, budget_s=1e9,
                target_rel_ci=1e-9, clock=clock)
    assert clock.calls == [1, 100, 100, 100] and t.calls_per_repeat == 100
    assert t.median_s == 0.02 and t.timed_s == pytest.approx(6.0)
    assert "calls_per_repeat" not in t.as_row() and "clock" not in t.as_row()
