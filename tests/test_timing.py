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
