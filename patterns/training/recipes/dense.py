"""``dense``: plain training from scratch, no mask; the accuracy reference."""

from __future__ import annotations

from typing import Any

from patterns.training.recipe import Recipe, register_recipe


@register_recipe("dense")
class Dense(Recipe):
    summary = "train the dense model from scratch (pattern dense)"

    def check_pattern(self, pattern: Any) -> None:
        if pattern.prunes:
            raise ValueError(
                f"recipe dense trains without a mask, but pattern {pattern.name} prunes; "
                "use --pattern dense, or a pruning recipe (oneshot, gmp, or the pattern's own)"
            )
