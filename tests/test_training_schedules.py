"""Schedules: warmup + cosine LR, SUBP's cubic ramp, GMP's cubic, CS's k levels, regrow counts."""

from __future__ import annotations

import math

import pytest

import patterns
from patterns.training.recipes.cs import CSTraining
from patterns.training.schedules import (
    cs_k_at,
    cs_k_levels,
    cubic_ramp,
    gmp_sparsity,
    subp_regrow_count,
    warmup_cosine_lr,
)


def test_warmup_is_linear_then_cosine_decays_to_zero():
    lrs = [warmup_cosine_lr(s, 100, 0.1, 10) for s in range(100)]
    assert lrs[:10] == pytest.approx([0.01 * (i + 1) for i in range(10)])
    assert lrs[10] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[55] == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.5)))
    assert warmup_cosine_lr(100, 100, 0.1, 10) == pytest.approx(0.0)


def test_cubic_ramp_is_subp_r():
    assert cubic_ramp(0, 2, 6) == 0.0
    assert cubic_ramp(2, 2, 6) == 0.0
    assert cubic_ramp(4, 2, 6) == pytest.approx(0.125)
    assert cubic_ramp(5, 2, 6) == pytest.approx(0.75**3)
    assert cubic_ramp(6, 2, 6) == 1.0
    assert cubic_ramp(9, 2, 6) == 1.0
    assert cubic_ramp(3, 3, 3) == 1.0  # empty ramp: the target at once


def test_gmp_sparsity_is_zhu_gupta_cubic():
    assert gmp_sparsity(0, 0.75, 10, 110) == 0.0
    assert gmp_sparsity(10, 0.75, 10, 110) == 0.0
    assert gmp_sparsity(60, 0.75, 10, 110) == pytest.approx(0.75 * (1 - 0.125))
    assert gmp_sparsity(110, 0.75, 10, 110) == pytest.approx(0.75)
    assert gmp_sparsity(500, 0.75, 10, 110) == pytest.approx(0.75)
    values = [gmp_sparsity(t, 0.9, 0, 50) for t in range(51)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize(
    ("k", "levels"),
    [(2, [2]), (3, [3]), (4, [2, 4]), (6, [2, 6]), (8, [2, 4, 8]), (16, [2, 4, 8, 16])],
)
def test_cs_k_levels(k, levels):
    assert cs_k_levels(k) == levels


def test_cs_k_levels_refuses_k_below_2():
    with pytest.raises(ValueError, match="k must be >= 2"):
        cs_k_levels(1)


def test_cs_k_schedule_goes_2_4_8_in_equal_stages():
    assert [cs_k_at(e, 8, 0, 6) for e in range(9)] == [2, 2, 4, 4, 8, 8, 8, 8, 8]
    assert [cs_k_at(e, 4, 2, 4) for e in range(6)] == [2, 2, 2, 4, 4, 4]


def test_cs_recipe_raises_k_and_ends_at_target():
    recipe = CSTraining(patterns.make("cs", k=8))
    recipe.e0, recipe.e1 = 0.0, 5.0  # what setup derives for 10 epochs, ramp_end=0.5
    ks = [recipe.k_at(e) for e in range(10)]
    assert ks == [2, 2, 4, 4, 8, 8, 8, 8, 8, 8]


@pytest.mark.parametrize(
    ("r", "expected"), [(0.0, 48), (0.125, 42), (0.3, 33), (0.5, 24), (1.0, 0)]
)
def test_subp_regrow_count(r, expected):
    assert subp_regrow_count(0.75, r, 64) == expected
