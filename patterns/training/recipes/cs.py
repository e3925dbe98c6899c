"""``cs``: this project's complementary-sparsity (CS) training method.

Not the CS paper's method (its exact procedure is not available); PATTERNS.md defines
this one: keep dense weights, recompute the CS mask from ``|W|`` on every step, raise the
group size ``k`` from 2 to its target on a schedule (``schedules.cs_k_at``: the levels of
``cs_k_levels`` in equal stages over epochs ``[ramp_start, ramp_end) * epochs``), and apply
the SR-STE decay to the pruned weights. The last epochs always train at the target ``k``.
"""

from __future__ import annotations

from typing import Any

import torch

import patterns
from patterns.training.recipe import (
    MaskedRecipe,
    RecipeContext,
    register_recipe,
    require_pattern,
)
from patterns.training.schedules import cs_k_at
from patterns.training.ste import DEFAULT_DECAY


@register_recipe("cs")
class CSTraining(MaskedRecipe):
    summary = "this project's CS method: k raised 2 -> target, mask every step, SR-STE decay"
    defaults = {"decay": DEFAULT_DECAY, "ramp_start": 0.0, "ramp_end": 0.5}

    def check_pattern(self, pattern: Any) -> None:
        require_pattern(
            "cs", pattern, ("cs",),
            "it trains complementary sparsity (--pattern cs); use gmp or oneshot otherwise",
        )

    @property
    def decay(self) -> float:  # type: ignore[override]
        return float(self.params["decay"])

    def setup(self, ctx: RecipeContext) -> None:
        super().setup(ctx)
        last = max(0, ctx.epochs - 1)
        self.e0 = min(self.params["ramp_start"] * ctx.epochs, last)
        self.e1 = min(self.params["ramp_end"] * ctx.epochs, last)
        self.level = self.pattern

    def k_at(self, epoch: int) -> int:
        """Group size trained at ``epoch``."""
        return cs_k_at(epoch, self.pattern.params["k"], self.e0, self.e1)

    def on_epoch_start(self, epoch: int) -> None:
        k = self.k_at(epoch)
        self.level = patterns.make("cs", **{**self.pattern.params, "k": k})

    def current_mask(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        mask = self.level.mask(weight.detach())
        self.masks[name] = mask
        return mask

    def final_masks(self) -> dict[str, torch.Tensor]:
        return {name: self.pattern.mask(self.dense_weight(name).detach()) for name in self.masks}
