"""``gmp``: gradual magnitude pruning (Zhu & Gupta 2017) for every pattern.

The target sparsity follows the cubic ``schedules.gmp_sparsity`` from 0 at step
``start * total`` to the pattern's sparsity at step ``end * total``; the mask is recomputed
from ``|W|`` ``updates_per_epoch`` times per epoch inside that window and held fixed between
updates. Forward ``W * M`` and pruned weights are zeroed after every step, so a pruned weight
stays pruned unless all its competitors shrink below zero magnitude.

How a target sparsity ``s`` becomes a mask (``level_at``):
- a pattern with a ``sparsity`` parameter (unstructured, block, filter) is rebuilt at ``s``;
- discrete patterns step through their reachable levels (``LADDERS``): nm keeps ``m`` and
  lowers ``n`` (1:4 target: 3:4 -> 2:4 -> 1:4), cs raises ``k`` through
  ``schedules.cs_k_levels`` (k=4 target: 2 -> 4); the level used is the sparsest one not
  above ``s`` (dense below the first level);
- any other pattern jumps to its target when ``s`` reaches it.
The final mask is always the target pattern's own mask, so it validates.
Optionally starts from a trained dense checkpoint (``init=PATH``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

import patterns
from patterns.training.recipe import MaskedRecipe, RecipeContext, register_recipe
from patterns.training.recipes.oneshot import load_dense_init
from patterns.training.schedules import cs_k_levels, gmp_sparsity
from sparsebench.registry import Registry

LADDERS: Registry[str, Callable[[Any], list[Any]]] = Registry("ladder")


def ladder(name: str) -> Callable[[Callable[[Any], list[Any]]], Callable[[Any], list[Any]]]:
    """Register the reachable intermediate levels (sparsest last) of a discrete pattern."""
    return LADDERS.register(name)


@ladder("nm")
def _nm_levels(pattern: Any) -> list[Any]:
    n, m = pattern.params["n"], pattern.params["m"]
    return [patterns.make("nm", **{**pattern.params, "n": k}) for k in range(m - 1, n - 1, -1)]


@ladder("cs")
def _cs_levels(pattern: Any) -> list[Any]:
    return [
        patterns.make("cs", **{**pattern.params, "k": k})
        for k in cs_k_levels(pattern.params["k"])
    ]


def level_at(pattern: Any, sparsity: float) -> Any | None:
    """The pattern gmp masks with at target ``sparsity``; None means no pruning yet."""
    target = 1.0 - pattern.nominal_density
    if sparsity >= target - 1e-9:
        return pattern
    if sparsity <= 0.0:
        return None
    if "sparsity" in pattern.params:
        return patterns.make(pattern.name, **{**pattern.params, "sparsity": sparsity})
    levels = LADDERS.get(pattern.name, lambda p: [p])(pattern)
    reachable = [lv for lv in levels if 1.0 - lv.nominal_density <= sparsity + 1e-9]
    return reachable[-1] if reachable else None


@register_recipe("gmp")
class GMP(MaskedRecipe):
    summary = "gradual magnitude pruning with a cubic schedule (any pattern; init=PATH optional)"
    defaults = {"init": None, "start": 0.0, "end": 0.5, "updates_per_epoch": 4}
    dense_parent = True  # init=PATH is optional; a sweep starts it from its dense parent

    def default_lr(self) -> float:
        return 0.01 if self.params["init"] else 0.1

    def prepare(self, model: nn.Module, *, model_name: str, dataset: str) -> None:
        self.init_weights_hash = None
        if self.params["init"]:
            ckpt = load_dense_init(self.name, self.params["init"], model, model_name, dataset)
            self.init_weights_hash = ckpt.weights_hash

    def setup(self, ctx: RecipeContext) -> None:
        super().setup(ctx)
        last = max(0, ctx.total_steps - 1)
        self.t0 = min(round(self.params["start"] * ctx.total_steps), last)
        self.t1 = min(round(self.params["end"] * ctx.total_steps), last)
        self.interval = max(1, ctx.steps_per_epoch // max(1, int(self.params["updates_per_epoch"])))

    def is_update(self, step: int) -> bool:
        """Steps at which the mask is recomputed: every ``interval`` in [t0, t1], and t1."""
        return self.t0 <= step <= self.t1 and ((step - self.t0) % self.interval == 0
                                               or step == self.t1)

    def on_step_start(self, step: int) -> None:
        if not self.is_update(step):
            return
        level = level_at(self.pattern, gmp_sparsity(step, self.sparsity, self.t0, self.t1))
        if level is None:
            return
        weights = {name: self.dense_weight(name).detach() for name in self.masks}
        self.masks = level.mask_many(weights)
        self.zero_pruned()

    @property
    def sparsity(self) -> float:
        return 1.0 - self.pattern.nominal_density

    def after_step(self) -> None:
        self.zero_pruned()

    def describe_params(self) -> dict[str, Any]:
        return {**self.params, "init_weights_hash": self.init_weights_hash}

