"""Recipe registry and GMP's path through discrete and continuous levels."""

from __future__ import annotations

import pytest

import patterns
from patterns.training import available_recipes, make_recipe
from patterns.training.recipes.gmp import level_at


def test_all_recipes_are_registered():
    assert {"dense", "oneshot", "gmp", "srste", "subp", "cs"} <= set(available_recipes())


def test_unknown_recipe_parameter_is_refused():
    with pytest.raises(ValueError, match="has no parameter 'lamda'"):
        make_recipe("srste", patterns.make("nm", n=2, m=4), lamda=1e-4)


def test_gmp_steps_through_nm_levels():
    target = patterns.make("nm", n=1, m=4)
    assert level_at(target, 0.1) is None
    assert level_at(target, 0.3).describe() == patterns.make("nm", n=3, m=4).describe()
    assert level_at(target, 0.6).describe() == patterns.make("nm", n=2, m=4).describe()
    assert level_at(target, 0.75) == target


def test_gmp_steps_through_cs_levels():
    target = patterns.make("cs", k=8)
    assert level_at(target, 0.4) is None
    assert level_at(target, 0.5).params["k"] == 2
    assert level_at(target, 0.8).params["k"] == 4
    assert level_at(target, 0.875) == target


def test_gmp_rebuilds_continuous_patterns_at_the_scheduled_sparsity():
    target = patterns.make("block", n=4, sparsity=0.75, criterion="l2")
    level = level_at(target, 0.3)
    assert level.params == {**target.params, "sparsity": 0.3}
    assert level_at(patterns.make("filter", sparsity=0.5), 0.5) == patterns.make(
        "filter", sparsity=0.5
    )
