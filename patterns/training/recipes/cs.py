"""``cs``: this project's complementary-sparsity (CS) training method.

Not the CS paper's method (its exact procedure is not available); docs/RECIPES.md §cs defines
this one: keep dense weights, recompute the CS mask from ``|W|`` on every step, raise the
group size ``k`` from 2 to its target on a schedule (``schedules.cs_k_at``: the levels of
``cs_k_levels`` in equal stages over epochs ``[ramp_start, ramp_end) * epochs``), and apply
the SR-STE decay to the pruned weights. The last epochs always train at the target ``k``.
"""

from __future__ import annotations

from typing import Any

import patterns
from patterns.training.recipe import (
    DynamicMaskRecipe,
    RecipeContext,
    register_recipe,
    require_pattern,
)
from patterns.training.schedules import cs_k_at, epoch_window
from patterns.training.ste import DEFAULT_DECAY


@register_recipe("cs")
class CSTraining(DynamicMaskRecipe):
    summary = "this project's CS method: k raised 2 -> target, mask every step, SR-STE decay"
    defaults = {"decay": DEFAULT_DECAY, "ramp_start": 0.0, "ramp_end": 0.5}

    def check_pattern(self, pattern: Any) -> None:
        require_pattern(
            "cs", pattern, ("cs",),
            "it trains complementary sparsity (--pattern cs); use gmp or oneshot otherwise",
        )

    def setup(self, ctx: RecipeContext) -> None:
        super().setup(ctx)
        self.e0, self.e1 = epoch_window(
            self.params["ramp_start"], self.params["ramp_end"], ctx.epochs
        )

    def k_at(self, epoch: int) -> int:
        """Group size trained at ``epoch``."""
        return cs_k_at(epoch, self.pattern.params["k"], self.e0, self.e1)

    def on_epoch_start(self, epoch: int) -> None:
        k = self.k_at(epoch)
        self.level = patterns.make("cs", **{**self.pattern.params, "k": k})
